using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using Headstart.IO;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Headstart.Studio.Jobs;

/// <summary>
/// One job at a time per server, the others queued in order. Every job is kept (in memory, and its summary in
/// OUTPUT/jobs/ID.json) so the history lists it with its bundle after a restart. A job that fails or is cancelled
/// leaves no output behind (bundles are written atomically), and never takes the server down.
/// </summary>
public sealed class JobQueue(StudioOptions options, JobRunner runner, ILogger<JobQueue> log) : BackgroundService
{
    private readonly Channel<Job> queue = Channel.CreateUnbounded<Job>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<string, Job> jobs = new(StringComparer.Ordinal);
    private string JobsDir => Path.Combine(options.OutputRoot, "jobs");

    public IReadOnlyList<Job> All => [.. jobs.Values.OrderByDescending(j => j.Created)];

    public Job? Find(string id) => jobs.GetValueOrDefault(id);

    public Job Enqueue(JobRequest request)
    {
        runner.Validate(request);   // a bad request fails now, as a 400, not later as a failed job
        var job = new Job { Id = $"{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..6]}", Request = request };
        jobs[job.Id] = job;
        Save(job);
        job.Publish("state", new { state = job.State, position = jobs.Values.Count(j => j.State == JobState.Queued) });
        queue.Writer.TryWrite(job);
        return job;
    }

    /// <summary>Cancels a queued job at once, a running one at its next batch. False when it already ended.</summary>
    public bool Cancel(Job job)
    {
        if (job.IsDone) return false;
        job.Cancellation.Cancel();
        return true;
    }

    public override Task StartAsync(CancellationToken ct)
    {
        LoadHistory();
        return base.StartAsync(ct);
    }

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        await foreach (var job in queue.Reader.ReadAllAsync(stopping))
        {
            if (job.Cancellation.IsCancellationRequested) { job.SetState(JobState.Cancelled); Save(job); continue; }
            job.SetState(JobState.Running);
            Save(job);
            using var both = CancellationTokenSource.CreateLinkedTokenSource(job.Cancellation.Token, stopping);
            try
            {
                // Training is CPU-bound and synchronous: its own thread, so the server keeps answering.
                await Task.Factory.StartNew(() => runner.Run(job, both.Token), both.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                job.SetState(JobState.Succeeded);
            }
            catch (OperationCanceledException)
            {
                job.SetState(JobState.Cancelled);
            }
            catch (Exception ex) when (ex is HeadstartException or IOException or UnauthorizedAccessException)
            {
                job.SetState(JobState.Failed, ex.Message);
            }
            catch (Exception ex)
            {
                // A bug in Headstart: the job fails with a short message, the server lives on, the trace goes to the log.
                log.LogError(ex, "job {Id} failed", job.Id);
                job.SetState(JobState.Failed, $"internal error, a bug in Headstart: {ex.GetType().Name}: {ex.Message}");
            }
            Save(job);
        }
    }

    private void Save(Job job)
    {
        try { AtomicFiles.WriteAllText(Path.Combine(JobsDir, job.Id + ".json"), JsonSerializer.Serialize(job.Summary(), StudioJson.Options)); }
        catch (IOException ex) { log.LogWarning(ex, "could not save job {Id}", job.Id); }
    }

    /// <summary>Jobs of earlier runs of the server; one that was running or queued when it stopped is marked failed.</summary>
    private void LoadHistory()
    {
        if (!Directory.Exists(JobsDir)) return;
        foreach (var file in Directory.EnumerateFiles(JobsDir, "*.json"))
        {
            try
            {
                var saved = JsonSerializer.Deserialize<SavedJob>(File.ReadAllText(file), StudioJson.Options);
                if (saved?.Id is null || saved.Request is null) continue;
                var job = new Job { Id = saved.Id, Request = saved.Request, Created = saved.Created };
                job.Output = runner.OutputOf(job) is { } o && (Directory.Exists(o) || File.Exists(o)) ? o : null;
                job.Result = saved.Result;
                if (saved.Epochs is not null) job.Epochs.AddRange(saved.Epochs.Select(e => e.DeepClone()));
                job.SetState(saved.State is JobState.Queued or JobState.Running ? JobState.Failed : saved.State,
                    saved.State is JobState.Queued or JobState.Running ? "the server stopped before this job finished" : saved.Error);
                jobs[job.Id] = job;
            }
            catch (JsonException ex) { log.LogWarning(ex, "unreadable job file {File}", file); }
        }
    }

    private sealed record SavedJob(string? Id, JobRequest? Request, JobState State, DateTimeOffset Created, string? Error,
        System.Text.Json.Nodes.JsonObject? Result, List<System.Text.Json.Nodes.JsonNode>? Epochs);
}
