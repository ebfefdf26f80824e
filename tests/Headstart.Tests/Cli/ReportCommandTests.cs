using Headstart.Reporting;
using Headstart.Tests.Data;
using Headstart.Tests.Reporting;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>train writes report.html into the bundle; report rebuilds it, or re-runs the model with --data.</summary>
[Collection(CliCollection.Name)]
public class ReportCommandTests
{
    [Fact]
    public async Task TrainWritesAReportThatRendersAndReportRebuildsIt()
    {
        using var tmp = new TempDir("report-cli");
        string data = tmp.Combine("shapes"), bundle = tmp.Combine("bundle");
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 8, valPerClass: 4);
        File.WriteAllText(Path.Combine(data, "train", "circle", "readme.txt"), "not an image");
        var before = SyntheticImages.TreeHashes(data);
        var env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Combine("cache") };

        var train = CliRunner.Run(["train", data, "--out", bundle, "--epochs", "3", "--augment", "none", "--json"], env);
        Assert.True(train.ExitCode == 0, train.ToString());
        string report = Path.Combine(bundle, TrainingReport.FileName);
        Assert.Equal(report, train.Json.GetProperty("report").GetString());
        string html = File.ReadAllText(report);
        Assert.Contains("readme.txt", html);                       // skipped file listed with its reason
        Assert.Contains("not an image file", html);
        Assert.Equal(8, ReportData.TryRead(bundle)!.TopLosses.Count(t => t.Thumbnail is not null));
        if (BrowserCheck.Available)
            BrowserCheck.AssertClean(await BrowserCheck.OpenAsync(report), expectedImages: 8, classes: 2);

        // Rebuilt from the bundle alone: same content apart from the generation time.
        File.Delete(report);
        var rebuilt = CliRunner.Run(["report", bundle, "--json"], env);
        Assert.True(rebuilt.ExitCode == 0, rebuilt.ToString());
        Assert.False(rebuilt.Json.GetProperty("fresh").GetBoolean());
        Assert.Equal(StripTimes(html), StripTimes(File.ReadAllText(report)));

        // Fresh predictions: the same model on the same val images gives the same accuracy.
        string fresh = tmp.Combine("fresh.html");
        var rerun = CliRunner.Run(["report", bundle, "--data", data, "--out", fresh, "--top", "3", "--json"], env);
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.Equal(train.Json.GetProperty("val_accuracy").GetDouble(), rerun.Json.GetProperty("accuracy").GetDouble(), 6);
        Assert.Equal(3, rerun.Json.GetProperty("top_losses").GetInt32());
        Assert.Contains("fresh, the bundle re-run", File.ReadAllText(fresh));

        // Never under the dataset folder.
        var inside = CliRunner.Run(["report", bundle, "--data", data, "--out", Path.Combine(data, "r.html"), "--json"], env);
        Assert.Equal(2, inside.ExitCode);
        Assert.Contains("never writes there", inside.Json.GetProperty("error").GetString());
        Assert.Equal(before, SyntheticImages.TreeHashes(data));
        Assert.Empty(Directory.EnumerateFiles(tmp.Path, "*.tmp-*", SearchOption.AllDirectories));
    }

    [Fact]
    public void ReportOnAMissingBundleIsARuntimeError()
    {
        var r = CliRunner.Run(["report", "/nonexistent-bundle", "--json"], null);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("does not exist", r.Json.GetProperty("error").GetString());
    }

    private static string StripTimes(string html) =>
        System.Text.RegularExpressions.Regex.Replace(html, @"at \d{4}-\d\d-\d\d \d\d:\d\d UTC", "");
}

/// <summary>compare: every recipe on one split, the table in JSON, the HTML comparison in a browser.</summary>
[Collection(CliCollection.Name)]
public class CompareCommandTests
{
    [Fact]
    public async Task ComparesAllFourRecipesAndWritesTheComparison()
    {
        using var tmp = new TempDir("compare-cli");
        string data = tmp.Combine("shapes"), html = tmp.Combine("cmp.html");
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 8, valPerClass: 4);
        var before = SyntheticImages.TreeHashes(data);
        var r = CliRunner.Run(["compare", data, "--shots", "4,100", "--epochs", "3", "--fine-tune-epochs", "1", "--scratch-epochs", "1",
            "--cnn-epochs", "2", "--augment-views", "0", "--cache-dir", "none", "--out", html, "--json"], null);
        Assert.True(r.ExitCode == 0, r.ToString());
        var runs = r.Json.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(["frozen", "fine_tune", "scratch", "small_cnn"], runs.Select(x => x.GetProperty("recipe").GetString()));
        long P(int i) => runs[i].GetProperty("trainable_parameters").GetInt64();
        Assert.Equal(512 * 2 + 2, P(0));                      // frozen: only the new 2-class head of resnet18
        Assert.Equal(P(1), P(2));                             // fine-tuned and scratch: the whole network
        Assert.True(P(1) > 11_000_000, $"resnet18 has ~11.7M parameters, got {P(1)}");
        Assert.InRange(P(3), 50_000, 150_000);                // the small CNN (~83K)
        Assert.Equal(3, runs[0].GetProperty("epochs").GetInt32());
        Assert.Equal(4, runs[1].GetProperty("epochs").GetInt32());   // 3 frozen-head epochs on cached features + 1 unfrozen
        Assert.All(runs, x => Assert.Equal(16, x.GetProperty("train_images").GetInt32()));
        Assert.All(runs, x => Assert.InRange(x.GetProperty("val_accuracy").GetDouble(), 0, 1));
        var curve = r.Json.GetProperty("curve").EnumerateArray().ToList();
        // Curve: frozen and small CNN at 4 per class (100 >= the class size is dropped), every recipe at "all" (8).
        Assert.Equal([4, 4, 8, 8, 8, 8], curve.Select(p => p.GetProperty("per_class").GetInt32()).Order());
        // Backbone passes: frozen extracts 16 centre views and 8 validation images once; scratch trains 16 images for its
        // one epoch, then evaluates the 8 validation images (a one-epoch run validates only at the end).
        (long, long) Passes(int i) => (runs[i].GetProperty("backbone_passes").GetProperty("inference").GetInt64(),
            runs[i].GetProperty("backbone_passes").GetProperty("training").GetInt64());
        Assert.Equal((24L, 0L), Passes(0));
        Assert.Equal((8L, 16L), Passes(2));
        Assert.All(runs, x => Assert.True(x.GetProperty("cpu_seconds").GetDouble() > 0));
        Assert.NotEmpty(r.Json.GetProperty("findings").EnumerateArray());
        Assert.True(File.Exists(html));
        if (BrowserCheck.Available)
        {
            var b = await BrowserCheck.OpenAsync(html);
            Assert.Empty(b.ConsoleErrors);
            Assert.Contains("efficiency-curve", b.Ids);
            Assert.Contains("accuracy-curve", b.Ids);
            Assert.True(b.CurvePaths >= 6, $"found {b.CurvePaths} curve paths");
        }
        Assert.Equal(before, SyntheticImages.TreeHashes(data));
    }

    [Fact]
    public void RejectsUnknownRecipesAndOutputInsideTheData()
    {
        using var tmp = new TempDir("compare-usage");
        string data = tmp.Combine("shapes");
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 2, valPerClass: 1);
        Assert.Equal(2, CliRunner.Run(["compare", data, "--skip", "bogus", "--json"], null).ExitCode);
        Assert.Equal(2, CliRunner.Run(["compare", data, "--shots", "5,x", "--json"], null).ExitCode);
        Assert.Equal(2, CliRunner.Run(["compare", data, "--out", Path.Combine(data, "c.html"), "--json"], null).ExitCode);
    }

    [DirectoryFact("/usr/share/datasets/fashion-mnist")]
    public async Task DemoComparesOnPhotosWithAContrastPanelAndSavesTheBundle()
    {
        using var tmp = new TempDir("demo-cli");
        string data = tmp.Combine("photos"), bundle = tmp.Combine("demo");
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 6, valPerClass: 3);
        var env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Combine("cache") };
        var r = CliRunner.Run(["demo", "--data", data, "--shots", "3", "--seeds", "2", "--epochs", "3", "--contrast-per-class", "6",
            "--contrast-val-per-class", "3", "--out", bundle, "--json"], env);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(File.Exists(Path.Combine(bundle, "model.json")));
        Assert.True(File.Exists(Path.Combine(bundle, TrainingReport.FileName)));
        string comparison = Path.Combine(bundle, ComparisonReport.FileName);
        Assert.True(File.Exists(comparison));

        var results = r.Json.GetProperty("results");
        Assert.Equal(["frozen", "scratch", "small_cnn"], results.GetProperty("runs").EnumerateArray().Select(x => x.GetProperty("recipe").GetString()));
        var curve = results.GetProperty("curve").EnumerateArray().ToList();
        // frozen and small CNN at 3 per class with 2 seeds each (each draws its own 3 images per class); every recipe
        // once on all 6 per class, where there is no subset to draw.
        Assert.Equal(5, curve.Count);
        Assert.All(curve, p => Assert.Equal(p.GetProperty("all").GetBoolean() ? 1 : 2, p.GetProperty("seeds").GetArrayLength()));
        Assert.All(curve, p =>
        {
            double lo = p.GetProperty("interval")[0].GetDouble(), hi = p.GetProperty("interval")[1].GetDouble(), mean = p.GetProperty("val_accuracy").GetDouble();
            Assert.True(lo <= mean && mean <= hi && lo < hi, $"interval [{lo}, {hi}] around {mean}");
            Assert.Equal(mean, p.GetProperty("accuracies").EnumerateArray().Average(a => a.GetDouble()), 9);
        });
        var scratch = results.GetProperty("runs")[1];
        Assert.Equal(12, scratch.GetProperty("backbone_passes").GetProperty("training").GetInt64());   // 1 epoch over 12 images
        Assert.True(scratch.GetProperty("trainable_parameters").GetInt64() > 11_000_000);
        Assert.Contains(results.GetProperty("findings").EnumerateArray(), f => f.GetString()!.Contains("the same architecture from scratch"));
        Assert.Contains(results.GetProperty("findings").EnumerateArray(), f => f.GetString()!.StartsWith("Compute: transfer's"));

        var contrast = r.Json.GetProperty("contrast");
        Assert.Equal(["frozen", "small_cnn"], contrast.GetProperty("runs").EnumerateArray().Select(x => x.GetProperty("recipe").GetString()));
        Assert.Contains("fashion-mnist", contrast.GetProperty("dataset").GetString());
        Assert.Contains("images per class", r.Stderr + r.Stdout);

        string html = File.ReadAllText(comparison);
        Assert.Contains("class=\"error-bar\"", html);
        if (BrowserCheck.Available)
        {
            var b = await BrowserCheck.OpenAsync(comparison, screenshot: tmp.Combine("comparison.png"));
            Assert.Empty(b.ConsoleErrors);
            Assert.All(b.Requests, u => Assert.StartsWith("data:", u));
            foreach (var id in new[] { "findings", "efficiency-curve", "compute-table", "contrast", "contrast-efficiency-curve", "contrast-compute-table" })
                Assert.Contains(id, b.Ids);
            Assert.True(new FileInfo(tmp.Combine("comparison.png")).Length > 10_000, "the screenshot is nearly empty");
        }
    }
}
