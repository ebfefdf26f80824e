using System.Text.RegularExpressions;
using Headstart.Bundles;
using Headstart.Data;
using Headstart.Evaluation;
using Headstart.Models;
using Headstart.Reporting;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Xunit;

namespace Headstart.Tests.Reporting;

/// <summary>A report built from a hand-made manifest (no training), with hostile class names and paths.</summary>
public static class SampleReport
{
    public const string Hostile = "<script>alert(\"x\")</script>&amp;";
    public static readonly string[] Classes = ["cat", Hostile, "dog's \"best\" friend"];

    public static (BundleManifest Manifest, ReportData Data) Build()
    {
        var rng = new Random(1);
        var actual = Enumerable.Range(0, 30).Select(i => i % 3).ToList();
        var predicted = actual.Select(a => rng.NextDouble() < 0.7 ? a : (a + 1) % 3).ToList();
        var metrics = ClassificationMetrics.Compute(Classes, actual, predicted);
        var history = Enumerable.Range(1, 6).Select(e => new EpochRecord(e, 1.5 / e, 0.5 + e * 0.07, 1.2 / e + 0.1, 0.45 + e * 0.06, 0.5, 0.01)).ToList();
        var manifest = new BundleManifest
        {
            Arch = "resnet18", Classes = Classes, Preprocessing = Preprocessing.ImageNet, PretrainedFrom = "/weights/<b>r18</b>.pth",
            History = history, Metrics = metrics, TrainSeconds = 3.5,
            Dataset = new DatasetSummary("/data/<img src=x onerror=alert(1)>", "folders", 60, 30,
                Classes.ToDictionary(c => c, _ => 20), Classes.ToDictionary(c => c, _ => 10), 2,
                [new SkippedEntry("/data/<i>bad</i>.jpg", "truncated <b>data</b>"), new SkippedEntry("/data/notes.txt", "not an image file (extension '.txt')")]),
        };
        var thumb = Thumbnails.DataUri(Gradient(28, 28));
        var tops = new List<TopLoss>
        {
            new("/data/val/cat/<x>.jpg", "cat", Hostile, 0.91f, 2.4f, thumb),
            new("/data/val/dog/a.jpg", Classes[2], "cat", 0.6f, 1.1f, Thumbnails.DataUri(Gradient(300, 200))),
            new("/data/val/dog/gone.jpg", Classes[2], Classes[2], 0.5f, 0.7f, null),
            new("/data/val/dog/evil.jpg", Classes[2], "cat", 0.5f, 0.6f, "javascript:alert(1)"),
        };
        var sizes = ImageSizeStats.FromSizes([(28, 28), (300, 200), (640, 480), (28, 28)], 4, 0);
        return (manifest, new ReportData { TopLosses = tops, ImageSizes = sizes });
    }

    public static DecodedImage Gradient(int w, int h)
    {
        var rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int o = (y * w + x) * 3;
                rgb[o] = (byte)(255 * x / Math.Max(1, w - 1)); rgb[o + 1] = (byte)(255 * y / Math.Max(1, h - 1)); rgb[o + 2] = 128;
            }
        return new DecodedImage(w, h, rgb);
    }
}

public class TrainingReportTests
{
    [Fact]
    public void RendersEverySectionOfTheReport()
    {
        var (manifest, data) = SampleReport.Build();
        string html = TrainingReport.Render(manifest, data);
        foreach (var id in new[] { "curves", "loss-curve", "accuracy-curve", "metrics", "confusion-matrix", "per-class", "most-confused",
                                   "top-losses", "dataset", "class-counts", "size-histogram", "skipped", "config" })
            Assert.Contains($"id=\"{id}\"", html);
        Assert.Equal(9, Regex.Matches(html, "<rect class=\"cell\"").Count);   // 3 x 3 confusion matrix
        Assert.Contains(Html.Percent(manifest.Metrics!.Accuracy), html);
    }

    [Fact]
    public void AnLbfgsHeadShowsItsCrossValidatedLossByStrengthInsteadOfEpochCurves()
    {
        var (manifest, data) = SampleReport.Build();
        var fit = new HeadFitRecord(0.03, 5, [1, 0.3, 0.1, 0.03, 0.01, 0.003], [0.9, 0.6, 0.45, 0.41, 0.43, 0.47], 0.12, 0.98, 0.8);
        string html = TrainingReport.Render(manifest with { History = [], HeadFit = fit }, data);
        Assert.Contains("id=\"head-fit-curve\"", html);
        Assert.Contains("Cross-validated loss by L2 strength", html);
        Assert.Contains("L-BFGS, L2 0.03", html);
        Assert.Contains("the validation set played no part", html);
        Assert.DoesNotContain("id=\"loss-curve\"", html);
        Assert.DoesNotContain("No training history", html);
    }

    [Fact]
    public void EscapesUserDataEverywhere()
    {
        var (manifest, data) = SampleReport.Build();
        string html = TrainingReport.Render(manifest, data);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img src=x", html);
        Assert.DoesNotContain("<b>r18</b>", html);
        Assert.DoesNotContain("<b>data</b>", html);
        Assert.DoesNotContain("<i>", html);
        Assert.DoesNotContain("<x>", html);
        Assert.Contains("&lt;script&gt;", html);
        // Only data: images, and no thumbnail that is not a JPEG data URI ever becomes an <img>.
        var srcs = Regex.Matches(html, "<img src=\"([^\"]*)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(2, srcs.Count);
        Assert.All(srcs, s => Assert.StartsWith("data:image/jpeg;base64,", s));
        Assert.DoesNotContain("javascript:", html);
        Assert.Equal(2, Regex.Matches(html, "image unavailable").Count);
    }

    [Fact]
    public void NeedsNoNetwork()
    {
        var (manifest, data) = SampleReport.Build();
        string html = TrainingReport.Render(manifest, data);
        Assert.DoesNotMatch(new Regex("(src|href)\\s*=\\s*\"(https?:)?//", RegexOptions.IgnoreCase), html);
        Assert.DoesNotMatch(new Regex("url\\(\\s*['\"]?https?:", RegexOptions.IgnoreCase), html);
        Assert.Contains("Content-Security-Policy", html);
    }

    [Fact]
    public void ThumbnailsAreSmallJpegsThatFitTheBox()
    {
        var big = Thumbnails.Jpeg(SampleReport.Gradient(640, 320));
        Assert.True(big is [0xFF, 0xD8, ..], "not a JPEG");
        var header = ImageDecoder.Probe(big);
        Assert.Equal((128, 64), (header.Width, header.Height));
        Assert.True(big.Length < 12_000, $"thumbnail is {big.Length} bytes");
        var tiny = ImageDecoder.Probe(Thumbnails.Jpeg(SampleReport.Gradient(28, 28)));
        Assert.Equal((128, 128), (tiny.Width, tiny.Height));   // small images are scaled up to stay visible
    }

    [Fact]
    public void ImageSizeStatsBinTheShorterSide()
    {
        var s = ImageSizeStats.FromSizes([(28, 28), (300, 200), (640, 480), (28, 28), (2000, 1500)], 6, 1);
        Assert.Equal(5, s.Measured);
        Assert.Equal(1, s.Unreadable);
        Assert.Equal((28, 300, 2000), (s.MinWidth, s.MedianWidth, s.MaxWidth));
        Assert.Equal(new SizeCount(28, 28, 2), s.CommonSizes[0]);
        Assert.Equal(5, s.ShortSide.Sum(b => b.Count));
        Assert.Equal(2, s.ShortSide.Single(b => b.Bin == "< 32").Count);
        Assert.Equal(1, s.ShortSide.Single(b => b.Bin == "128-223").Count);
        Assert.Equal(1, s.ShortSide.Single(b => b.Bin == "300-511").Count);
        Assert.Equal(1, s.ShortSide.Single(b => b.Bin == ">= 1024").Count);
    }

    [Fact]
    public void ReportDataRoundTripsThroughTheBundle()
    {
        using var tmp = new TempDir("report-data");
        var (manifest, data) = SampleReport.Build();
        TrainingReport.WriteInto(tmp.Path, manifest, data);
        Assert.True(File.Exists(tmp.Combine(TrainingReport.FileName)));
        var back = ReportData.TryRead(tmp.Path)!;
        Assert.Equal(data.TopLosses, back.TopLosses);
        Assert.Equal(data.ImageSizes!.CommonSizes, back.ImageSizes!.CommonSizes);
        Assert.Equal(TrainingReport.Render(manifest, data)[..2000], TrainingReport.Render(manifest, back)[..2000]);
        File.WriteAllText(tmp.Combine(ReportData.FileName), "{ not json");
        Assert.Null(ReportData.TryRead(tmp.Path));
    }

    [Fact]
    public void CollectsTopLossesWithThumbnailsFromAnInMemorySource()
    {
        var images = new Dictionary<string, DecodedImage> { ["a"] = SampleReport.Gradient(28, 28), ["b"] = SampleReport.Gradient(40, 20) };
        var data = new ImageDataset("mem", "idx", ["x", "y"], [new ImageSample("a", 0)], [new ImageSample("b", 1), new ImageSample("missing", 0)], [],
            new InMemoryImageSource(images));
        var preds = new List<PredictionRecord> { new("b", 1, 0, 0.8f, 1.6f), new("missing", 0, 0, 0.9f, 0.1f) };
        var rd = ReportData.Collect(data, data.Classes, preds, topLosses: 5);
        Assert.Equal(["b", "missing"], rd.TopLosses.Select(t => t.Path));
        Assert.Equal(("y", "x"), (rd.TopLosses[0].Actual, rd.TopLosses[0].Predicted));
        Assert.StartsWith("data:image/jpeg;base64,", rd.TopLosses[0].Thumbnail);
        Assert.Null(rd.TopLosses[1].Thumbnail);
        Assert.Equal(2, rd.ImageSizes!.Measured);
        Assert.Equal(1, rd.ImageSizes.Unreadable);
    }
}

/// <summary>The report in a real browser (headless Chromium): renders without errors, every image decodes.</summary>
public class ReportBrowserTests
{
    [ChromiumFact]
    public async Task SampleReportRendersCleanlyInChromium()
    {
        using var tmp = new TempDir("report-browser");
        var (manifest, data) = SampleReport.Build();
        string path = tmp.Combine("report.html");
        TrainingReport.Write(path, manifest, data);
        var result = await BrowserCheck.OpenAsync(path, Environment.GetEnvironmentVariable("HEADSTART_REPORT_SCREENSHOT"));
        BrowserCheck.AssertClean(result, expectedImages: 2, classes: 3);
    }
}
