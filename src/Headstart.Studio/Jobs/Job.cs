using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Threading.Channels;

namespace Headstart.Studio.Jobs;

public enum JobState { Queued, Running, Succeeded, Failed, Cancelled }

/// <summary>What a client asks to run: a training run or a transfer-vs-scratch comparison on one dataset.</summary>
public sealed record JobRequest
{
    /// <summary>"train", "compare" or "audit" (the label cleaner's out-of-fold ranking).</summary>
    public string Kind { get; init; } = "train";
    public required string Dataset { get; init; }
    public string? Model { get; init; }
    /// <summary>"frozen", "fine-tune" or "full".</summary>
    public string? Strategy { get; init; }
    public int? Epochs { get; init; }
    /// <summary>The frozen head's fit: "auto" (null; the planner's choice), "lbfgs" or "sgd" (by <see cref="Epochs"/>).</summary>
    public string? HeadFit { get; init; }
    /// <summary>"none", "flip", "light" or "standard".</summary>
    public string? Augment { get; init; }
    public int? AugmentViews { get; init; }
    public bool Tta { get; init; }
    public int? Seed { get; init; }
    public double? ValSplit { get; init; }
    /// <summary>compare: labelled images per class of the data-efficiency curve, and seeds per point.</summary>
    public IReadOnlyList<int>? Shots { get; init; }
    public int? Seeds { get; init; }
    /// <summary>compare: recipes to leave out ("fine-tune", "scratch", "small-cnn").</summary>
    public IReadOnlyList<string>? Skip { get; init; }
}

/// <summary>One event of a job, as its event stream sends it (SSE: "event: Type", "data: Data as JSON").</summary>
public sealed record JobEvent(long Id, string Type, JsonNode Data);

/// <summary>
/// A queued, running or finished job: its request, its state, its events (kept, so a page that reconnects replays
/// them), and the subscribers of its live event stream.
/// </summary>
public sealed class Job
{
    private readonly Lock gate = new();
    private readonly List<JobEvent> events = [];
    private readonly List<Channel<JobEvent>> subscribers = [];

    public required string Id { get; init; }
    public required JobRequest Request { get; init; }
    public DateTimeOffset Created { get; init; } = DateTimeOffset.UtcNow;
    public JobState State { get; private set; } = JobState.Queued;
    public DateTimeOffset? Started { get; private set; }
    public DateTimeOffset? Finished { get; private set; }
    public string? Error { get; private set; }
    /// <summary>The bundle (train) or comparison page (compare) this job wrote, once it succeeded.</summary>
    public string? Output { get; set; }
    /// <summary>The job's result summary (metrics, classes...), once it succeeded.</summary>
    public JsonObject? Result { get; set; }
    /// <summary>Per-epoch records (train), for the curves of a finished job.</summary>
    public List<JsonNode> Epochs { get; } = [];
    [JsonIgnore] public CancellationTokenSource Cancellation { get; } = new();

    public bool IsDone => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;

    public void Publish(string type, object data)
    {
        var node = JsonSerializer.SerializeToNode(data, StudioJson.Options) ?? new JsonObject();
        lock (gate)
        {
            var e = new JobEvent(events.Count + 1, type, node);
            if (type == "epoch") Epochs.Add(node.DeepClone());
            // Progress ticks are many and only the latest matters: a replay keeps the last one of each phase.
            if (type == "progress" && events.Count > 0 && events[^1].Type == "progress") events[^1] = e with { Id = events[^1].Id };
            else events.Add(e);
            foreach (var s in subscribers) s.Writer.TryWrite(e);
        }
    }

    public void SetState(JobState state, string? error = null)
    {
        lock (gate)
        {
            State = state;
            if (state == JobState.Running) Started = DateTimeOffset.UtcNow;
            if (state is JobState.Succeeded or JobState.Failed or JobState.Cancelled) Finished = DateTimeOffset.UtcNow;
            Error = error;
        }
        Publish("state", new { state, error, output = Output is null ? null : "ready", result = Result });
        if (IsDone)
            lock (gate)
            {
                foreach (var s in subscribers) s.Writer.TryComplete();
                subscribers.Clear();
            }
    }

    /// <summary>The events so far and, unless the job has finished, a reader of the ones to come.</summary>
    public (IReadOnlyList<JobEvent> Past, ChannelReader<JobEvent>? Live) Subscribe()
    {
        lock (gate)
        {
            if (IsDone) return ([.. events], null);
            var channel = Channel.CreateUnbounded<JobEvent>(new UnboundedChannelOptions { SingleReader = true });
            subscribers.Add(channel);
            return ([.. events], channel.Reader);
        }
    }

    public void Unsubscribe(ChannelReader<JobEvent> reader)
    {
        lock (gate) subscribers.RemoveAll(c => c.Reader == reader);
    }

    /// <summary>The job as the API and the history file show it.</summary>
    public object Summary() => new
    {
        id = Id, kind = Request.Kind, dataset = Request.Dataset, request = Request, state = State, created = Created, started = Started,
        finished = Finished, error = Error, has_output = Output is not null, result = Result, epochs = Epochs,
    };
}

/// <summary>The API's JSON: snake_case, enums as strings, no nulls.</summary>
public static class StudioJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };
}
