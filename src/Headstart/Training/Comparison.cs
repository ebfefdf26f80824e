using System.Diagnostics;
using Headstart.Data;
using Headstart.Models;

namespace Headstart.Training;

/// <summary>The recipes <see cref="Comparison"/> pits against each other.</summary>
public enum Recipe
{
    /// <summary>(a) Pretrained backbone frozen, features cached, new head trained.</summary>
    Frozen,
    /// <summary>(b) fastai's fine_tune: frozen head epoch(s), then everything with discriminative learning rates.</summary>
    FineTune,
    /// <summary>(c) The same architecture from random initialisation, everything trained.</summary>
    Scratch,
    /// <summary>(d) A small CNN (<see cref="SmallCnn"/>) from scratch on small inputs.</summary>
    SmallCnn,
}

/// <summary>Options of <see cref="Comparison"/>; every recipe sees the same split, seed and batch size.</summary>
public sealed record ComparisonOptions
{
    /// <summary>Pretrained architecture for recipes (a)-(c).</summary>
    public string Model { get; init; } = ModelRegistry.DefaultModel;
    public string? WeightsPath { get; init; }
    /// <summary>Epochs of the frozen-transfer head, and of fine-tune's head phase (cheap: they train on cached
    /// features); null = train's default plan (<see cref="TrainOptions.FrozenRecipeEpochs"/>).</summary>
    public int? Epochs { get; init; }
    /// <summary>Unfrozen epochs of fine-tuning (after <see cref="Epochs"/> frozen-head epochs on cached features): each is a
    /// full forward and backward pass of the backbone, so keep it small on a CPU.</summary>
    public int FineTuneEpochs { get; init; } = 2;
    /// <summary>Epochs of the same architecture from random initialisation: its compute budget (each epoch is a
    /// forward and backward pass of the whole network per training image, at the pretrained model's input size).</summary>
    public int ScratchEpochs { get; init; } = 3;
    /// <summary>Epochs of the small CNN (cheap: 32-px inputs).</summary>
    public int SmallCnnEpochs { get; init; } = 20;
    /// <summary>The small CNN trains for at least this many optimiser steps, so tiny training sets still get enough updates.</summary>
    public int SmallCnnMinSteps { get; init; } = 100;
    /// <summary>Labelled images per class for the data-efficiency curve; counts at or above the smallest class are
    /// dropped ("all" is the main runs).</summary>
    public IReadOnlyList<int> Shots { get; init; } = [5, 10, 20, 50];
    /// <summary>Runs per shot count of the curve for the cheap recipes (<see cref="CurveRecipes"/>), with seeds
    /// <see cref="Seed"/>, Seed + 1, ...: each seed draws its own labelled subset, initialisation and batch order, so
    /// the spread over seeds measures how much a point depends on which images were labelled and on training noise.
    /// The runs on all the training images have no subset to draw and run once.</summary>
    public int Seeds { get; init; } = 1;
    public IReadOnlySet<Recipe> Skip { get; init; } = new HashSet<Recipe>();
    /// <summary>Why <see cref="Skip"/> leaves recipes out, for the page (null: at the user's request).</summary>
    public string? SkipReason { get; init; }
    public int Seed { get; init; } = 42;
    public int BatchSize { get; init; } = 32;
    /// <summary>Fine-tuning and the same architecture from scratch: chunks of at most this many images per batch,
    /// gradients accumulated (<see cref="TrainOptions.MicroBatch"/>), to bound their memory; null: whole batches.</summary>
    public int? MicroBatch { get; init; }
    public int Workers { get; init; }
    /// <summary>Augmented views per training image for the frozen recipe (each costs one backbone forward); null:
    /// train's default, decided from the data (<see cref="TrainOptions.AugmentViews"/>).</summary>
    public int? AugmentViews { get; init; }
    /// <summary>Feature cache root (null: the default). "none" uses a temporary cache, deleted afterwards, so that the
    /// shot-count runs still reuse the features extracted once.</summary>
    public string? CacheDir { get; init; }
    public double ValSplit { get; init; } = 0.2;

    /// <summary>The recipes cheap enough to run at every shot count and seed: frozen transfer (a head on cached
    /// features) and the small CNN. Fine-tuning and the same architecture from scratch run once, on all images.</summary>
    public static IReadOnlySet<Recipe> CurveRecipes { get; } = new HashSet<Recipe> { Recipe.Frozen, Recipe.SmallCnn };
}

/// <summary>One trained recipe on all training images (the first seed): what the compute table shows, and its
/// per-epoch history for the overlaid curves. <paramref name="CpuSeconds"/> is the process's CPU time over the run
/// (every thread: decoding, libtorch, ONNX Runtime), so CpuSeconds / Seconds is the cores it kept busy.</summary>
public sealed record RecipeRun(Recipe Recipe, string Name, string Model, bool Pretrained, double ValAccuracy, double MacroF1,
    double Seconds, double CpuSeconds, long TrainableParameters, int Epochs, int TrainImages, BackbonePasses Passes,
    IReadOnlyList<EpochRecord> History);

/// <summary>One training run behind a point of the curve.</summary>
public sealed record SeedRun(int Seed, double ValAccuracy, double Seconds, double CpuSeconds, BackbonePasses Passes);

/// <summary>
/// One point of the data-efficiency curve: a recipe at a number of labelled images per class, over one or more seeds,
/// scored on <paramref name="ValCount"/> validation images.
/// </summary>
public sealed record EfficiencyPoint(Recipe Recipe, int PerClass, int TrainImages, IReadOnlyList<SeedRun> Runs, bool All, int ValCount)
{
    /// <summary>The mean validation accuracy over the seeds.</summary>
    public double ValAccuracy => Runs.Average(r => r.ValAccuracy);

    /// <summary>The sample standard deviation of the accuracy over the seeds (0 with one seed).</summary>
    public double SeedSpread
    {
        get
        {
            if (Runs.Count < 2) return 0;
            double mean = ValAccuracy;
            return Math.Sqrt(Runs.Sum(r => (r.ValAccuracy - mean) * (r.ValAccuracy - mean)) / (Runs.Count - 1));
        }
    }

    /// <summary>
    /// The standard error of <see cref="ValAccuracy"/> as an estimate of the recipe's accuracy on images like these:
    /// the seeds' spread over their number, plus the validation sample's binomial variance (shared by every seed, so
    /// not divided by the seed count). The binomial part is Agresti-Coull's, p~(1 - p~) / (n + 4) with
    /// p~ = (pn + 2) / (n + 4), so that 0% or 100% on a small validation set still has an interval. With one seed only
    /// the second term is known.
    /// </summary>
    public double StandardError
    {
        get
        {
            double n = Math.Max(1, ValCount), p = (ValAccuracy * n + 2) / (n + 4), s = SeedSpread;
            return Math.Sqrt(s * s / Runs.Count + p * (1 - p) / (n + 4));
        }
    }

    /// <summary>The 95% interval of the accuracy (mean ± 1.96 standard errors, within [0, 1]).</summary>
    public (double Lo, double Hi) Interval => (Math.Max(0, ValAccuracy - 1.96 * StandardError), Math.Min(1, ValAccuracy + 1.96 * StandardError));

    public double Seconds => Runs.Sum(r => r.Seconds);
    public double CpuSeconds => Runs.Sum(r => r.CpuSeconds);
}

/// <summary>The outcome of <see cref="Comparison.Run"/>. Owns the frozen-transfer result (for saving a bundle).</summary>
public sealed class ComparisonResult(IReadOnlyList<RecipeRun> runs, IReadOnlyList<EfficiencyPoint> curve, TrainResult? transfer,
    ComparisonOptions options, string dataset, int valCount, int classes) : IDisposable
{
    public IReadOnlyList<RecipeRun> Runs { get; } = runs;
    public IReadOnlyList<EfficiencyPoint> Curve { get; } = curve;
    /// <summary>The frozen-transfer run on all training images (null when skipped).</summary>
    public TrainResult? Transfer { get; } = transfer;
    public ComparisonOptions Options { get; } = options;
    public string Dataset { get; } = dataset;
    public int ValCount { get; } = valCount;
    public int Classes { get; } = classes;
    /// <summary>Every run of a recipe, the main one included: how many and what they cost together.</summary>
    public (int Runs, double Seconds, double CpuSeconds) Totals(Recipe recipe)
    {
        var all = Curve.Where(p => p.Recipe == recipe).SelectMany(p => p.Runs).ToList();
        return (all.Count, all.Sum(r => r.Seconds), all.Sum(r => r.CpuSeconds));
    }
    public void Dispose() => Transfer?.Dispose();
}

/// <summary>
/// Transfer vs scratch on the same data (the case for transfer learning, measured): trains the recipes of <see cref="Recipe"/> on
/// one split, then a data-efficiency curve (val accuracy vs labelled images per class, over several seeds) for the
/// recipes cheap enough to repeat. Shot subsets of one seed are nested (5 ⊂ 10 ⊂ ...), and the frozen runs reuse the
/// features extracted once. What the numbers say is <see cref="ComparisonFindings"/>.
/// </summary>
public sealed class Comparison(ITrainingReporter? reporter = null)
{
    // Per-epoch lines of a dozen runs would drown the table; phases (feature extraction) and messages still show.
    private readonly ITrainingReporter? quiet = reporter is null ? null : new Filtered(reporter, messages: true);
    // The repeated runs (more seeds, shot counts) say only what goes wrong; the comparison reports each one's outcome.
    private readonly ITrainingReporter? silent = reporter is null ? null : new Filtered(reporter, messages: false);

    private sealed class Filtered(ITrainingReporter inner, bool messages) : ITrainingReporter
    {
        public void Info(string message) { if (messages) inner.Info(message); }
        public void Warn(string message) => inner.Warn(message);
        public void BeginPhase(string name, int total) { if (messages) inner.BeginPhase(name, total); }
        public void AdvancePhase(int n) { if (messages) inner.AdvancePhase(n); }
        public void EndPhase() { if (messages) inner.EndPhase(); }
        public void StartEpoch(int epoch, int epochs, int batches) { }
        public void Advance(double loss) { }
        public void EndEpoch(EpochRecord record) { }
    }

    public static string NameOf(Recipe r) => r switch
    {
        Recipe.Frozen => "transfer, frozen backbone",
        Recipe.FineTune => "transfer, fine-tuned",
        Recipe.Scratch => "same arch, from scratch",
        _ => "small CNN, from scratch",
    };

    private int done, total;

    public ComparisonResult Run(ImageDataset data, ComparisonOptions o, CancellationToken ct = default)
    {
        if (data.Val.Count == 0) throw new HeadstartException("the comparison needs a validation split: add val/ or use --val-split");
        if (o.Seeds < 1) throw new HeadstartException($"the comparison needs at least one seed, got {o.Seeds}");
        string? tempCache = o.CacheDir is "none" or "off" ? Path.Combine(Path.GetTempPath(), $"headstart-compare-{Guid.NewGuid():N}") : null;
        var opts = tempCache is null ? o : o with { CacheDir = tempCache };
        int minPerClass = Enumerable.Range(0, data.Classes.Count).Min(c => data.Train.Count(s => s.Label == c));
        int allPerClass = (int)Math.Round(data.Train.Count / (double)data.Classes.Count);
        var recipes = Enum.GetValues<Recipe>().Where(r => !o.Skip.Contains(r)).ToList();
        var curveRecipes = recipes.Where(ComparisonOptions.CurveRecipes.Contains).ToList();
        var shots = o.Shots.Where(k => k > 0 && k < minPerClass).Distinct().Order().ToList();
        (done, total) = (0, recipes.Count + curveRecipes.Count * o.Seeds * shots.Count);
        reporter?.BeginPhase($"{total} training runs on {Path.GetFileName(Path.TrimEndingDirectorySeparator(data.Root))}", total);
        try
        {
            var runs = new List<RecipeRun>();
            var curve = new List<EfficiencyPoint>();
            TrainResult? transfer = null;
            foreach (var recipe in recipes)
            {
                ct.ThrowIfCancellationRequested();
                var (result, seeded) = Train(recipe, data, opts, o.Seed, ct, main: true);
                runs.Add(ToRun(recipe, result, seeded, data.Train.Count));
                if (recipe == Recipe.Frozen) transfer = result; else result.Dispose();
                // On all the images there is no subset to draw: one run, whose interval is the validation sample's.
                curve.Add(new EfficiencyPoint(recipe, allPerClass, data.Train.Count, [seeded], All: true, data.Val.Count));
            }
            foreach (int k in shots)
                foreach (var recipe in curveRecipes)
                {
                    var seedRuns = new List<SeedRun>();
                    for (int i = 0; i < o.Seeds; i++)
                    {
                        ct.ThrowIfCancellationRequested();
                        var subset = Subset(data, k, o.Seed + i);
                        var (result, run) = Train(recipe, subset, opts, o.Seed + i, ct);
                        result.Dispose();
                        seedRuns.Add(run);
                    }
                    curve.Add(new EfficiencyPoint(recipe, k, k * data.Classes.Count, seedRuns, All: false, data.Val.Count));
                }
            return new ComparisonResult(runs, curve, transfer, o, data.Root, data.Val.Count, data.Classes.Count);
        }
        finally
        {
            reporter?.EndPhase();
            if (tempCache is not null && Directory.Exists(tempCache)) Directory.Delete(tempCache, recursive: true);
        }
    }

    /// <summary>The same dataset with <paramref name="perClass"/> training images per class: a seeded shuffle per
    /// class, so that smaller subsets are prefixes of larger ones. Validation is unchanged.</summary>
    public static ImageDataset Subset(ImageDataset data, int perClass, int seed)
    {
        var train = new List<ImageSample>();
        for (int c = 0; c < data.Classes.Count; c++)
        {
            var items = data.Train.Where(s => s.Label == c).OrderBy(s => s.Path, StringComparer.Ordinal).ToArray();
            // Not HashCode.Combine: it is randomised per process, and subsets must be the same run to run.
            BatchLoader.SampleRandom(seed, c, -2).Shuffle(items);
            train.AddRange(items.Take(perClass));
        }
        return new ImageDataset(data.Root, data.SplitKind, data.Classes, train, data.Val, data.Skipped, data.Source);
    }

    /// <summary>The training options of one recipe. The frozen row is <c>headstart train</c>'s default plan (the same
    /// options but the shared split, seed, batch size, views and epochs), so compare and train give one answer to one
    /// question; fine-tune is <c>train --strategy fine-tune</c>. Every recipe keeps its last epoch's weights (no
    /// selection on the validation set, which would flatter the many-epoch recipes).</summary>
    public static TrainOptions OptionsFor(Recipe recipe, ComparisonOptions o, int trainImages)
    {
        var common = new TrainOptions
        {
            Model = o.Model, WeightsPath = o.WeightsPath, Seed = o.Seed, BatchSize = o.BatchSize, Workers = o.Workers,
            CacheDir = o.CacheDir, ValSplit = o.ValSplit, KeepBest = false,
        };
        return recipe switch
        {
            Recipe.Frozen => common with
            {
                Strategy = Strategy.Frozen, Epochs = o.Epochs ?? common.Epochs, AugmentViews = o.AugmentViews,
                // Epochs asked for are the SGD head's (as train's --epochs): the default head is L-BFGS, which has none.
                HeadFit = o.Epochs is null ? null : HeadFit.Sgd,
            },
            Recipe.FineTune => common with { Strategy = Strategy.FineTune, FreezeEpochs = o.Epochs, Epochs = o.FineTuneEpochs, MicroBatch = o.MicroBatch },
            Recipe.Scratch => common with
            {
                Pretrained = false, Strategy = Strategy.Full, Epochs = o.ScratchEpochs, MicroBatch = o.MicroBatch,
                Optimizer = OptimizerKind.AdamW, LearningRate = 1e-3, Schedule = ScheduleKind.OneCycle,
            },
            _ => common with
            {
                Model = "small_cnn", WeightsPath = null, Pretrained = false, Strategy = Strategy.Full,
                Epochs = Math.Max(o.SmallCnnEpochs, (int)Math.Ceiling(o.SmallCnnMinSteps / Math.Ceiling(trainImages / (double)o.BatchSize))),
                Optimizer = OptimizerKind.AdamW, LearningRate = 2e-3, Schedule = ScheduleKind.OneCycle, WeightDecay = 1e-4,
                // Mild augmentation: RandomResizedCrop down to 8% would destroy 28-px images for a network that learns
                // everything from them.
                Augment = AugmentLevel.None,
            },
        };
    }

    private (TrainResult Result, SeedRun Run) Train(Recipe recipe, ImageDataset data, ComparisonOptions o, int seed, CancellationToken ct, bool main = false)
    {
        // The small CNN's ops are tiny: with several intra-op threads libtorch's OpenMP barriers dominate, and on a busy
        // CPU they stall, many times slower than one thread.
        int threads = TorchSharp.torch.get_num_threads();
        if (recipe == Recipe.SmallCnn) TorchSharp.torch.set_num_threads(1);
        // The expensive recipes show their epochs' progress (minutes each on a CPU); the cheap ones would flood it.
        var shown = !ComparisonOptions.CurveRecipes.Contains(recipe) ? reporter : main ? quiet : silent;
        var cpu = CpuTime();
        var clock = Stopwatch.StartNew();
        TrainResult result;
        // Per-epoch validation draws the main runs' validation curves; the repeated runs need only their final accuracy
        // (on 25 training images the small CNN's 100 validations of 200 images would cost 8 times its training).
        // A frozen head validates on cached features, which costs next to nothing.
        var options = OptionsFor(recipe, o with { Seed = seed }, data.Train.Count);
        if ((!main || options.Epochs <= 1) && options.Strategy != Strategy.Frozen) options = options with { ValidateEachEpoch = false };
        try { result = new TransferTrainer(shown).Train(data, options, ct: ct); }
        finally { TorchSharp.torch.set_num_threads(threads); }
        var run = new SeedRun(seed, result.Metrics.Accuracy, clock.Elapsed.TotalSeconds, (CpuTime() - cpu).TotalSeconds, result.Passes);
        done++;
        reporter?.AdvancePhase(1);
        reporter?.Info($"[{done}/{total}] {NameOf(recipe)}, {data.Train.Count} images, seed {seed}: val accuracy " +
                       $"{result.Metrics.Accuracy * 100:0.0}% after {result.Manifest.History?.Count ?? 0} epochs, {run.Seconds:F1}s ({run.CpuSeconds:F1} core-s)");
        return (result, run);
    }

    /// <summary>The process's CPU time so far, every thread included (the core-seconds of a run are its difference).</summary>
    public static TimeSpan CpuTime()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    private static RecipeRun ToRun(Recipe recipe, TrainResult r, SeedRun run, int trainImages) =>
        new(recipe, NameOf(recipe), r.Spec.Name, r.Manifest.PretrainedFrom is not null, r.Metrics.Accuracy, r.Metrics.MacroF1,
            run.Seconds, run.CpuSeconds, r.TrainableParameters, r.Manifest.History?.Count ?? 0, trainImages, r.Passes, r.Manifest.History ?? []);
}
