using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Studio;

/// <summary>
/// The Studio's API end to end in memory: datasets and their check, thumbnails, the plan, a training job with its live
/// events, report, bundle and predictions; a queued and a running job cancelled without a half bundle; a failing job
/// that leaves the server up.
/// </summary>
[Collection(CliCollection.Name)]
public sealed class StudioApiTests : IDisposable
{
    private readonly StudioFactory factory = new();
    private readonly HttpClient client;

    public StudioApiTests() => client = factory.CreateClient();

    private async Task<JsonElement> Json(HttpResponseMessage r, HttpStatusCode expected = HttpStatusCode.OK)
    {
        string body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == expected, $"{(int)r.StatusCode} {r.RequestMessage?.RequestUri}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private async Task<JsonElement> WaitFor(string id, params string[] states)
    {
        for (int i = 0; i < 1200; i++)
        {
            var job = await Json(await client.GetAsync($"/api/jobs/{id}"));
            if (states.Contains(job.GetProperty("state").GetString())) return job;
            await Task.Delay(100);
        }
        throw new TimeoutException($"job {id} never reached {string.Join("/", states)}");
    }

    [Fact]
    public async Task DatasetsTheirCheckAndThumbnails()
    {
        var list = await Json(await client.GetAsync("/api/datasets"));
        var shapes = Assert.Single(list.EnumerateArray());
        Assert.Equal("shapes", shapes.GetProperty("name").GetString());
        Assert.Equal("folders", shapes.GetProperty("layout").GetString());
        Assert.Equal([8, 8], shapes.GetProperty("classes").EnumerateArray().Select(c => c.GetProperty("train").GetInt32()));

        var check = await Json(await client.GetAsync("/api/datasets/shapes/check"));
        Assert.Equal(24, check.GetProperty("images").GetInt32());

        var images = await Json(await client.GetAsync("/api/datasets/shapes/images?class=circle&max=5"));
        var first = images.EnumerateArray().First().GetString()!;
        Assert.StartsWith("train/circle/", first);
        var thumb = await client.GetAsync($"/api/datasets/shapes/thumbnail?path={Uri.EscapeDataString(first)}");
        Assert.Equal(HttpStatusCode.OK, thumb.StatusCode);
        Assert.Equal("image/jpeg", thumb.Content.Headers.ContentType?.MediaType);

        var models = await Json(await client.GetAsync("/api/models"));
        Assert.Equal("resnet18-cntk", models.GetProperty("default").GetString());
    }

    [Fact]
    public async Task ATrainingJobStreamsItsEpochsAndLeavesABundleThatPredicts()
    {
        // Left to the planner the frozen head is the L-BFGS fit, which has no epochs; the SGD head streams them.
        var convex = await Json(await client.PostAsJsonAsync("/api/plan", new { dataset = "shapes", epochs = 4 }));
        Assert.Contains(convex.GetProperty("lines").EnumerateArray(), l => l.GetString()!.Contains("by L-BFGS", StringComparison.Ordinal));
        var plan = await Json(await client.PostAsJsonAsync("/api/plan", new { dataset = "shapes", epochs = 4, head_fit = "sgd" }));
        Assert.Contains(plan.GetProperty("lines").EnumerateArray(), l => l.GetString()!.Contains("4 epoch(s) on cached features", StringComparison.Ordinal));
        var unknown = await client.PostAsJsonAsync("/api/plan", new { dataset = "shapes", head_fit = "newton" });
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Contains("unknown head fit 'newton'", await unknown.Content.ReadAsStringAsync());

        var created = await Json(await client.PostAsJsonAsync("/api/jobs", new { dataset = "shapes", epochs = 4, head_fit = "sgd" }), HttpStatusCode.Accepted);
        string id = created.GetProperty("id").GetString()!;
        var done = await WaitFor(id, "succeeded", "failed");
        Assert.True(done.GetProperty("state").GetString() == "succeeded", done.ToString());
        Assert.Equal(4, done.GetProperty("epochs").GetArrayLength());
        Assert.True(done.GetProperty("result").GetProperty("val_accuracy").GetDouble() >= 0.75);

        // The event stream of a finished job replays everything, then ends.
        string events = await client.GetStringAsync($"/api/jobs/{id}/events");
        Assert.Equal(4, events.Split('\n').Count(l => l == "event: epoch"));
        Assert.Contains("event: stage", events);
        Assert.Contains("\"state\":\"succeeded\"", events);
        Assert.EndsWith("event: end\ndata: {}\n\n", events);
        // Reconnecting after event 3 replays only what came after it.
        var resume = new HttpRequestMessage(HttpMethod.Get, $"/api/jobs/{id}/events");
        resume.Headers.Add("Last-Event-ID", "3");
        string rest = await (await client.SendAsync(resume)).Content.ReadAsStringAsync();
        Assert.DoesNotContain("id: 3\n", rest);
        Assert.Contains("id: 4\n", rest);

        var report = await client.GetAsync($"/api/jobs/{id}/report");
        Assert.Equal(HttpStatusCode.OK, report.StatusCode);
        Assert.Contains("sandbox", report.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Contains("confusion", (await report.Content.ReadAsStringAsync()).ToLowerInvariant());

        using var zip = new ZipArchive(await client.GetStreamAsync($"/api/jobs/{id}/bundle.zip"));
        Assert.Contains(zip.Entries, e => e.FullName == $"{id}/model.json");

        using var form = new MultipartFormDataContent();
        string image = Directory.GetFiles(Path.Combine(factory.DataRoot, "shapes", "val", "square"))[0];
        var file = new ByteArrayContent(await File.ReadAllBytesAsync(image));
        file.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
        form.Add(file, "files", "square.jpg");
        form.Add(new ByteArrayContent("not an image"u8.ToArray()), "files", "broken.jpg");
        var answers = (await Json(await client.PostAsync($"/api/jobs/{id}/predict", form))).EnumerateArray().ToList();
        Assert.Equal("square", answers[0].GetProperty("label").GetString());
        Assert.Equal(2, answers[0].GetProperty("top").GetArrayLength());
        Assert.StartsWith("cannot decode", answers[1].GetProperty("error").GetString());

        var history = await Json(await client.GetAsync("/api/jobs"));
        Assert.Contains(history.EnumerateArray(), j => j.GetProperty("id").GetString() == id && j.GetProperty("has_output").GetBoolean());

        // The ONNX download is exported and verified on first request.
        var onnx = await client.GetAsync($"/api/jobs/{id}/model.onnx");
        Assert.Equal(HttpStatusCode.OK, onnx.StatusCode);
        Assert.True((await onnx.Content.ReadAsByteArrayAsync()).Length > 1_000_000);

        // A restarted server lists the job with its bundle.
        using var again = new StudioFactory(_ => factory.Options);
        using var client2 = again.CreateClient();
        var restored = await Json(await client2.GetAsync($"/api/jobs/{id}"));
        Assert.Equal("succeeded", restored.GetProperty("state").GetString());
        Assert.True(restored.GetProperty("has_output").GetBoolean());
        Assert.Equal(4, restored.GetProperty("epochs").GetArrayLength());
    }

    [Fact]
    public async Task AComparisonJobWritesItsPage()
    {
        var created = await Json(await client.PostAsJsonAsync("/api/jobs", new { kind = "compare", dataset = "shapes", epochs = 3, shots = new[] { 4 }, skip = new[] { "fine-tune", "scratch" } }), HttpStatusCode.Accepted);
        var done = await WaitFor(created.GetProperty("id").GetString()!, "succeeded", "failed");
        Assert.True(done.GetProperty("state").GetString() == "succeeded", done.ToString());
        Assert.Equal(2, done.GetProperty("result").GetProperty("runs").GetArrayLength());
        var page = await client.GetAsync($"/api/jobs/{created.GetProperty("id").GetString()}/report");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<svg", await page.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task CancelledJobsLeaveNoBundleAndAFailedOneLeavesTheServerUp()
    {
        // A long run on images (every layer trains), then a queued one behind it.
        var running = await Json(await client.PostAsJsonAsync("/api/jobs", new { dataset = "shapes", strategy = "full", epochs = 200 }), HttpStatusCode.Accepted);
        var queued = await Json(await client.PostAsJsonAsync("/api/jobs", new { dataset = "shapes", epochs = 2 }), HttpStatusCode.Accepted);
        string runId = running.GetProperty("id").GetString()!, queueId = queued.GetProperty("id").GetString()!;
        await WaitFor(runId, "running");
        Assert.Equal("queued", (await Json(await client.GetAsync($"/api/jobs/{queueId}"))).GetProperty("state").GetString());
        await Json(await client.PostAsync($"/api/jobs/{queueId}/cancel", null), HttpStatusCode.Accepted);
        await Json(await client.PostAsync($"/api/jobs/{runId}/cancel", null), HttpStatusCode.Accepted);
        var stopped = await WaitFor(runId, "cancelled", "succeeded", "failed");
        Assert.Equal("cancelled", stopped.GetProperty("state").GetString());
        Assert.Equal("cancelled", (await WaitFor(queueId, "cancelled", "succeeded")).GetProperty("state").GetString());
        Assert.False(stopped.GetProperty("has_output").GetBoolean());
        string bundles = Path.Combine(factory.Options.OutputRoot, "bundles");
        Assert.True(!Directory.Exists(bundles) || Directory.GetFileSystemEntries(bundles).Length == 0, "a cancelled job left files in bundles/");
        await Json(await client.PostAsync($"/api/jobs/{runId}/cancel", null), HttpStatusCode.Conflict);

        // A dataset that cannot train (one class) fails its job, with the reason; the server answers on.
        Directory.CreateDirectory(Path.Combine(factory.DataRoot, "one", "only"));
        File.Copy(Directory.GetFiles(Path.Combine(factory.DataRoot, "shapes", "train", "circle"))[0], Path.Combine(factory.DataRoot, "one", "only", "a.jpg"));
        var bad = await Json(await client.PostAsJsonAsync("/api/jobs", new { dataset = "one", epochs = 2 }), HttpStatusCode.Accepted);
        var failed = await WaitFor(bad.GetProperty("id").GetString()!, "failed", "succeeded");
        Assert.Equal("failed", failed.GetProperty("state").GetString());
        Assert.Contains("class", failed.GetProperty("error").GetString());
        Assert.True((await Json(await client.GetAsync("/api/health"))).GetProperty("ok").GetBoolean());
    }

    [Fact]
    public async Task TheCleanerRanksPlantedLabelErrorsAndItsDecisionsAreHonouredByARetrain()
    {
        // Two circles filed as squares: label errors.
        string shapes = Path.Combine(factory.DataRoot, "shapes");
        var planted = Directory.GetFiles(Path.Combine(shapes, "train", "circle")).Order(StringComparer.Ordinal).Take(2)
            .Select((f, i) => { string to = Path.Combine(shapes, "train", "square", $"planted_{i}.jpg"); File.Copy(f, to); return $"train/square/planted_{i}.jpg"; })
            .ToList();
        var before = SyntheticImages.TreeHashes(shapes);
        var audit = await Json(await client.PostAsJsonAsync("/api/jobs", new { kind = "audit", dataset = "shapes", epochs = 10 }), HttpStatusCode.Accepted);
        var done = await WaitFor(audit.GetProperty("id").GetString()!, "succeeded", "failed");
        Assert.True(done.GetProperty("state").GetString() == "succeeded", done.ToString());
        var result = done.GetProperty("result");
        Assert.Equal(18, result.GetProperty("count").GetInt32());
        var top = result.GetProperty("ranked").EnumerateArray().Take(4).ToList();
        foreach (var p in planted) Assert.Contains(top, r => r.GetProperty("path").GetString() == p);
        Assert.All(top.Where(r => planted.Contains(r.GetProperty("path").GetString()!)), r => Assert.Equal("circle", r.GetProperty("predicted").GetString()));

        var decisions = new { decisions = new object[] { new { path = planted[0], action = "relabel", label = "circle" }, new { path = planted[1], action = "exclude" } } };
        var saved = await Json(await client.PutAsJsonAsync("/api/datasets/shapes/decisions", decisions));
        Assert.Equal(2, saved.GetProperty("decisions").GetArrayLength());
        Assert.True(File.Exists(shapes + ".headstart-labels.json"));   // beside the dataset, not in it
        Assert.Equal(before, SyntheticImages.TreeHashes(shapes));
        Assert.Equal(2, (await Json(await client.GetAsync("/api/datasets/shapes/decisions"))).GetProperty("decisions").GetArrayLength());
        var wrongClass = await client.PutAsJsonAsync("/api/datasets/shapes/decisions", new { decisions = new[] { new { path = planted[0], action = "relabel", label = "hexagon" } } });
        Assert.Equal(HttpStatusCode.BadRequest, wrongClass.StatusCode);
        var outside = await client.PutAsJsonAsync("/api/datasets/shapes/decisions", new { decisions = new[] { new { path = "../shapes.headstart-labels.json", action = "exclude" } } });
        Assert.Equal(HttpStatusCode.BadRequest, outside.StatusCode);

        var retrain = await Json(await client.PostAsJsonAsync("/api/jobs", new { dataset = "shapes", epochs = 2 }), HttpStatusCode.Accepted);
        var trained = await WaitFor(retrain.GetProperty("id").GetString()!, "succeeded", "failed");
        Assert.Equal(17, trained.GetProperty("result").GetProperty("train_count").GetInt32());   // 18 minus the excluded one
    }

    [Theory]
    [InlineData("{\"dataset\": \"nowhere\"}", "no dataset named 'nowhere'")]
    [InlineData("{\"dataset\": \"shapes\", \"strategy\": \"sideways\"}", "unknown strategy")]
    [InlineData("{\"dataset\": \"shapes\", \"epochs\": 0}", "epochs must be 1 to 500")]
    [InlineData("{\"dataset\": \"shapes\", \"kind\": \"mine\"}", "unknown job kind")]
    [InlineData("{\"dataset\": ", "not valid JSON")]
    public async Task BadJobRequestsAre400WithTheReason(string body, string why)
    {
        var r = await client.PostAsync("/api/jobs", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var error = await Json(r, HttpStatusCode.BadRequest);
        Assert.Contains(why, error.GetProperty("error").GetString());
    }

    public void Dispose()
    {
        client.Dispose();
        factory.Dispose();
    }
}
