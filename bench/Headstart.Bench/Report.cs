using System.Globalization;
using System.Text;

namespace Headstart.Bench;

/// <summary>Everything one bench run measured.</summary>
public sealed record BenchResults
{
    public required string Data { get; init; }
    public required int TrainCount { get; init; }
    public required int ValCount { get; init; }
    public required string Machine { get; init; }
    public ForwardResult? Forward { get; init; }
    public List<TrainRun> Runs { get; } = [];
    public PythonResult? Python { get; set; }
    public string? PythonSkipped { get; set; }
    public List<InferenceResult> Inference { get; } = [];
    public long BenchPeakRssBytes { get; set; }

    /// <summary>The run with the median wall time among the successful runs labelled <paramref name="label"/> (the
    /// lower middle one for an even count), or null.</summary>
    public TrainRun? Run(string label)
    {
        var ok = Runs.Where(r => r.Label == label && r.Ok).OrderBy(r => r.WallSeconds).ToList();
        return ok.Count == 0 ? null : ok[(ok.Count - 1) / 2];
    }

    /// <summary>How many runs carry <paramref name="label"/>.</summary>
    public int Count(string label) => Runs.Count(r => r.Label == label);
}

/// <summary>Markdown tables of the results and the issue 4 targets, pasteable into bench/README.md.</summary>
public static class Report
{
    /// <summary>Reference figures from ../shared/README.md (same machine class, same weights, flowers-small).</summary>
    public const double PyTorchCachedSeconds = 23.4, PyTorchCachedAccuracy = 0.840;
    public const double MlNetSeconds = 26.1, MlNetAccuracy = 0.825;
    public const double AccuracyTarget = 0.86, ColdNoneRatioTarget = 1.25, WarmRatioTarget = 0.15;
    public const long RssTargetBytes = 2L * 1024 * 1024 * 1024;
    public const int RssTargetImages = 20_000;

    public const string ColdDefault = "cold, default recipe", WarmDefault = "warm, default recipe",
        ColdNone = "cold, --augment none", WarmNone = "warm, --augment none";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Markdown(BenchResults r)
    {
        var sb = new StringBuilder();
        void L(string s = "") => sb.AppendLine(s);
        L($"Data: {r.Data} ({r.TrainCount} train / {r.ValCount} val). Machine: {r.Machine}.");
        L();
        var f = r.Forward;
        if (f is not null)
        {
            L($"### Forward and decode ({f.Images} images, batch {f.BatchSize}, resnet18-cntk frozen)");
            L();
            L("| measure | total s | ms/image |");
            L("|---|---:|---:|");
            L($"| T_decode: BatchLoader, eval transform, {f.DecodeWorkers} workers | {F1(f.DecodeSeconds)} | {F1(f.DecodeMsPerImage)} |");
            L($"| T_forward TorchSharp ({f.TorchThreads} threads, eval, no_grad) | {F1(f.TorchSeconds)} | {F1(f.TorchMsPerImage)} |");
            L($"| T_forward ONNX Runtime (OrtFeatureExtractor) | {F1(f.OrtSeconds)} | {F1(f.OrtMsPerImage)} |");
            if (r.Python is { Ok: true } py)
                L($"| T_forward PyTorch {py.TorchVersion} eager ({py.Threads} threads, batch 0 x {py.ForwardImages / f.BatchSize}) | {F1(py.ForwardMsPerImage * f.Images / 1000)} | {F1(py.ForwardMsPerImage)} |");
            L();
            L($"T_forward below = the faster engine ({f.FastestEngine}): {F1(f.FastestSeconds)} s. " +
              $"Batch 0 features: max |ORT - TorchSharp| = {E(f.OrtVsTorchMaxAbsDiff)} (features up to {F1(f.FeatureMaxAbs)})" +
              (r.Python is { Ok: true } p2 ? $", max |PyTorch - TorchSharp| = {E(p2.ParityMaxAbsDiff)}." : "."));
            L();
        }
        L("### Training (`headstart train`, child process, fresh cache directory for each cold run)");
        L();
        L("| run | wall s | in-process s | val accuracy | peak RSS MB | wall / T_forward |");
        L("|---|---:|---:|---:|---:|---:|");
        var seen = new Dictionary<string, int>();
        foreach (var run in r.Runs)
        {
            seen[run.Label] = seen.GetValueOrDefault(run.Label) + 1;
            string label = r.Count(run.Label) > 1 ? $"{run.Label} #{seen[run.Label]}" : run.Label;
            L(run.Ok
                ? $"| {label} | {F1(run.WallSeconds)} | {F1(run.TrainSeconds)} | {P(run.Accuracy)} | {TrainRuns.Mb(run.PeakRssBytes)} | {Ratio(run.WallSeconds, f)} |"
                : $"| {label} | FAILED: {run.Error?.Split('\n')[0]} | | | | |");
        }
        if (r.Python is { Ok: true } pr)
            L($"| PyTorch {pr.TorchVersion} cached + linear head (this run) | {F1(pr.WallSeconds)} | {F1(pr.RecipeSeconds)} | {P(pr.Accuracy)} | {TrainRuns.Mb(pr.PeakRssBytes)} | {Ratio(pr.WallSeconds, f)} |");
        else L($"| PyTorch cached + linear head (this run) | skipped: {r.Python?.Error?.Split('\n')[0] ?? r.PythonSkipped} | | | | |");
        L($"| PyTorch cached + linear head (reference, shared/README.md) | {F1(PyTorchCachedSeconds)} | | {P(PyTorchCachedAccuracy)} | | |");
        L($"| ML.NET DnnImageFeaturizer + L-BFGS (reference) | {F1(MlNetSeconds)} | | {P(MlNetAccuracy)} | | |");
        L();
        L("### Targets (issue 4)");
        L();
        L("Issue 4 sets these on flowers-small with resnet18-cntk; on other data they are indicative only." +
          (r.Count(ColdNone) > 1 ? $" Each train figure is the median of {r.Count(ColdNone)} runs." : ""));
        L();
        L("| target | measured | limit | result |");
        L("|---|---:|---:|---|");
        foreach (var (name, measured, limit, pass) in Targets(r)) L($"| {name} | {measured} | {limit} | {pass} |");
        L();
        if (r.Inference.Count > 0)
        {
            L("### Inference (`Classifier` on the cold default run's bundle; issue 8 item 3)");
            L();
            L("| engine | images | latency batch 1, median ms | p90 ms | mean ms | throughput batch 32, images/s |");
            L("|---|---:|---:|---:|---:|---:|");
            foreach (var i in r.Inference)
                L(i.Available
                    ? $"| {i.Engine} | {i.Images} | {F1(i.LatencyMedianMs)} | {F1(i.LatencyP90Ms)} | {F1(i.LatencyMeanMs)} | {F1(i.ThroughputImagesPerSecond)} |"
                    : $"| {i.Engine} | n/a: {i.Note} | | | | |");
            L();
            L("Latency: encoded bytes in memory to prediction (decode + preprocess + forward + softmax). Throughput: " +
              "decoded images, preprocess + one batched forward per 32.");
            L();
        }
        L($"Peak RSS of the bench process itself (images held in memory for T_forward): {TrainRuns.Mb(r.BenchPeakRssBytes)} MB.");
        return sb.ToString();
    }

    /// <summary>(target, measured, limit, PASS/FAIL/n/a) for each issue 4 target this run can judge.</summary>
    public static IEnumerable<(string, string, string, string)> Targets(BenchResults r)
    {
        var f = r.Forward;
        var cold = r.Run(ColdDefault);
        double budget = r.Python is { Ok: true } py ? py.WallSeconds : PyTorchCachedSeconds;
        string budgetSrc = r.Python is { Ok: true } ? "PyTorch this run" : "PyTorch reference";
        yield return ("1a. default recipe, cold: val accuracy", P(cold?.Accuracy), $">= {P(AccuracyTarget)}", Judge(cold?.Accuracy >= AccuracyTarget, cold is null));
        yield return ($"1b. default recipe, cold: wall < {budgetSrc}", F1(cold?.WallSeconds), $"< {F1(budget)} s", Judge(cold?.WallSeconds < budget, cold is null));
        var none = r.Run(ColdNone);
        yield return ("2. --augment none, cold: T_train / T_forward", Ratio(none?.WallSeconds, f), $"<= {ColdNoneRatioTarget.ToString(Inv)}",
            Judge(none?.WallSeconds / f?.FastestSeconds <= ColdNoneRatioTarget, none is null || f is null));
        foreach (var label in new[] { WarmDefault, WarmNone })
        {
            var warm = r.Run(label);
            yield return ($"3. {label}: T_train_warm / T_forward", Ratio(warm?.WallSeconds, f), $"<= {WarmRatioTarget.ToString(Inv)}",
                Judge(warm?.WallSeconds / f?.FastestSeconds <= WarmRatioTarget, warm is null || f is null));
        }
        if (f is not null && r.Python is { Ok: true } p)
        {
            double ours = Math.Min(f.TorchMsPerImage, f.OrtMsPerImage);
            yield return ($"4. T_forward ({f.FastestEngine}) vs PyTorch eager, ms/image", F1(ours), $"<= {F1(p.ForwardMsPerImage)}", Judge(ours <= p.ForwardMsPerImage, false));
        }
        else yield return ("4. T_forward vs PyTorch eager", "", "", "n/a (no PyTorch)");
    }

    public static string LargeMarkdown(string data, int images, IReadOnlyList<TrainRun> runs)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"### RSS target (issue 4 target 5): {images} generated images in {data}, on-disk feature cache");
        sb.AppendLine();
        sb.AppendLine("| run | wall s | val accuracy | peak RSS MB | limit MB | result |");
        sb.AppendLine("|---|---:|---:|---:|---:|---|");
        foreach (var run in runs)
            sb.AppendLine(run.Ok
                ? $"| {run.Label} | {F1(run.WallSeconds)} | {P(run.Accuracy)} | {TrainRuns.Mb(run.PeakRssBytes)} | {TrainRuns.Mb(RssTargetBytes)} | {JudgeRss(run.PeakRssBytes, images)} |"
                : $"| {run.Label} | FAILED: {run.Error?.Split('\n')[0]} | | | | |");
        return sb.ToString();
    }

    /// <summary>Over the limit fails at any size; under it only passes on the target's 20,000 images.</summary>
    private static string JudgeRss(long peak, int images) =>
        peak >= RssTargetBytes ? "FAIL" : images >= RssTargetImages ? "PASS" : $"n/a: under the limit, but the target is for {RssTargetImages} images";

    private static string Judge(bool? pass, bool missing) => missing || pass is null ? "n/a" : pass.Value ? "PASS" : "FAIL";
    private static string Ratio(double? seconds, ForwardResult? f) => seconds is { } s && f is not null ? (s / f.FastestSeconds).ToString("F2", Inv) : "";
    private static string F1(double? v) => v is { } x && double.IsFinite(x) ? x.ToString("F1", Inv) : "";
    private static string P(double? v) => v is { } x ? (100 * x).ToString("F1", Inv) + "%" : "";
    private static string E(double v) => v.ToString("0.0e0", Inv);
}
