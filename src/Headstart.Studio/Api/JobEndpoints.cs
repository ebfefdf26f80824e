using System.Collections.Concurrent;
using System.IO.Compression;
using System.Text.Json;
using Headstart.Inference;
using Headstart.Studio.Jobs;
using Headstart.Studio.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Headstart.Studio.Api;

/// <summary>The Train, Results, Try-it and Jobs pages' API: jobs and their live events, reports, downloads, predictions.</summary>
public static class JobEndpoints
{
    /// <summary>A report page inside the app's frame: its own inline styles and data-URI images, no script at all.</summary>
    private const string ReportPolicy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox";

    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapGet("/api/jobs", (JobQueue queue) => Results.Json(queue.All.Select(j => j.Summary()), StudioJson.Options));

        api.MapPost("/api/jobs", (JobRequest request, JobQueue queue) =>
        {
            var job = queue.Enqueue(request);
            return Results.Json(job.Summary(), StudioJson.Options, statusCode: 202);
        });

        api.MapPost("/api/plan", (JobRequest request, JobRunner runner) =>
        {
            var plan = runner.Plan(request);
            return Results.Json(new { plan, lines = plan.Describe() }, StudioJson.Options);
        });

        api.MapGet("/api/jobs/{id}", (string id, JobQueue queue) => Results.Json(Find(queue, id).Summary(), StudioJson.Options));

        api.MapPost("/api/jobs/{id}/cancel", (string id, JobQueue queue) =>
        {
            var job = Find(queue, id);
            return queue.Cancel(job)
                ? Results.Json(new { id, cancelling = true }, StudioJson.Options, statusCode: 202)
                : Results.Json(new { error = $"job {id} already ended ({job.State.ToString().ToLowerInvariant()})" }, statusCode: 409);
        });

        // Server-Sent Events: every event so far (a page that reconnects catches up), then live ones until the job ends.
        api.MapGet("/api/jobs/{id}/events", async (string id, JobQueue queue, HttpContext ctx) =>
        {
            var job = Find(queue, id);
            ctx.Response.Headers.ContentType = "text/event-stream";
            ctx.Response.Headers.CacheControl = "no-cache";
            var (past, live) = job.Subscribe();
            long after = long.TryParse(ctx.Request.Headers["Last-Event-ID"], out long last) ? last : 0;
            try
            {
                foreach (var e in past.Where(e => e.Id > after)) await Send(ctx, e);
                if (live is not null)
                    await foreach (var e in live.ReadAllAsync(ctx.RequestAborted))
                        await Send(ctx, e);
                await ctx.Response.WriteAsync("event: end\ndata: {}\n\n", ctx.RequestAborted);
            }
            catch (OperationCanceledException) { /* the page went away */ }
            finally
            {
                if (live is not null) job.Unsubscribe(live);
            }
        });

        api.MapGet("/api/jobs/{id}/report", (string id, JobQueue queue, JobRunner runner, HttpContext ctx) =>
        {
            var job = Find(queue, id);
            string file = job.Request.Kind == "compare" ? job.Output ?? "" : Path.Combine(job.Output ?? "", Headstart.Reporting.TrainingReport.FileName);
            if (job.Output is null || !File.Exists(file)) return Results.Json(new { error = $"job {id} has no report (state {job.State.ToString().ToLowerInvariant()})" }, statusCode: 404);
            ctx.Response.Headers.ContentSecurityPolicy = ReportPolicy;
            return Results.File(file, "text/html; charset=utf-8");
        });

        api.MapGet("/api/jobs/{id}/bundle.zip", (string id, JobQueue queue) =>
        {
            var job = Find(queue, id);
            if (job.Request.Kind != "train" || job.Output is null || !Directory.Exists(job.Output))
                return Results.Json(new { error = $"job {id} has no bundle" }, statusCode: 404);
            // Zipped into a temporary file first (ZipArchive writes synchronously), streamed, then deleted.
            var tmp = new FileStream(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose);
            using (var zip = new ZipArchive(tmp, ZipArchiveMode.Create, leaveOpen: true))
                foreach (var f in Directory.EnumerateFiles(job.Output, "*", SearchOption.AllDirectories))
                    zip.CreateEntryFromFile(f, Path.Combine(id, Path.GetRelativePath(job.Output, f)).Replace('\\', '/'), CompressionLevel.Fastest);
            tmp.Position = 0;
            return Results.File(tmp, "application/zip", $"headstart-{id}.zip");
        });

        api.MapGet("/api/jobs/{id}/model.onnx", (string id, JobQueue queue, StudioOptions options) =>
        {
            var job = Find(queue, id);
            if (job.Request.Kind != "train" || job.Output is null || !Directory.Exists(job.Output))
                return Results.Json(new { error = $"job {id} has no bundle" }, statusCode: 404);
            string path = Path.Combine(options.OutputRoot, "exports", id + ".onnx");
            if (!File.Exists(path))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                var check = VerifiedExport.Write(job.Output, path);
                if (!check.Passed) return Results.Json(new { error = $"the export failed its verification (max difference {check.Check.MaxAbsProbabilityDifference:E2})" }, statusCode: 500);
            }
            return Results.File(path, "application/octet-stream", $"headstart-{id}.onnx");
        });

        api.MapPost("/api/jobs/{id}/predict", async (string id, HttpRequest request, JobQueue queue, StudioOptions options, ClassifierCache classifiers) =>
        {
            var job = Find(queue, id);
            if (job.Request.Kind != "train" || job.Output is null) return Results.Json(new { error = $"job {id} has no bundle to predict with" }, statusCode: 404);
            if (!request.HasFormContentType) return Results.Json(new { error = "send images as multipart/form-data" }, statusCode: 400);
            var form = await request.ReadFormAsync();
            if (form.Files.Count == 0) return Results.Json(new { error = "no image in the request" }, statusCode: 400);
            if (form.Files.Count > options.MaxPredictFiles) return Results.Json(new { error = $"at most {options.MaxPredictFiles} images at once" }, statusCode: 413);
            var classifier = classifiers.Get(job.Output);
            var answers = new List<object>();
            foreach (var f in form.Files)
            {
                using var ms = new MemoryStream();
                await f.CopyToAsync(ms);
                try
                {
                    var p = classifier.Predict(ms.ToArray(), top: 5);
                    answers.Add(new { file = f.FileName, label = p.Label, probability = p.Probability, top = p.Top.Select(t => new { label = t.Label, probability = t.Probability }) });
                }
                catch (Headstart.Data.ImageDecodeException ex)
                {
                    answers.Add(new { file = f.FileName, error = $"cannot decode: {ex.Reason}" });
                }
            }
            return Results.Json(answers, StudioJson.Options);
        }).DisableAntiforgery();
    }

    private static Job Find(JobQueue queue, string id) =>
        queue.Find(SafePaths.Name(id, "job")) ?? throw new NotFoundException($"no job '{id}'");

    private static async Task Send(HttpContext ctx, JobEvent e)
    {
        await ctx.Response.WriteAsync($"id: {e.Id}\nevent: {e.Type}\ndata: {e.Data.ToJsonString(StudioJson.Options)}\n\n", ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }
}

/// <summary>A request for something that does not exist: 404 with the message.</summary>
public sealed class NotFoundException(string message) : Exception(message);

/// <summary>One loaded classifier per bundle, reused across requests (Classifier is thread-safe).</summary>
public sealed class ClassifierCache : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Classifier>> loaded = new(StringComparer.Ordinal);

    public Classifier Get(string bundle) => loaded.GetOrAdd(bundle, b => new Lazy<Classifier>(() => Classifier.Load(b))).Value;

    public void Dispose()
    {
        foreach (var c in loaded.Values.Where(l => l.IsValueCreated)) c.Value.Dispose();
    }
}
