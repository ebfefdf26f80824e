using System.CommandLine;
using Headstart.Cli.Common;
using Headstart.Data;
using Headstart.Models;
using Headstart.Reporting;
using Headstart.Training;
using Spectre.Console;

namespace Headstart.Cli.Compare;

/// <summary>
/// headstart compare DATA: transfer (frozen, fine-tuned) vs the same architecture from scratch vs a small CNN from
/// scratch, on one split and seed, plus a data-efficiency curve; prints the table and writes an HTML comparison.
/// </summary>
public static class CompareCommand
{
    private static readonly Argument<string> Data = new("data") { Description = "ImageFolder root: train/ + val/, or class subfolders (split with --val-split)" };
    private static readonly Option<string> Model = Opt.Of("--model", "Pretrained model for the transfer and same-architecture runs", ModelRegistry.DefaultModel);
    private static readonly Option<string?> Weights = Opt.Maybe<string>("--weights", "Pretrained weights file overriding the default source");
    private static readonly Option<int?> Epochs = Opt.Maybe<int?>("--epochs", "Frozen-transfer head epochs, also fine-tune's head phase (on cached features: cheap). Given, the frozen head trains by SGD (train's --head-fit sgd); default: train's plan, the L-BFGS head, and 25 epochs for fine-tune's head phase");
    private static readonly Option<int> FineTuneEpochs = Opt.Of("--fine-tune-epochs", "Unfrozen fine-tuning epochs (after --epochs frozen-head epochs on cached features); full backbone passes, slow on a CPU", 2);
    private static readonly Option<int> ScratchEpochs = Opt.Of("--scratch-epochs", "Epochs of the same architecture from random initialisation", 3);
    private static readonly Option<int> CnnEpochs = Opt.Of("--cnn-epochs", "Minimum epochs of the small CNN from scratch", 20);
    private static readonly Option<string> Shots = Opt.Of("--shots", "Labelled images per class for the data-efficiency curve, comma-separated ('none' to skip)", "5,10,20,50");
    private static readonly Option<int> Seeds = Opt.Of("--seeds", "Runs per shot count of the data-efficiency curve, one seed each (each draws its own labelled subset; more give tighter intervals)", 1);
    private static readonly Option<string[]> Skip = new("--skip")
    {
        Description = "Recipes to leave out: frozen, fine-tune, scratch, small-cnn (repeat or comma-separate)",
        AllowMultipleArgumentsPerToken = true,
    };
    private static readonly Option<string?> Out = Opt.Maybe<string>("--out", "HTML comparison to write (default: ./<data-folder>-comparison.html)");
    private static readonly Option<int> Seed = Opt.Of("--seed", "Random seed (the same for every recipe)", 42);
    private static readonly Option<int> BatchSize = Opt.Of("--batch-size", "Mini-batch size", 32);
    private static readonly Option<int?> MicroBatch = Opt.Maybe<int?>("--micro-batch", "Fine-tuning and same-arch scratch: chunks of at most N images per batch, gradients accumulated (less memory)");
    private static readonly Option<int?> AugmentViews = new("--augment-views")
    {
        Description = $"Frozen transfer: augmented views per training image (default: train's, from the data: 1 below {TrainingPlanner.MirrorViewBelowPerClass} training images per class, else 0)",
    };
    private static readonly Option<double> ValSplit = Opt.Of("--val-split", "Validation fraction when DATA has no train/ and val/ folders", 0.2);
    private static readonly Option<int> Workers = Opt.Of("--workers", "Decode threads (0 = number of cores)", 0);
    private static readonly Option<string?> CacheDir = Opt.Maybe<string>("--cache-dir", "Feature cache directory ('none': a temporary one)");

    public static Command Create()
    {
        var cmd = new Command("compare", "Transfer learning vs training from scratch on the same data: table, curves and a data-efficiency curve")
        {
            Data, Model, Weights, Epochs, FineTuneEpochs, ScratchEpochs, CnnEpochs, Shots, Seeds, Skip, Out, Seed, BatchSize, MicroBatch, AugmentViews,
            ValSplit, Workers, CacheDir,
        };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            string dataDir = parse.GetValue(Data)!;
            var options = new ComparisonOptions
            {
                Model = parse.GetValue(Model)!, WeightsPath = parse.GetValue(Weights),
                Epochs = parse.GetValue(Epochs) is int e ? Positive(e, "--epochs") : null,
                FineTuneEpochs = Positive(parse.GetValue(FineTuneEpochs), "--fine-tune-epochs"),
                ScratchEpochs = Positive(parse.GetValue(ScratchEpochs), "--scratch-epochs"),
                SmallCnnEpochs = Positive(parse.GetValue(CnnEpochs), "--cnn-epochs"),
                Shots = ParseShots(parse.GetValue(Shots)!), Seeds = Positive(parse.GetValue(Seeds), "--seeds"), Skip = ParseSkip(parse.GetValue(Skip) ?? []),
                Seed = parse.GetValue(Seed), BatchSize = Positive(parse.GetValue(BatchSize), "--batch-size"),
                MicroBatch = parse.GetValue(MicroBatch) is int mb ? Positive(mb, "--micro-batch") : null,
                AugmentViews = parse.GetValue(AugmentViews), ValSplit = parse.GetValue(ValSplit),
                Workers = parse.GetValue(Workers), CacheDir = parse.GetValue(CacheDir),
            };
            string outPath = Path.GetFullPath(parse.GetValue(Out) ?? $"{new DirectoryInfo(Path.GetFullPath(dataDir)).Name}-comparison.html");
            if (DatasetWrites.Conflict(dataDir, outPath) is { } why)
                throw new CliException($"--out {why}: choose another path", Shell.UsageError);
            var data = ImageFolder.Load(dataDir, new ImageFolderOptions { ValSplit = options.ValSplit, Seed = options.Seed });
            EngineCheckFirst.Run(output);
            output.Line($"comparing on [bold]{Markup.Escape(data.Root)}[/]: {data.Classes.Count} classes, {data.Train.Count} train / {data.Val.Count} val ({data.SplitKind})");
            var reporter = new ConsoleReporter(output);
            using var result = reporter.Run(() => new Comparison(reporter).Run(data, options));
            ComparisonReport.Write(outPath, result);
            ComparisonView.Write(output, result);
            output.Line($"comparison: [bold]{Markup.Escape(outPath)}[/]");
            return (Shell.Ok, ComparisonView.ToJson(result, outPath));
        }));
        return cmd;
    }

    internal static IReadOnlyList<int> ParseShots(string text)
    {
        if (text.Trim() is "" or "none") return [];
        var shots = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            shots.Add(int.TryParse(part, out int k) && k > 0 ? k : throw new CliException($"--shots: '{part}' is not a positive number (e.g. --shots 5,10,20)", Shell.UsageError));
        return shots;
    }

    internal static IReadOnlySet<Recipe> ParseSkip(IEnumerable<string> values)
    {
        try
        {
            return values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                .Select(OptionNames.SkippableRecipe).ToHashSet();
        }
        catch (HeadstartException ex)
        {
            throw new CliException($"--skip: {ex.Message}", Shell.UsageError);
        }
    }

    private static int Positive(int v, string name) =>
        v > 0 ? v : throw new CliException($"{name} must be positive, got {v}", Shell.UsageError);
}

/// <summary>Console and JSON rendering of a <see cref="ComparisonResult"/> (shared with the demo).</summary>
internal static class ComparisonView
{
    public static void Write(Output output, ComparisonResult r, string? title = null)
    {
        var table = new Table().Title(title ?? "what each recipe costs (all training images, same split and seed)")
            .AddColumns("recipe", "val accuracy", "wall time", "core-s", "trainable params", "backbone passes (fwd + train)", "epochs");
        foreach (var run in r.Runs)
            table.AddRow(Markup.Escape(run.Name), $"[bold]{run.ValAccuracy:P1}[/]", $"{run.Seconds:F1}s", $"{run.CpuSeconds:F1}",
                run.TrainableParameters.ToString("N0"), $"{run.Passes.Inference:N0} + {run.Passes.Training:N0}", run.Epochs.ToString());
        output.Console.Write(table);
        if (r.Curve.Count > 0)
        {
            var recipes = r.Curve.Select(p => p.Recipe).Distinct().Order().ToList();
            int seeds = r.Curve.Max(p => p.Runs.Count);
            var curve = new Table().Title($"val accuracy vs labelled images per class{(seeds > 1 ? $" (mean of {seeds} seeds below all)" : "")} [[95% interval]]")
                .AddColumn("per class");
            foreach (var rc in recipes) curve.AddColumn(new TableColumn(Markup.Escape(Comparison.NameOf(rc))).RightAligned());
            foreach (int k in r.Curve.Select(p => p.PerClass).Distinct().Order())
                curve.AddRow([k + (r.Curve.Any(p => p.PerClass == k && p.All) ? " (all)" : ""),
                    .. recipes.Select(rc => r.Curve.FirstOrDefault(p => p.PerClass == k && p.Recipe == rc) is { } p
                        ? $"{p.ValAccuracy:P1} [grey][[{p.Interval.Lo * 100:0.0}, {p.Interval.Hi * 100:0.0}]][/]" : "")]);
            output.Console.Write(curve);
        }
        var findings = ComparisonFindings.Of(r);
        foreach (var f in findings.Summary) output.Line($"[bold]{Markup.Escape(f)}[/]");
        foreach (var f in findings.Details) output.Line($"  {Markup.Escape(f)}");
    }

    public static object ToJson(ComparisonResult r, string? report)
    {
        var findings = ComparisonFindings.Of(r);
        return new
        {
            report,
            dataset = r.Dataset,
            val_count = r.ValCount,
            runs = r.Runs.Select(x =>
            {
                var t = r.Totals(x.Recipe);
                return new
                {
                    recipe = x.Recipe, name = x.Name, model = x.Model, pretrained = x.Pretrained, val_accuracy = x.ValAccuracy, macro_f1 = x.MacroF1,
                    seconds = x.Seconds, cpu_seconds = x.CpuSeconds, trainable_parameters = x.TrainableParameters, epochs = x.Epochs,
                    train_images = x.TrainImages, backbone_passes = new { inference = x.Passes.Inference, training = x.Passes.Training },
                    all_runs = new { count = t.Runs, seconds = t.Seconds, cpu_seconds = t.CpuSeconds },
                };
            }),
            curve = r.Curve.Select(p => new
            {
                recipe = p.Recipe, per_class = p.PerClass, train_images = p.TrainImages, val_accuracy = p.ValAccuracy,
                interval = new[] { p.Interval.Lo, p.Interval.Hi }, seed_spread = p.SeedSpread, seeds = p.Runs.Select(s => s.Seed),
                accuracies = p.Runs.Select(s => s.ValAccuracy), seconds = p.Seconds, cpu_seconds = p.CpuSeconds, all = p.All,
            }),
            findings = findings.Summary,
            details = findings.Details,
        };
    }
}
