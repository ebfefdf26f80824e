using System.CommandLine;
using Headstart.Bundles;
using Headstart.Cli.Common;
using Headstart.Data;
using Headstart.Models;
using Headstart.Reporting;
using Headstart.Training;
using Spectre.Console;

namespace Headstart.Cli.Train;

/// <summary>headstart train DATA: the transfer-learning recipe end to end, saved as a bundle.</summary>
public static class TrainCommand
{
    private static readonly Argument<string?> Data = new("data")
    {
        Description = "ImageFolder root (train/ + val/ with one subfolder per class, or class subfolders split with --val-split), or a manifest (.csv or .jsonl: path,label[,split])",
        Arity = ArgumentArity.ZeroOrOne,
    };
    private static readonly Option<string?> Features = Opt.Maybe<string>("--features", "Train the head on the features that 'headstart extract' wrote into this directory (every shard), instead of on DATA");
    internal static readonly Option<string> Model = Opt.Of("--model", "Model name (see 'headstart models'), or onnx:PATH for a backbone brought as an ONNX file (frozen strategy; sidecar PATH.json: feature_output, preprocessing)", ModelRegistry.DefaultModel);
    internal static readonly Option<string?> Weights = Opt.Maybe<string>("--weights", "Pretrained weights file (.pth zip/legacy, .safetensors, .onnx) overriding the default source");
    private static readonly Option<bool> NoPretrained = Opt.Flag("--no-pretrained", "Train from random initialisation (the scratch baseline)");
    internal static Option<string?> OutOption => Out;
    internal static Option<string?> ResumeOption => Resume;
    private static readonly Option<string?> Out = Opt.Maybe<string>("--out", "Bundle directory to write (default: ./<data-folder-name>-<model>)");
    private static readonly Option<string> Strategy = Opt.Choice("--strategy", "frozen: cached features + head (fast); fine-tune: head, then unfreeze; full: train everything", "frozen", "frozen", "fine-tune", "full");
    private static readonly Option<string?> Freeze = Opt.Maybe<string>("--freeze", "frozen: features (all but the classifier section: the cached fast path, the default) or N = freeze the first N layer groups; fine-tune: N groups stay frozen after the head phase (default none); see --plan");
    private static readonly Option<bool> PlanOnly = Opt.Flag("--plan", "Print the training plan (phases, inputs, frozen groups, learning rates, schedules) and exit without training");
    private static readonly Option<int> Epochs = Opt.Of("--epochs", "Training epochs (after the frozen epochs for fine-tune)", 25);
    private static readonly Option<int?> FreezeEpochs = Opt.Maybe<int?>("--freeze-epochs", "fine-tune: epochs of the frozen-head phase first; with a pretrained backbone they train on cached features with the frozen recipe (default 25, cheap), else 1");
    internal static readonly Option<int> BatchSize = Opt.Of("--batch-size", "Mini-batch size", 32);
    private static readonly Option<int?> MicroBatch = Opt.Maybe<int?>("--micro-batch", "fine-tune/full: run each batch in chunks of at most N images, accumulating gradients (less memory, same optimiser step; BatchNorm normalises each chunk)");
    private static readonly Option<double?> Lr = Opt.Maybe<double?>("--lr", "Peak learning rate (default: 0.01 SGD, 0.001 AdamW)");
    private static readonly Option<double?> FineTuneLr = Opt.Maybe<double?>("--fine-tune-lr", "fine-tune: peak LR of the unfrozen phase, for the head; earlier layer groups get geometrically less, down to 1/100 (default: --lr / 2)");
    private static readonly Option<string> Optimizer = Opt.Choice("--optimizer", "Optimiser", "sgd", "sgd", "adamw");
    private static readonly Option<string> Schedule = Opt.Choice("--schedule", "LR schedule: step (StepLR), cosine (with warm-up), one-cycle, constant", "step", "step", "cosine", "one-cycle", "constant");
    private static readonly Option<int> StepSize = Opt.Of("--step-size", "StepLR: epochs between LR decays", 7);
    private static readonly Option<double> Gamma = Opt.Of("--gamma", "StepLR: decay factor", 0.1);
    private static readonly Option<double> WeightDecay = Opt.Of("--weight-decay", "Weight decay (not applied to biases and norm weights)", 0.0);
    private static readonly Option<double> Momentum = Opt.Of("--momentum", "SGD momentum / Adam beta1", 0.9);
    private static readonly Option<bool> Nesterov = Opt.Flag("--nesterov", "Nesterov momentum (SGD)");
    private static readonly Option<double> LabelSmoothing = Opt.Of("--label-smoothing", "Label smoothing of the cross-entropy loss", 0.0);
    private static readonly Option<double?> ClipGrad = Opt.Maybe<double?>("--clip-grad", "Clip the gradient norm to this value");
    internal static readonly Option<int> Seed = Opt.Of("--seed", "Random seed (training is deterministic for a seed on CPU)", 42);
    internal static readonly Option<string> Augment = Opt.Choice("--augment", "Augmentation: none, flip (centre crop, random mirror), light (random resized crop + flip), standard (+ rotation, colour jitter)", "light", "none", "flip", "light", "standard");
    internal static readonly Option<int?> AugmentViews = new("--augment-views")
    {
        Description = "frozen: cached views per training image besides the centre crop (1 = its mirror image; more add random resized crops; " +
                      $"at most 1 with --augment flip). Default: 0 under the L-BFGS head; under SGD 1 while the smallest class has fewer than {TrainingPlanner.MirrorViewBelowPerClass} training images, else 0",
    };
    internal static readonly Option<string> HeadFitOption = Opt.Choice("--head-fit",
        "frozen: how the head is fitted on the cached features. lbfgs: logistic regression by L-BFGS, its L2 strength chosen by " +
        $"{TrainingPlanner.LbfgsFolds}-fold cross-validation on the training images; sgd: --epochs of --optimizer under --schedule. " +
        $"auto (default): lbfgs for a one-Linear classifier section up to {TrainingPlanner.LbfgsMaxImages} training images, else sgd; " +
        "any of --epochs, --lr, --optimizer, --schedule, --step-size, --gamma, --momentum, --nesterov, --weight-decay, --label-smoothing, " +
        "--clip-grad given picks sgd", "auto", "auto", "sgd", "lbfgs");
    internal static readonly Option<double> ValSplit = Opt.Of("--val-split", "Validation fraction when DATA has no train/ and val/ folders (stratified)", 0.2);
    private static readonly Option<int?> Patience = Opt.Maybe<int?>("--patience", "Early stopping patience in epochs (monitor: val loss)");
    private static readonly Option<bool> FreezeBn = Opt.Flag("--freeze-bn", "fine-tune/full: keep BatchNorm in inference mode (fixed running statistics) while the layers train (steadier on small datasets, and on data unlike ImageNet)");
    private static readonly Option<bool> KeepBest = Opt.Flag("--keep-best", "Keep the weights of the best validation epoch (selection on val: its accuracy becomes optimistic)");
    internal static readonly Option<int> Workers = Opt.Of("--workers", "Decode threads (0 = number of cores)", 0);
    private static readonly Option<string?> Resume = Opt.Maybe<string>("--resume", "Continue an interrupted run from its checkpoint: the bundle path it was writing (uses BUNDLE.checkpoint) or a checkpoint directory; training options come from the checkpoint");
    private static readonly Option<string?> CheckpointDir = Opt.Maybe<string>("--checkpoint-dir", "Where to write a checkpoint after every epoch (default: OUT.checkpoint next to the bundle, removed once the bundle is saved; 'none' disables)");
    private static readonly Option<double> CheckpointEvery = Opt.Of("--checkpoint-every", "Seconds: skip an epoch's checkpoint when the last one is younger (a resumed run repeats those epochs); 0 = after every epoch", 10.0);
    internal static readonly Option<string> Engine = Opt.Choice("--engine", "frozen: engine for the backbone pass (auto: ONNX Runtime for resnet18-cntk's .onnx weights, else TorchSharp)", "auto", "auto", "torch", "onnx");
    internal static readonly Option<bool> Tta = Opt.Flag("--tta", "Average every prediction with the mirrored image's (flip test-time augmentation: one more backbone pass per image). The bundle records it, and evaluate, predict, report and the ONNX export apply it");
    private static readonly Option<string?> CacheDir = Opt.Maybe<string>("--cache-dir", "Feature cache directory (default $XDG_CACHE_HOME/headstart/features; 'none' disables)");

    public static Command Create()
    {
        var cmd = new Command("train", "Train a classifier on an image folder by transfer learning and save a bundle")
        {
            Data, Model, Weights, NoPretrained, Out, Strategy, Freeze, Epochs, FreezeEpochs, BatchSize, MicroBatch, Lr, FineTuneLr, Optimizer, Schedule,
            StepSize, Gamma, WeightDecay, Momentum, Nesterov, LabelSmoothing, ClipGrad, Seed, Augment, AugmentViews, HeadFitOption, ValSplit,
            Patience, KeepBest, FreezeBn, Workers, CacheDir, Engine, Tta, Resume, CheckpointDir, CheckpointEvery, PlanOnly, Features,
            Extract.ExtractCommand.Root, Extract.ExtractCommand.AllowOutside,
        };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            var options = ReadOptions(parse);
            if (parse.GetValue(Features) is { } featuresDir)
            {
                if (parse.GetValue(Data) is not null) throw new CliException("pass DATA or --features, not both", Shell.UsageError);
                return TrainFromFeatures.Run(parse, output, featuresDir, options);
            }
            string data = parse.GetValue(Data) ?? throw new CliException("DATA is required: an image folder or a manifest (or --features DIR)", Shell.UsageError);
            ImageDataset Open() => ImageDatasets.Open(data, options.ValSplit, options.Seed, parse.GetValue(Extract.ExtractCommand.Root), parse.GetValue(Extract.ExtractCommand.AllowOutside));
            double checkpointEvery = Seconds(parse.GetValue(CheckpointEvery), "--checkpoint-every");
            string? resume = parse.GetValue(Resume) is { } r ? Checkpoint.Resolve(r) : null;
            if (resume is not null)
            {
                // The checkpoint's options win: a resumed run must repeat the interrupted one exactly.
                var saved = Checkpoint.ReadState(resume).Options
                            ?? throw new CliException($"checkpoint '{resume}' records no training options", Shell.RuntimeError);
                options = saved with { Workers = options.Workers, CacheDir = options.CacheDir };
            }
            string outDir = parse.GetValue(Out)
                            ?? (resume is not null ? ResumeOut(parse.GetValue(Resume)!, resume) : DefaultOut(data, options.Model));
            // A typo, or options without a plan, fail before the data is read.
            var plan = TrainingPlanner.Plan(options, ModelRegistry.Get(options.Model));
            if (parse.GetValue(PlanOnly))
            {
                // The cached views depend on the data's size: show the plan that would run on it.
                var scanned = Open();
                plan = TrainingPlanner.Plan(options, ModelRegistry.Get(options.Model), DataShape.Of(scanned));
                foreach (var line in plan.Describe()) output.Line(Markup.Escape(line));
                return (Shell.Ok, new { plan });
            }
            // Training the backbone on images runs libtorch's convolutions at length: check the engine in a child first.
            if (plan.Phases.Any(p => p.Input != PhaseInput.CachedFeatures)) EngineCheckFirst.Run(output);
            var timings = new StageTimings();
            using (timings.Measure("preflight")) DatasetPreflight.Run(output, data, outDir, options, parse.GetValue(Extract.ExtractCommand.Root));
            string? checkpointDir = parse.GetValue(CheckpointDir) switch
            {
                "none" or "off" => null,
                null => Checkpoint.DefaultDirectory(outDir),
                var d => Path.GetFullPath(d),
            };
            if (resume is not null && checkpointDir is null)
                throw new CliException("--resume needs checkpoints on (drop --checkpoint-dir none)", Shell.UsageError);
            if (resume is null && checkpointDir is not null && File.Exists(Path.Combine(checkpointDir, Checkpoint.StateFile)))
                output.Warn($"starting over: the checkpoint of an interrupted run in {checkpointDir} will be replaced (continue it with --resume {outDir})");
            ImageDataset dataset;
            using (timings.Measure("scan")) dataset = Open();
            output.Line($"[bold]{Markup.Escape(options.Model)}[/] on [bold]{Markup.Escape(data)}[/]: {dataset.Classes.Count} classes " +
                        $"({Markup.Escape(string.Join(", ", dataset.Classes.Take(8)))}{(dataset.Classes.Count > 8 ? ", ..." : "")}), " +
                        $"{dataset.Train.Count} train / {dataset.Val.Count} val ({dataset.SplitKind}), strategy {parse.GetValue(Strategy)}, " +
                        $"{plan.Phases.Count} phase(s): {Markup.Escape(string.Join(", ", plan.Phases.Select(p => $"{p.Name} {p.Epochs} epoch(s) on {(p.Input == PhaseInput.CachedFeatures ? "cached features" : "images")}")))}");
            if (dataset.DecisionsNote is { } decided) output.Line($"[grey]note: {Markup.Escape(decided)}[/]");
            foreach (var note in plan.Notes) output.Line($"[grey]note: {Markup.Escape(note)}[/]");
            if (dataset.Skipped.Count > 0) output.Warn($"{dataset.Skipped.Count} file(s) skipped while scanning (see model.json)");
            var reporter = new ConsoleReporter(output);
            var checkpoint = checkpointDir is null ? null : new CheckpointOptions(checkpointDir, resume, checkpointEvery);
            using var result = reporter.Run(() => new TransferTrainer(reporter, timings).Train(dataset, options, checkpoint));
            return Finish(output, result, dataset, outDir, checkpointDir, timings, new { model = options.Model, resumed_from = resume });
        }));
        return cmd;
    }

    /// <summary>Saves the bundle and its report, removes the checkpoint, and prints the summary (and the JSON result).</summary>
    internal static (int, object?) Finish(Output output, TrainResult result, ImageDataset dataset, string outDir, string? checkpointDir,
        StageTimings timings, object? extra = null)
    {
        // The report is written into the bundle's temp directory, so it is part of the atomic write.
        using (timings.Measure("save"))
            ModelBundle.Save(outDir, result, tmp =>
            {
                using var _ = timings.Measure("report");
                TrainingReport.WriteInto(tmp, result.Manifest, ReportData.Collect(dataset, dataset.Classes, result.ValPredictions));
            });
        // The bundle is the finished product; the checkpoint only served to survive an interruption.
        if (checkpointDir is not null && Directory.Exists(checkpointDir)) Directory.Delete(checkpointDir, recursive: true);
        MetricsView.Write(output, result.Metrics);
        int skippedCount = result.Manifest.Dataset?.SkippedCount ?? 0;
        output.Line($"val accuracy [bold green]{result.Metrics.Accuracy:P1}[/], {result.Manifest.TrainSeconds:F1}s" +
                    (skippedCount > 0 ? $", {skippedCount} file(s) skipped" : "") + $"; bundle saved to [bold]{Markup.Escape(Path.GetFullPath(outDir))}[/]");
        output.Line($"report: [bold]{Markup.Escape(Path.GetFullPath(Path.Combine(outDir, TrainingReport.FileName)))}[/]");
        output.Line($"predict with: headstart predict {Markup.Escape(outDir)} IMAGE...");
        var json = System.Text.Json.JsonSerializer.SerializeToNode(new
        {
            val_accuracy = result.Metrics.Accuracy,
            macro_f1 = result.Metrics.MacroF1,
            bundle = Path.GetFullPath(outDir),
            report = Path.GetFullPath(Path.Combine(outDir, TrainingReport.FileName)),
            model = result.Manifest.Arch,
            classes = dataset.Classes,
            train_count = dataset.Train.Count,
            val_count = dataset.Val.Count,
            skipped = skippedCount,
            train_seconds = result.Manifest.TrainSeconds,
            epochs = result.Manifest.History?.Count ?? 0,
            // The L-BFGS head's choice; null when the head trained by epochs.
            head_fit = result.Manifest.HeadFit is { } fit
                ? (object?)new { method = "lbfgs", l2 = fit.Lambda, folds = fit.Folds, train_accuracy = fit.TrainAccuracy, seconds = fit.Seconds }
                : null,
            timings = timings.ToDictionary(),
        }, Shell.JsonOptions)!.AsObject();
        if (extra is not null)
            foreach (var (k, v) in System.Text.Json.JsonSerializer.SerializeToNode(extra, Shell.JsonOptions)!.AsObject().ToList())
                json[k] = v?.DeepClone();
        return (Shell.Ok, json);
    }

    internal static string DefaultOut(string data, string model) =>
        $"{new DirectoryInfo(Path.GetFullPath(data)).Name}-{(OnnxBackbone.Names(model) ? Path.GetFileNameWithoutExtension(model) : model)}";

    /// <summary>The bundle a resumed run writes: the path given to --resume, or the checkpoint's bundle sibling.</summary>
    private static string ResumeOut(string given, string checkpointDir) =>
        checkpointDir.EndsWith(".checkpoint", StringComparison.Ordinal) && Path.GetFullPath(given.TrimEnd(Path.DirectorySeparatorChar)) == checkpointDir
            ? checkpointDir[..^".checkpoint".Length]
            : Path.GetFullPath(given);

    internal static TrainOptions ReadOptions(ParseResult parse) => new()
    {
        Model = parse.GetValue(Model)!,
        WeightsPath = parse.GetValue(Weights),
        Pretrained = !parse.GetValue(NoPretrained),
        Strategy = OptionNames.Strategy(parse.GetValue(Strategy)!),
        Freeze = parse.GetValue(Freeze) is { } f ? Training.Freeze.Parse(f) : null,
        Epochs = Positive(parse.GetValue(Epochs), "--epochs"),
        FreezeEpochs = parse.GetValue(FreezeEpochs),
        BatchSize = Positive(parse.GetValue(BatchSize), "--batch-size"),
        MicroBatch = parse.GetValue(MicroBatch) is int mb ? Positive(mb, "--micro-batch") : null,
        LearningRate = parse.GetValue(Lr),
        FineTuneLearningRate = parse.GetValue(FineTuneLr),
        Optimizer = parse.GetValue(Optimizer) == "adamw" ? OptimizerKind.AdamW : OptimizerKind.Sgd,
        Schedule = parse.GetValue(Schedule) switch { "cosine" => ScheduleKind.Cosine, "one-cycle" => ScheduleKind.OneCycle, "constant" => ScheduleKind.Constant, _ => ScheduleKind.Step },
        StepSize = Positive(parse.GetValue(StepSize), "--step-size"),
        Gamma = parse.GetValue(Gamma),
        WeightDecay = parse.GetValue(WeightDecay),
        Momentum = parse.GetValue(Momentum),
        Nesterov = parse.GetValue(Nesterov),
        LabelSmoothing = parse.GetValue(LabelSmoothing),
        ClipGradNorm = parse.GetValue(ClipGrad),
        Seed = parse.GetValue(Seed),
        Augment = OptionNames.Augment(parse.GetValue(Augment)!),
        AugmentViews = parse.GetValue(AugmentViews),
        KeepBest = parse.GetValue(KeepBest),
        FreezeBatchNorm = parse.GetValue(FreezeBn),
        EarlyStoppingPatience = parse.GetValue(Patience),
        Workers = parse.GetValue(Workers),
        CacheDir = parse.GetValue(CacheDir),
        Engine = OptionNames.Engine(parse.GetValue(Engine)!),
        TestTimeFlip = parse.GetValue(Tta),
        ValSplit = parse.GetValue(ValSplit),
        HeadFit = ReadHeadFit(parse),
    };

    /// <summary>The options that only a head trained by epochs reads.</summary>
    private static readonly Option[] SgdOptions = [Epochs, Lr, Optimizer, Schedule, StepSize, Gamma, Momentum, Nesterov, WeightDecay, LabelSmoothing, ClipGrad];

    /// <summary>--head-fit, where auto becomes sgd when an option only SGD reads was given (the user asked for epochs).</summary>
    private static HeadFit? ReadHeadFit(ParseResult parse)
    {
        var fit = OptionNames.HeadFit(parse.GetValue(HeadFitOption)!);
        bool sgdAsked = SgdOptions.Any(o => parse.GetResult(o) is { Implicit: false });
        if (fit == HeadFit.Lbfgs && sgdAsked)
            throw new CliException($"--head-fit lbfgs has no epochs, rate or schedule; drop {string.Join(", ", SgdOptions.Where(o => parse.GetResult(o) is { Implicit: false }).Select(o => o.Name))} or use --head-fit sgd",
                Shell.UsageError);
        return fit ?? (sgdAsked ? HeadFit.Sgd : null);
    }

    /// <summary>Seconds from 0 to 10^9 (about 32 years): beyond that TimeSpan overflows.</summary>
    private static double Seconds(double v, string name) =>
        v is >= 0 and <= 1e9 ? v : throw new CliException($"{name} must be 0 or more (seconds, at most 1e9), got {v}", Shell.UsageError);

    private static int Positive(int v, string name) =>
        v > 0 ? v : throw new CliException($"{name} must be positive, got {v}", Shell.UsageError);
}
