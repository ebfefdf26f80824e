using System.Text;
using System.Text.Json;
using Headstart.Bundles;
using Headstart.Evaluation;
using Headstart.IO;
using Headstart.Training;

namespace Headstart.Reporting;

/// <summary>
/// The evaluation report of a trained bundle as one self-contained HTML page (fastai's ClassificationInterpretation,
/// as a file): config, loss/accuracy curves, confusion-matrix heatmap, per-class precision/recall/F1, most-confused
/// pairs, the top-loss validation images, and dataset statistics.
/// </summary>
public static class TrainingReport
{
    public const string FileName = "report.html";

    /// <summary>Writes report.html and report-data.json into <paramref name="dir"/> (e.g. a bundle's temp directory
    /// inside ModelBundle.Save's atomic write).</summary>
    public static void WriteInto(string dir, BundleManifest manifest, ReportData data)
    {
        data.Save(Path.Combine(dir, ReportData.FileName));
        File.WriteAllText(Path.Combine(dir, FileName), Render(manifest, data));
    }

    /// <summary>Writes the report to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, BundleManifest manifest, ReportData data) =>
        AtomicFiles.WriteAllText(path, Render(manifest, data));

    public static string Render(BundleManifest manifest, ReportData data)
    {
        var metrics = data.Metrics ?? manifest.Metrics;
        var dataset = data.Dataset ?? manifest.Dataset;
        var body = new StringBuilder();
        string where = dataset is null ? "" : $" on {dataset.Root}";
        body.Append("<h1>").Append(Html.Text($"{manifest.Arch}{where}")).Append("</h1>\n");
        body.Append("<p class=\"sub\">").Append(Html.Text(
            $"{manifest.Classes.Count} classes · {(manifest.PretrainedFrom is null ? "trained from random initialisation" : "transfer learning from " + Path.GetFileName(manifest.PretrainedFrom))}" +
            $" · created {manifest.CreatedUtc:yyyy-MM-dd HH:mm} UTC")).Append("</p>\n");

        body.Append("<div class=\"cards\">");
        Card(body, "val accuracy", metrics is null ? "n/a" : Html.Percent(metrics.Accuracy));
        Card(body, "macro F1", metrics is null ? "n/a" : Html.Num(metrics.MacroF1, "0.000"));
        Card(body, "val images", metrics?.Count.ToString() ?? "n/a");
        Card(body, "train images", dataset?.TrainCount.ToString() ?? "n/a");
        if (manifest.HeadFit is { } fit) Card(body, "head fit", $"L-BFGS, L2 {fit.Lambda:g2}");
        else Card(body, "epochs", (manifest.History?.Count ?? 0).ToString());
        Card(body, "train time", $"{Html.Num(manifest.TrainSeconds, "0.0")} s");
        body.Append("</div>\n");
        body.Append("<p class=\"muted\">Predictions: ").Append(Html.Text(data.PredictionsSource)).Append(".</p>\n");

        Curves(body, manifest);
        if (metrics is not null) Metrics(body, metrics);
        TopLosses(body, data.TopLosses);
        Dataset(body, dataset, data.ImageSizes);
        Config(body, manifest);
        return Html.Page($"Headstart report: {manifest.Arch}", body.ToString());
    }

    private static void Card(StringBuilder sb, string key, string value) =>
        sb.Append("<div class=\"card\"><div class=\"v\">").Append(Html.Text(value)).Append("</div><div class=\"k\">").Append(Html.Text(key)).Append("</div></div>");

    private static void Curves(StringBuilder sb, BundleManifest m)
    {
        if (m.HeadFit is { } fit)
        {
            HeadFitCurve(sb, fit);
            return;
        }
        var h = m.History ?? [];
        sb.Append("<section id=\"curves\"><h2>Training curves</h2>");
        if (h.Count == 0) { sb.Append("<p class=\"muted\">No training history in this bundle.</p></section>\n"); return; }
        var trainLoss = new Series("train loss", h.Select(r => ((double)r.Epoch, r.TrainLoss)).ToList());
        var valLoss = new Series("val loss", h.Select(r => ((double)r.Epoch, r.ValLoss ?? double.NaN)).ToList(), Dashed: true);
        var trainAcc = new Series("train accuracy", h.Select(r => ((double)r.Epoch, r.TrainAccuracy)).ToList());
        var valAcc = new Series("val accuracy", h.Select(r => ((double)r.Epoch, r.ValAccuracy ?? double.NaN)).ToList(), Dashed: true);
        sb.Append("<div class=\"row\"><div>")
          .Append(SvgCharts.Line("loss-curve", "Loss per epoch", "epoch", "cross-entropy", [trainLoss, valLoss]))
          .Append("</div><div>")
          .Append(SvgCharts.Line("accuracy-curve", "Accuracy per epoch", "epoch", "accuracy", [trainAcc, valAcc], yMin: 0, yMax: 1, percentY: true))
          .Append("</div></div>");
        bool keepBest = m.Training?.TryGetValue("keep_best", out var kb) == true && kb.ValueKind == JsonValueKind.True;
        sb.Append("<p class=\"muted\">Train values are averaged over each epoch while the weights change (with augmentation when enabled); " +
                  "val values are measured after the epoch. ")
          .Append(keepBest ? "The bundle keeps the weights of the best val epoch." : "The bundle keeps the last epoch's weights.")
          .Append("</p></section>\n");
    }

    /// <summary>An L-BFGS head has no epochs: its curve is the cross-validated loss of each L2 strength tried.</summary>
    private static void HeadFitCurve(StringBuilder sb, HeadFitRecord fit)
    {
        sb.Append("<section id=\"curves\"><h2>Head fit</h2>");
        var cv = new Series($"held-out loss ({fit.Folds}-fold)", fit.Lambdas.Zip(fit.CvLoss, (l, c) => (Math.Log10(l), c)).ToList());
        var chosen = new Series("chosen", [(Math.Log10(fit.Lambda), fit.CvLoss[fit.Lambdas.ToList().IndexOf(fit.Lambda)])], Dashed: true);
        sb.Append(SvgCharts.Line("head-fit-curve", "Cross-validated loss by L2 strength", "log10 L2 strength", "cross-entropy", [cv, chosen]));
        sb.Append("<p class=\"muted\">The head is a logistic regression on the frozen features, fitted to convergence by L-BFGS. Its L2 strength ")
          .Append(Html.Text(fit.Lambda.ToString("g2", System.Globalization.CultureInfo.InvariantCulture)))
          .Append(" has the least loss on held-out training images, over ").Append(fit.Folds.ToString())
          .Append(" folds; the validation set played no part. On the training images: loss ").Append(Html.Num(fit.TrainLoss, "0.000"))
          .Append(", accuracy ").Append(Html.Text(Html.Percent(fit.TrainAccuracy))).Append(".</p></section>\n");
    }

    private static void Metrics(StringBuilder sb, ClassificationMetrics m)
    {
        sb.Append("<section id=\"metrics\"><h2>Validation results</h2><div class=\"row\"><div>");
        sb.Append("<h3>Confusion matrix</h3>").Append(SvgCharts.ConfusionMatrix("confusion-matrix", m.Classes, m.ConfusionMatrix));
        sb.Append("<p class=\"muted\">Rows: actual class; columns: predicted. Colour: share of the row.</p></div><div>");
        sb.Append("<h3>Per class</h3>");
        sb.Append(Html.Table(["class", "precision", "recall", "F1", "support"],
            m.PerClass.Select(c => (IReadOnlyList<string>)[Html.Text(c.Class), Html.Num(c.Precision, "0.000"), Html.Num(c.Recall, "0.000"),
                Html.Num(c.F1, "0.000"), c.Support.ToString()]), id: "per-class"));
        sb.Append("<h3>Most confused</h3>");
        var confused = m.MostConfused().Take(10).ToList();
        if (confused.Count == 0) sb.Append("<p>No confusions: every validation image was classified correctly.</p>");
        else
            sb.Append(Html.Table(["actual → predicted", "count", "share of actual"],
                confused.Select(c =>
                {
                    int support = m.PerClass.FirstOrDefault(p => p.Class == c.Actual)?.Support ?? 0;
                    return (IReadOnlyList<string>)[$"{Html.Text(c.Actual)} → {Html.Text(c.Predicted)}", c.Count.ToString(),
                        support == 0 ? "" : Html.Percent(c.Count / (double)support)];
                }), id: "most-confused"));
        sb.Append("</div></div></section>\n");
    }

    private static void TopLosses(StringBuilder sb, IReadOnlyList<TopLoss> tops)
    {
        sb.Append("<section id=\"top-losses\"><h2>Top losses</h2>");
        if (tops.Count == 0)
        {
            sb.Append("<p class=\"muted\">No per-image predictions available: rebuild with <code>headstart report BUNDLE --data DATA</code>.</p></section>\n");
            return;
        }
        sb.Append("<p class=\"muted\">The validation images the model got most wrong (highest cross-entropy). " +
                  "Probability = the model's confidence in its prediction.</p><div class=\"grid\">");
        foreach (var t in tops)
        {
            bool wrong = t.Actual != t.Predicted;
            sb.Append("<figure>");
            if (t.Thumbnail is not null && t.Thumbnail.StartsWith("data:image/jpeg;base64,", StringComparison.Ordinal))
                sb.Append("<img src=\"").Append(Html.Text(t.Thumbnail)).Append("\" alt=\"").Append(Html.Text(Path.GetFileName(t.Path))).Append("\">");
            else
                sb.Append("<div class=\"noimg\">image unavailable</div>");
            sb.Append("<figcaption>true <b>").Append(Html.Text(t.Actual)).Append("</b><br>pred <span class=\"").Append(wrong ? "bad" : "good").Append("\">")
              .Append(Html.Text(t.Predicted)).Append("</span> (").Append(Html.Percent(t.Probability)).Append(")<br><span class=\"muted\">loss ")
              .Append(Html.Num(t.Loss, "0.00")).Append(" · ").Append(Html.Text(Path.GetFileName(t.Path))).Append("</span></figcaption></figure>");
        }
        sb.Append("</div></section>\n");
    }

    private static void Dataset(StringBuilder sb, DatasetSummary? d, ImageSizeStats? sizes)
    {
        sb.Append("<section id=\"dataset\"><h2>Dataset</h2>");
        if (d is null) { sb.Append("<p class=\"muted\">No dataset summary in this bundle.</p></section>\n"); return; }
        sb.Append(Html.KeyValues([("root", d.Root), ("split", d.SplitKind), ("train images", d.TrainCount.ToString()),
            ("val images", d.ValCount.ToString()), ("skipped files", d.SkippedCount.ToString())]));
        var classes = d.TrainPerClass.Keys.Union(d.ValPerClass.Keys).ToList();
        var rows = classes.Select(c => (c, (double)d.TrainPerClass.GetValueOrDefault(c), (double)d.ValPerClass.GetValueOrDefault(c))).ToList();
        sb.Append("<div class=\"row\"><div>").Append(SvgCharts.Bars("class-counts", "Images per class", rows, "train", "val")).Append("</div>");
        if (sizes is { Measured: > 0 })
        {
            sb.Append("<div>").Append(SvgCharts.Bars("size-histogram", "Shorter image side (px)",
                sizes.ShortSide.Select(b => (b.Bin, (double)b.Count, 0.0)).ToList(), "images", null));
            sb.Append(Html.KeyValues([
                ("measured", sizes.Measured == sizes.Total ? $"{sizes.Measured} images" : $"{sizes.Measured} of {sizes.Total} images (evenly spaced sample)"),
                ("width min / median / max", $"{sizes.MinWidth} / {sizes.MedianWidth} / {sizes.MaxWidth}"),
                ("height min / median / max", $"{sizes.MinHeight} / {sizes.MedianHeight} / {sizes.MaxHeight}"),
                ("most common sizes", string.Join(", ", sizes.CommonSizes.Select(s => $"{s.Width}x{s.Height} ({s.Count})"))),
                .. sizes.Unreadable > 0 ? new[] { ("unreadable", sizes.Unreadable.ToString()) } : [],
            ])).Append("</div>");
        }
        sb.Append("</div>");
        sb.Append("<h3>Skipped files</h3>");
        if (d.Skipped.Count == 0) sb.Append("<p>None: every file was used.</p>");
        else
        {
            sb.Append(Html.Table(["reason", "files"], d.Skipped.GroupBy(s => s.Reason).OrderByDescending(g => g.Count())
                .Select(g => (IReadOnlyList<string>)[Html.Text(g.Key), g.Count().ToString()]), id: "skip-reasons"));
            const int shown = 100;
            sb.Append(Html.Table(["file", "reason"], d.Skipped.Take(shown)
                .Select(s => (IReadOnlyList<string>)[Html.Text(s.Path), $"<span class=\"muted\">{Html.Text(s.Reason)}</span>"]), id: "skipped", cssClass: "data skipped"));
            if (d.Skipped.Count > shown) sb.Append($"<p class=\"muted\">… and {d.Skipped.Count - shown} more (all listed in model.json).</p>");
        }
        sb.Append("</section>\n");
    }

    private static void Config(StringBuilder sb, BundleManifest m)
    {
        sb.Append("<section id=\"config\"><h2>Run configuration</h2><div class=\"row\"><div>");
        var p = m.Preprocessing;
        sb.Append(Html.KeyValues([
            ("arch", m.Arch), ("pretrained from", m.PretrainedFrom ?? "none (random initialisation)"),
            ("classes", string.Join(", ", m.Classes)),
            ("input", $"resize {p.ResizeSize}, crop {p.InputSize}, {p.ChannelOrder}, scale 0-{p.ValueScale}" + (p.MeanImage is null ? "" : $", mean image {p.MeanImage}")),
            ("mean / std", $"[{string.Join(", ", p.Mean)}] / [{string.Join(", ", p.Std)}]"),
            ("train time", $"{Html.Num(m.TrainSeconds, "0.0")} s"),
            ("Headstart / TorchSharp / .NET", $"{m.Versions.Headstart} / {m.Versions.TorchSharp} / {m.Versions.Dotnet}"),
            ("created", m.CreatedUtc.ToString("u")),
        ]));
        sb.Append("</div><div>");
        if (m.Training is { Count: > 0 } t)
            sb.Append(Html.KeyValues(t.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, Show(kv.Value)))));
        sb.Append("</div></div></section>\n");
    }

    private static string Show(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString() ?? "",
        JsonValueKind.Null => "(default)",
        _ => e.GetRawText(),
    };
}
