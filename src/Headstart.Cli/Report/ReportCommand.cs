using System.CommandLine;
using Headstart.Bundles;
using Headstart.Cli.Common;
using Headstart.Data;
using Headstart.Evaluation;
using Headstart.Inference;
using Headstart.Reporting;
using Headstart.Training;
using Spectre.Console;

namespace Headstart.Cli.Report;

/// <summary>
/// headstart report BUNDLE [--data DATA]: rebuilds the bundle's self-contained HTML report from model.json (and the
/// report-data.json saved at training time), or with --data re-runs the bundle on DATA's validation split for fresh
/// predictions, metrics and top losses. Writes atomically; never under the dataset folder.
/// </summary>
public static class ReportCommand
{
    private static readonly Argument<string> Bundle = new("bundle") { Description = "Bundle directory written by 'headstart train'" };
    private static readonly Option<string?> Data = Opt.Maybe<string>("--data", "ImageFolder root: re-run the model on its validation split for fresh predictions and top losses");
    private static readonly Option<string?> Out = Opt.Maybe<string>("--out", "Where to write the HTML (default: BUNDLE/report.html)");
    private static readonly Option<int> Top = Opt.Of("--top", "Number of top-loss images to show (with --data)", 16);
    private static readonly Option<int> BatchSize = Opt.Of("--batch-size", "Images per forward pass (with --data)", 32);

    public static Command Create()
    {
        var cmd = new Command("report", "Write a self-contained HTML report (curves, confusion matrix, top losses, dataset) for a bundle")
        {
            Bundle, Data, Out, Top, BatchSize,
        };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            string bundle = parse.GetValue(Bundle)!;
            string? dataDir = parse.GetValue(Data);
            var manifest = ModelBundle.ReadManifest(bundle);
            string outPath = Path.GetFullPath(parse.GetValue(Out) ?? Path.Combine(bundle, TrainingReport.FileName));
            foreach (var root in new[] { dataDir, manifest.Dataset?.Root }.OfType<string>())
                if (DatasetWrites.Conflict(root, outPath) is { } why)
                    throw new CliException($"--out {why}: choose another path", Shell.UsageError);

            ReportData data;
            if (dataDir is null)
            {
                data = ReportData.TryRead(bundle) ?? new ReportData { PredictionsSource = "none stored in this bundle (rebuild with --data DATA for top losses)" };
            }
            else
            {
                int top = parse.GetValue(Top), batch = parse.GetValue(BatchSize);
                if (top < 0 || batch < 1) throw new CliException("--top must be >= 0 and --batch-size >= 1", Shell.UsageError);
                data = Fresh(bundle, dataDir, manifest, top, batch, output);
            }
            TrainingReport.Write(outPath, manifest, data);
            var metrics = data.Metrics ?? manifest.Metrics;
            if (metrics is not null) output.Line($"val accuracy [bold]{metrics.Accuracy:P1}[/] on {metrics.Count} images ({Markup.Escape(data.PredictionsSource)})");
            output.Line($"report: [bold]{Markup.Escape(outPath)}[/]");
            return (Shell.Ok, new
            {
                report = outPath,
                accuracy = metrics?.Accuracy,
                fresh = dataDir is not null,
                top_losses = data.TopLosses.Count,
            });
        }));
        return cmd;
    }

    private static ReportData Fresh(string bundle, string dataDir, BundleManifest manifest, int top, int batchSize, Output output)
    {
        using var clf = Classifier.Load(bundle);
        var data = ImageFolder.Load(dataDir, manifest.TrainingSplit());
        var unknown = data.Classes.Except(clf.Classes).ToList();
        if (unknown.Count > 0)
            throw new CliException($"the data has classes the bundle does not know: {string.Join(", ", unknown)} (bundle classes: {string.Join(", ", clf.Classes)})");
        if (data.Val.Count == 0) throw new CliException($"no validation images in {data.Root} (add val/ or keep the bundle's --val-split)");
        // Labels in the bundle's class order throughout.
        int[] toBundle = data.Classes.Select(c => IndexOf(clf.Classes, c)).ToArray();
        var records = new List<PredictionRecord>();
        var skipped = data.Skipped.ToList();
        output.Line($"predicting {data.Val.Count} validation images of {Markup.Escape(data.Root)}...");
        foreach (var chunk in data.Val.Chunk(batchSize))
        {
            var ok = new List<(ImageSample Sample, DecodedImage Image)>();
            foreach (var smp in chunk)
            {
                try { ok.Add((smp, data.Source.Decode(smp))); }
                catch (ImageDecodeException ex) { skipped.Add(new SkippedFile(smp.Path, ex.Reason)); }
            }
            var preds = clf.PredictDecoded(ok.Select(o => o.Image).ToList(), top: clf.Classes.Count);
            for (int i = 0; i < ok.Count; i++)
            {
                int actual = toBundle[ok[i].Sample.Label];
                float pTrue = preds[i].Top.First(lp => lp.Label == clf.Classes[actual]).Probability;
                records.Add(new PredictionRecord(ok[i].Sample.Path, actual, IndexOf(clf.Classes, preds[i].Label), preds[i].Probability,
                    -MathF.Log(Math.Max(pTrue, 1e-12f))));
            }
        }
        var metrics = ClassificationMetrics.Compute(clf.Classes, records.Select(r => r.Actual).ToList(), records.Select(r => r.Predicted).ToList());
        Dictionary<string, int> Count(IReadOnlyList<ImageSample> xs) => data.Classes.Select((c, i) => (c, n: xs.Count(x => x.Label == i))).ToDictionary(p => p.c, p => p.n);
        var sk = skipped.DistinctBy(f => f.Path).Select(f => new SkippedEntry(f.Path, f.Reason)).ToList();
        var summary = new DatasetSummary(data.Root, data.SplitKind, data.Train.Count, data.Val.Count, Count(data.Train), Count(data.Val), sk.Count, sk);
        return ReportData.Collect(data, clf.Classes, records, top) with
        {
            Metrics = metrics,
            Dataset = summary,
            PredictionsSource = $"fresh, the bundle re-run on the {data.Val.Count} validation images of {data.Root}",
        };
    }

    private static int IndexOf(IReadOnlyList<string> list, string item)
    {
        for (int i = 0; i < list.Count; i++) if (list[i] == item) return i;
        return -1;
    }
}
