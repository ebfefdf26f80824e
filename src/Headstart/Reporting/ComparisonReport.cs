using System.Text;
using Headstart.IO;
using Headstart.Training;

namespace Headstart.Reporting;

/// <summary>
/// The transfer-vs-scratch comparison as one self-contained HTML page: the table of runs, their validation curves
/// overlaid, and the data-efficiency curve (val accuracy vs labelled images per class), with findings computed from the
/// measured numbers.
/// </summary>
public static class ComparisonReport
{
    public const string FileName = "comparison.html";

    public static void Write(string path, ComparisonResult result, string? intro = null) =>
        AtomicFiles.WriteAllText(path, Render(result, intro));

    public static string Render(ComparisonResult r, string? intro = null)
    {
        var sb = new StringBuilder();
        sb.Append("<h1>Transfer learning vs training from scratch</h1>\n<p class=\"sub\">")
          .Append(Html.Text($"{r.Dataset} · {r.Classes} classes · {r.ValCount} validation images · seed {r.Options.Seed} · {Environment.ProcessorCount} CPU cores"))
          .Append("</p>\n");
        if (intro is not null) sb.Append("<p>").Append(Html.Text(intro)).Append("</p>\n");

        var findings = Comparison.Findings(r);
        if (findings.Count > 0)
        {
            sb.Append("<section id=\"findings\"><h2>What the measurements show</h2><p class=\"finding\">").Append(Html.Text(findings[0])).Append("</p><ul>");
            foreach (var line in findings.Skip(1)) sb.Append("<li>").Append(Html.Text(line)).Append("</li>");
            sb.Append("</ul><p class=\"muted\">\"Noise\" is two standard errors of the difference of two accuracies on this many validation images: " +
                      "smaller differences are not evidence either way.</p></section>\n");
        }

        sb.Append("<section id=\"runs\"><h2>Runs on all training images</h2>");
        sb.Append(Html.Table(["recipe", "model", "val accuracy", "macro F1", "wall time", "trainable params", "epochs", "train images"],
            r.Runs.Select(run => (IReadOnlyList<string>)[Html.Text(run.Name), Html.Text(run.Model + (run.Pretrained ? " (pretrained)" : " (random init)")),
                Html.Percent(run.ValAccuracy), Html.Num(run.MacroF1, "0.000"), Html.Num(run.Seconds, "0.0") + " s",
                run.TrainableParameters.ToString("N0", System.Globalization.CultureInfo.InvariantCulture), run.Epochs.ToString(), run.TrainImages.ToString()]),
            id: "runs-table"));
        sb.Append("<p class=\"muted\">Same split, seed and batch size for every recipe; each keeps its last epoch's weights (no selection on the " +
                  "validation set). Wall time includes decoding and, for the frozen recipe, extracting the backbone features " +
                  "(read from the feature cache when an earlier run stored them).</p>");
        if (r.Options.Skip.Count > 0)
            sb.Append("<p class=\"muted\">Skipped on request: ").Append(Html.Text(string.Join(", ", r.Options.Skip.Select(Comparison.NameOf)))).Append(".</p>");
        sb.Append("</section>\n");

        if (r.Runs.Count > 0)
        {
            // The recipes run very different epoch counts (15 vs 150): overlay them on training progress instead.
            static double Progress(EpochRecord h, RecipeRun run) => 100.0 * h.Epoch / Math.Max(1, run.History.Count);
            var acc = r.Runs.Select(run => new Series(run.Name, run.History.Select(h => (Progress(h, run), h.ValAccuracy ?? double.NaN)).ToList())).ToList();
            var loss = r.Runs.Select(run => new Series(run.Name, run.History.Select(h => (Progress(h, run), h.ValLoss ?? double.NaN)).ToList())).ToList();
            sb.Append("<section id=\"curves\"><h2>Validation curves</h2><div class=\"row\"><div>")
              .Append(SvgCharts.Line("accuracy-curve", "Val accuracy during training", "% of the run's epochs", "val accuracy", acc, yMin: 0, yMax: 1, percentY: true))
              .Append("</div><div>")
              .Append(SvgCharts.Line("loss-curve", "Val loss during training", "% of the run's epochs", "cross-entropy", loss))
              .Append("</div></div><p class=\"muted\">Epoch counts: ")
              .Append(Html.Text(string.Join(", ", r.Runs.Select(run => $"{run.Name} {run.Epochs}"))))
              .Append(".</p></section>\n");
        }

        if (r.Curve.Count > 0)
        {
            var series = r.Curve.GroupBy(p => p.Recipe).Select(g => new Series(Comparison.NameOf(g.Key),
                g.OrderBy(p => p.PerClass).Select(p => ((double)p.PerClass, p.ValAccuracy)).ToList(), Dashed: g.Key != Recipe.Frozen)).ToList();
            sb.Append("<section id=\"data-efficiency\"><h2>Data efficiency</h2>")
              .Append("<p>Val accuracy as a function of the number of labelled training images per class, on the same validation set. " +
                      "This is where transfer learning is supposed to pay off: when there isn't much labelled data.</p>")
              .Append(SvgCharts.Line("efficiency-curve", "Val accuracy vs labelled images per class", "labelled images per class (log scale)",
                  "val accuracy", series, yMin: Math.Max(0, Math.Floor(r.Curve.Min(p => p.ValAccuracy) * 10 - 0.5) / 10),
                  yMax: Math.Min(1, Math.Ceiling(r.Curve.Max(p => p.ValAccuracy) * 10 + 0.5) / 10), logX: true, percentY: true, width: 720, height: 360));
            var shots = r.Curve.Select(p => p.PerClass).Distinct().Order().ToList();
            var recipes = r.Curve.Select(p => p.Recipe).Distinct().Order().ToList();
            sb.Append(Html.Table(["images per class", .. recipes.Select(Comparison.NameOf)],
                shots.Select(k => (IReadOnlyList<string>)[
                    k.ToString() + (r.Curve.Any(p => p.PerClass == k && p.All) ? " (all)" : ""),
                    .. recipes.Select(rc => r.Curve.FirstOrDefault(p => p.PerClass == k && p.Recipe == rc) is { } p ? Html.Percent(p.ValAccuracy) : "")]),
                id: "efficiency-table"));
            sb.Append("</section>\n");
        }

        var o = r.Options;
        sb.Append("<section id=\"config\"><h2>Protocol</h2>");
        var protocol = new List<(string, string)> { ("pretrained model", o.Model + (o.WeightsPath is null ? "" : $" ({o.WeightsPath})")) };
        foreach (var recipe in Enum.GetValues<Recipe>().Where(rc => !o.Skip.Contains(rc)))
            protocol.Add((Comparison.NameOf(recipe), recipe switch
            {
                Recipe.Frozen => $"{o.Epochs} epochs on cached features, AdamW 1e-3, cosine, {o.AugmentViews} extra cached view(s) per image (the first is its mirror image)",
                Recipe.FineTune => $"{o.Epochs} frozen-head epochs on cached features (SGD, StepLR), then {o.FineTuneEpochs} unfrozen (SGD, one-cycle, discriminative rates)",
                Recipe.Scratch => $"{o.ScratchEpochs} epochs, AdamW 1e-3, one-cycle",
                _ => $"small_cnn on 32-px inputs, at least {o.SmallCnnEpochs} epochs and {o.SmallCnnMinSteps} steps, AdamW 2e-3, one-cycle, no augmentation",
            }));
        protocol.Add(("shot counts", o.Shots.Count == 0 ? "none" : string.Join(", ", o.Shots)));
        protocol.Add(("seed / batch size", $"{o.Seed} / {o.BatchSize}"));
        sb.Append(Html.KeyValues(protocol));
        sb.Append("</section>\n");
        return Html.Page("Headstart: transfer vs scratch", sb.ToString());
    }
}
