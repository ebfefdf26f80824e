using System.CommandLine;
using Headstart.Cli.Common;
using Headstart.Data;
using Headstart.Evaluation;
using Headstart.Inference;
using Spectre.Console;

namespace Headstart.Cli.Evaluate;

/// <summary>headstart evaluate BUNDLE DATA: accuracy, per-class precision/recall/F1 and the confusion matrix.</summary>
public static class EvaluateCommand
{
    private static readonly Argument<string> Bundle = new("bundle") { Description = "Bundle directory written by 'headstart train'" };
    private static readonly Argument<string> Data = new("data") { Description = "ImageFolder root (its val/ split, or every image with --split all)" };
    private static readonly Option<string> Split = Opt.Choice("--split", "Which images: val (val/ folder, or the bundle's stratified split), train, or all", "val", "val", "train", "all");
    private static readonly Option<string?> Weights = Opt.Maybe<string>("--weights", "Weights file to use instead of the bundle's own (same arch and classes)");
    private static readonly Option<int> BatchSize = Opt.Of("--batch-size", "Images per forward pass", 32);

    public static Command Create()
    {
        var cmd = new Command("evaluate", "Evaluate a trained bundle on a labelled image folder") { Bundle, Data, Split, BatchSize, Weights };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            using var clf = Classifier.Load(parse.GetValue(Bundle)!, weightsOverride: parse.GetValue(Weights));
            var data = ImageFolder.Load(parse.GetValue(Data)!, clf.Manifest.TrainingSplit());
            // Map the data's class names onto the bundle's; unknown classes are an error, not a silent miss.
            var unknown = data.Classes.Except(clf.Classes).ToList();
            if (unknown.Count > 0)
                throw new CliException($"the data has classes the bundle does not know: {string.Join(", ", unknown)} (bundle classes: {string.Join(", ", clf.Classes)})");
            var samples = parse.GetValue(Split) switch { "train" => data.Train, "all" => [.. data.Train, .. data.Val], _ => data.Val };
            if (samples.Count == 0) throw new CliException($"no images in the '{parse.GetValue(Split)}' split of {data.Root}");
            var actual = new List<int>();
            var predicted = new List<int>();
            var skipped = new List<SkippedFile>();
            output.Line($"evaluating {samples.Count} images...");
            foreach (var chunk in samples.Chunk(Math.Max(1, parse.GetValue(BatchSize))))
            {
                var ok = new List<(ImageSample S, DecodedImage I)>();
                foreach (var smp in chunk)
                {
                    try { ok.Add((smp, data.Source.Decode(smp))); }
                    catch (ImageDecodeException ex) { skipped.Add(new SkippedFile(smp.Path, ex.Reason)); }
                }
                var preds = clf.PredictDecoded(ok.Select(o => o.I).ToList());
                for (int i = 0; i < ok.Count; i++)
                {
                    actual.Add(IndexOf(clf.Classes, data.Classes[ok[i].S.Label]));
                    predicted.Add(IndexOf(clf.Classes, preds[i].Label));
                }
            }
            var metrics = ClassificationMetrics.Compute(clf.Classes, actual, predicted);
            MetricsView.Write(output, metrics);
            if (skipped.Count > 0) output.Warn($"{skipped.Count} image(s) skipped: {string.Join("; ", skipped.Take(3).Select(k => $"{k.Path}: {k.Reason}"))}");
            return (Shell.Ok, new { accuracy = metrics.Accuracy, skipped = skipped.Count, metrics = MetricsView.ToJson(metrics) });
        }));
        return cmd;
    }

    private static int IndexOf(IReadOnlyList<string> list, string item)
    {
        for (int i = 0; i < list.Count; i++) if (list[i] == item) return i;
        return -1;
    }
}
