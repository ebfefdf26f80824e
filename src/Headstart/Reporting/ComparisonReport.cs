using System.Globalization;
using System.Text;
using Headstart.IO;
using Headstart.Training;

namespace Headstart.Reporting;

/// <summary>One data set's comparison on the page: a title, a sentence on what the data is, and the result.</summary>
public sealed record ComparisonPanel(string Title, string Intro, ComparisonResult Result);

/// <summary>
/// The transfer-vs-scratch comparison as one self-contained HTML page, top-down: the headline (findings computed from
/// the measured numbers), the data-efficiency curves with 95% intervals, the compute table (wall time, core-seconds,
/// trainable parameters, backbone passes), then any contrast panels (another data set, the same protocol), the
/// per-epoch validation curves and the protocol.
/// </summary>
public static class ComparisonReport
{
    public const string FileName = "comparison.html";

    public static void Write(string path, ComparisonResult result, string? intro = null) =>
        AtomicFiles.WriteAllText(path, Render(result, intro));

    public static string Render(ComparisonResult r, string? intro = null) =>
        Render(new ComparisonPanel(Path.GetFileName(Path.TrimEndingDirectorySeparator(r.Dataset)), intro ?? "", r), []);

    /// <summary>The main panel in full, then each contrast panel with its headline, curve and compute table.</summary>
    public static string Render(ComparisonPanel main, IReadOnlyList<ComparisonPanel> contrasts)
    {
        var r = main.Result;
        var sb = new StringBuilder();
        sb.Append("<h1>Transfer learning vs training from scratch</h1>\n<p class=\"sub\">")
          .Append(Html.Text($"{r.Dataset} · {r.Classes} classes · {r.ValCount} validation images · seed {r.Options.Seed}" +
                            $"{(r.Options.Seeds > 1 ? $" (+{r.Options.Seeds - 1} more for the curve)" : "")} · {Environment.ProcessorCount} CPU cores"))
          .Append("</p>\n");
        if (main.Intro.Length > 0) sb.Append("<p>").Append(Html.Text(main.Intro)).Append("</p>\n");

        var findings = ComparisonFindings.Of(r);
        if (!findings.IsEmpty)
        {
            sb.Append("<section id=\"findings\"><h2>What the measurements show</h2>");
            foreach (var line in findings.Summary) sb.Append("<p class=\"finding\">").Append(Html.Text(line)).Append("</p>");
            sb.Append("<ul>");
            foreach (var line in findings.Details) sb.Append("<li>").Append(Html.Text(line)).Append("</li>");
            sb.Append("</ul><p class=\"muted\">\"Noise\" is two standard errors of the difference of two mean accuracies, from the seeds' " +
                      "spread and the validation sample's size: smaller differences are not evidence either way.</p></section>\n");
        }
        Efficiency(sb, r, "", main.Title);
        Compute(sb, r, "");
        foreach (var (panel, i) in contrasts.Select((p, i) => (p, i)))
        {
            var c = panel.Result;
            sb.Append($"<section id=\"contrast{(i == 0 ? "" : i + 1)}\" class=\"contrast\"><h2>Contrast: ").Append(Html.Text(panel.Title)).Append("</h2>");
            if (panel.Intro.Length > 0) sb.Append("<p>").Append(Html.Text(panel.Intro)).Append("</p>");
            sb.Append("<p class=\"sub\">").Append(Html.Text($"{c.Dataset} · {c.Classes} classes · {c.ValCount} validation images")).Append("</p>");
            var cf = ComparisonFindings.Of(c);
            foreach (var line in cf.Summary) sb.Append("<p class=\"finding\">").Append(Html.Text(line)).Append("</p>");
            if (cf.Details.Count > 0) sb.Append("<ul>").Append(string.Concat(cf.Details.Select(l => "<li>" + Html.Text(l) + "</li>"))).Append("</ul>");
            sb.Append("</section>\n");
            string prefix = i == 0 ? "contrast-" : $"contrast{i + 1}-";
            Efficiency(sb, c, prefix, panel.Title);
            Compute(sb, c, prefix);
        }
        TrainingCurves(sb, r);
        Protocol(sb, r);
        return Html.Page("Headstart: transfer vs scratch", sb.ToString());
    }

    private static string Pm(EfficiencyPoint p)
    {
        var (lo, hi) = p.Interval;
        return $"{Html.Percent(p.ValAccuracy)} <span class=\"muted\">[{Html.Num(lo * 100, "0.0")}, {Html.Num(hi * 100, "0.0")}]</span>";
    }

    private static void Efficiency(StringBuilder sb, ComparisonResult r, string prefix, string title)
    {
        if (r.Curve.Count == 0) return;
        var series = r.Curve.GroupBy(p => p.Recipe).OrderBy(g => g.Key).Select(g => new Series(Comparison.NameOf(g.Key),
            g.OrderBy(p => p.PerClass).Select(p => ((double)p.PerClass, p.ValAccuracy)).ToList(), Dashed: g.Key != Recipe.Frozen, Color: ColorOf(g.Key),
            ErrorBars: g.Select(p => ((double)p.PerClass, p.Interval.Lo, p.Interval.Hi)).ToList())).ToList();
        double lo = r.Curve.Min(p => p.Interval.Lo), hi = r.Curve.Max(p => p.Interval.Hi);
        int seeds = r.Curve.Max(p => p.Runs.Count);
        sb.Append($"<section id=\"{prefix}data-efficiency\"><h2>Accuracy vs labelled images per class{(prefix.Length > 0 ? ": " + Html.Text(title) : "")}</h2>")
          .Append("<p>Val accuracy against the number of labelled training images per class, on the same validation images. " +
                  (seeds > 1 ? $"Each point below all the images is the mean of {seeds} seeds, each drawing its own labelled subset; " +
                               "on all of them there is no subset to draw, and each recipe runs once. " : "") +
                  "The whiskers are 95% intervals from the seeds' spread and the validation sample's size" +
                  (r.Curve.Any(p => p.Runs.Count == 1) ? " (single runs: the validation sample's only)" : "") + ".</p>")
          .Append(SvgCharts.Line($"{prefix}efficiency-curve", "Val accuracy vs labelled images per class", "labelled images per class (log scale)",
              "val accuracy", series, yMin: Math.Max(0, Math.Floor(lo * 10) / 10), yMax: Math.Min(1, Math.Ceiling(hi * 10) / 10),
              logX: true, percentY: true, width: 760, height: 380));
        var shots = r.Curve.Select(p => p.PerClass).Distinct().Order().ToList();
        var recipes = r.Curve.Select(p => p.Recipe).Distinct().Order().ToList();
        sb.Append(Html.Table(["images per class", .. recipes.Select(Comparison.NameOf)],
            shots.Select(k => (IReadOnlyList<string>)[
                k.ToString(CultureInfo.InvariantCulture) + (r.Curve.Any(p => p.PerClass == k && p.All) ? " (all)" : ""),
                .. recipes.Select(rc => r.Curve.FirstOrDefault(p => p.PerClass == k && p.Recipe == rc) is { } p
                    ? Pm(p) + $" <span class=\"muted\">({p.Runs.Count} run{(p.Runs.Count == 1 ? "" : "s")})</span>" : "")]),
            id: $"{prefix}efficiency-table"));
        sb.Append("<p class=\"muted\">Mean val accuracy [95% interval].</p></section>\n");
    }

    /// <summary>One colour per recipe on every chart of the page (Okabe-Ito).</summary>
    private static string ColorOf(Recipe r) => SvgCharts.Palette[r switch
    {
        Recipe.Frozen => 0,
        Recipe.Scratch => 1,
        Recipe.SmallCnn => 2,
        _ => 3,
    }];

    private static void Compute(StringBuilder sb, ComparisonResult r, string prefix)
    {
        if (r.Runs.Count == 0) return;
        static string N(double v) => v.ToString("N0", CultureInfo.InvariantCulture);
        sb.Append($"<section id=\"{prefix}compute\"><h2>What each recipe costs</h2>");
        sb.Append(Html.Table(["recipe", "val accuracy", "wall time", "core-seconds", "trainable parameters", "backbone passes: forward + training",
                "epochs", "all its runs: core-seconds"],
            r.Runs.Select(run =>
            {
                var t = r.Totals(run.Recipe);
                return (IReadOnlyList<string>)[
                    $"{Html.Text(run.Name)}<br><span class=\"muted\">{Html.Text(run.Model + (run.Pretrained ? ", pretrained" : ", random init"))}</span>",
                    Html.Percent(run.ValAccuracy), Html.Num(run.Seconds, "0.0") + " s", Html.Num(run.CpuSeconds, "0.0"),
                    N(run.TrainableParameters), $"{N(run.Passes.Inference)} + {N(run.Passes.Training)}",
                    run.Epochs.ToString(CultureInfo.InvariantCulture),
                    $"{Html.Num(t.CpuSeconds, "0")} ({t.Runs} run{(t.Runs == 1 ? "" : "s")})"];
            }), id: $"{prefix}compute-table"));
        sb.Append($"<p class=\"muted\">One run per recipe on all {r.Runs[0].TrainImages} training images (the first seed). Core-seconds are the process's CPU time " +
                  "over the run, every thread included. Backbone passes count images through the network's feature layers: forward " +
                  "only (feature extraction, validation) or forward and backward (training steps); a frozen backbone's features are " +
                  "computed once and cached, so its head trains with no backbone pass at all, and the shot-count runs reuse them. " +
                  "Every recipe keeps its last epoch's weights (no selection on the validation set).</p>");
        if (r.Options.Skip.Count > 0)
            sb.Append("<p class=\"muted\">Not run: ").Append(Html.Text(string.Join(", ", r.Options.Skip.Select(Comparison.NameOf))))
              .Append(Html.Text(r.Options.SkipReason is { } why ? $" ({why})" : "")).Append(".</p>");
        sb.Append("</section>\n");
    }

    private static void TrainingCurves(StringBuilder sb, ComparisonResult r)
    {
        if (r.Runs.Count == 0) return;
        // The recipes run very different epoch counts (1 vs 150): overlay them on training progress instead.
        static double Progress(EpochRecord h, RecipeRun run) => 100.0 * h.Epoch / Math.Max(1, run.History.Count);
        var acc = r.Runs.Select(run => new Series(run.Name, run.History.Select(h => (Progress(h, run), h.ValAccuracy ?? double.NaN)).ToList())).ToList();
        var loss = r.Runs.Select(run => new Series(run.Name, run.History.Select(h => (Progress(h, run), h.ValLoss ?? double.NaN)).ToList())).ToList();
        sb.Append("<section id=\"curves\"><h2>Validation curves of the runs on all images</h2><div class=\"row\"><div>")
          .Append(SvgCharts.Line("accuracy-curve", "Val accuracy during training", "% of the run's epochs", "val accuracy", acc, yMin: 0, yMax: 1, percentY: true))
          .Append("</div><div>")
          .Append(SvgCharts.Line("loss-curve", "Val loss during training", "% of the run's epochs", "cross-entropy", loss))
          .Append("</div></div><p class=\"muted\">Epoch counts: ")
          .Append(Html.Text(string.Join(", ", r.Runs.Select(run => $"{run.Name} {run.Epochs}"))))
          .Append(".</p></section>\n");
    }

    private static void Protocol(StringBuilder sb, ComparisonResult r)
    {
        var o = r.Options;
        sb.Append("<section id=\"config\"><h2>Protocol</h2>");
        var protocol = new List<(string, string)> { ("pretrained model", o.Model + (o.WeightsPath is null ? "" : $" ({o.WeightsPath})")) };
        foreach (var recipe in Enum.GetValues<Recipe>().Where(rc => !o.Skip.Contains(rc)))
            protocol.Add((Comparison.NameOf(recipe), recipe switch
            {
                Recipe.Frozen => (o.Epochs is int epochs
                                     ? $"the SGD head: {epochs} epochs on cached features, "
                                     : "train's default plan: the head fitted on cached features by L-BFGS, its L2 strength chosen by " +
                                       $"{TrainingPlanner.LbfgsFolds}-fold cross-validation on the training images (SGD where the plan's note says why), ") +
                                 (o.AugmentViews is int v
                                     ? $"{v} extra cached view(s) per image (the first is its mirror image)"
                                     : o.Epochs is null ? "the centre crop of each image"
                                     : $"the mirror view cached per image while the smallest class has fewer than {TrainingPlanner.MirrorViewBelowPerClass} training images"),
                Recipe.FineTune => $"{o.Epochs ?? TrainOptions.FrozenRecipeEpochs} frozen-head epochs on cached features, then " +
                                   $"{o.FineTuneEpochs} unfrozen (SGD, one-cycle, discriminative rates)",
                Recipe.Scratch => $"budget: {o.ScratchEpochs} epoch(s) at the pretrained model's input size (a forward and backward pass " +
                                  "per training image each), AdamW 1e-3, one-cycle, light augmentation, random initialisation",
                _ => $"small_cnn on 32-px inputs, at least {o.SmallCnnEpochs} epochs and {o.SmallCnnMinSteps} steps, AdamW 2e-3, one-cycle, no augmentation",
            }));
        protocol.Add(("shot counts", o.Shots.Count == 0 ? "none" : string.Join(", ", o.Shots)));
        protocol.Add(("seeds / batch size", $"{o.Seed}..{o.Seed + o.Seeds - 1} / {o.BatchSize}" +
            (o.MicroBatch is int mb && mb < o.BatchSize ? $" (fine-tuning and same-arch scratch: accumulated over chunks of {mb} images to bound memory; their BatchNorm normalises each chunk)" : "")));
        sb.Append(Html.KeyValues(protocol));
        sb.Append("</section>\n");
    }
}
