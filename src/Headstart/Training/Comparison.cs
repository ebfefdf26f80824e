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
    /// <summary>Epochs of the same architecture from random initialisation (same cost per epoch as fine-tuning).</summary>
    public int ScratchEpochs { get; init; } = 3;
    /// <summary>Epochs of the small CNN (cheap: 32-px inputs).</summary>
    public int SmallCnnEpochs { get; init; } = 20;
    /// <summary>The small CNN trains for at least this many optimiser steps, so tiny training sets still get enough updates.</summary>
    public int SmallCnnMinSteps { get; init; } = 100;
    /// <summary>Labelled images per class for the data-efficiency curve (frozen transfer vs small CNN); counts at or
    /// above the smallest class are dropped ("all" is the main runs).</summary>
    public IReadOnlyList<int> Shots { get; init; } = [5, 10, 20, 50];
    public IReadOnlySet<Recipe> Skip { get; init; } = new HashSet<Recipe>();
    public int Seed { get; init; } = 42;
    public int BatchSize { get; init; } = 32;
    public int Workers { get; init; }
    /// <summary>Augmented views per training image for the frozen recipe (each costs one backbone forward).</summary>
    public int AugmentViews { get; init; } = 1;
    /// <summary>Feature cache root (null: the default). "none" uses a temporary cache, deleted afterwards, so that the
    /// shot-count runs still reuse the features extracted once.</summary>
    public string? CacheDir { get; init; }
    public double ValSplit { get; init; } = 0.2;
}

/// <summary>One trained recipe: what the table shows, and its per-epoch history for the overlaid curves.</summary>
public sealed record RecipeRun(Recipe Recipe, string Name, string Model, bool Pretrained, double ValAccuracy, double MacroF1,
    double Seconds, long TrainableParameters, int Epochs, int TrainImages, IReadOnlyList<EpochRecord> History);

/// <summary>One point of the data-efficiency curve.</summary>
public sealed record EfficiencyPoint(Recipe Recipe, int PerClass, int TrainImages, double ValAccuracy, double Seconds, bool All);

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
    public void Dispose() => Transfer?.Dispose();
}

/// <summary>
/// Transfer vs scratch on the same data (the case for transfer learning, measured): trains the recipes of <see cref="Recipe"/> on
/// one split with one seed, then a data-efficiency curve (val accuracy vs labelled images per class) for frozen
/// transfer vs the small CNN. Shot subsets are nested (5 ⊂ 10 ⊂ ...), so the frozen runs reuse cached features.
/// </summary>
public sealed class Comparison(ITrainingReporter? reporter = null)
{
    // Per-epoch lines of a dozen runs would drown the table; phases (feature extraction) and messages still show.
    private readonly ITrainingReporter? quiet = reporter is null ? null : new NoEpochs(reporter);

    private sealed class NoEpochs(ITrainingReporter inner) : ITrainingReporter
    {
        public void Info(string message) => inner.Info(message);
        public void Warn(string message) => inner.Warn(message);
        public void BeginPhase(string name, int total) => inner.BeginPhase(name, total);
        public void AdvancePhase(int n) => inner.AdvancePhase(n);
        public void EndPhase() => inner.EndPhase();
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

    public ComparisonResult Run(ImageDataset data, ComparisonOptions o, CancellationToken ct = default)
    {
        if (data.Val.Count == 0) throw new HeadstartException("the comparison needs a validation split: add val/ or use --val-split");
        string? tempCache = o.CacheDir is "none" or "off" ? Path.Combine(Path.GetTempPath(), $"headstart-compare-{Guid.NewGuid():N}") : null;
        var opts = tempCache is null ? o : o with { CacheDir = tempCache };
        try
        {
            var runs = new List<RecipeRun>();
            TrainResult? transfer = null;
            foreach (var recipe in Enum.GetValues<Recipe>().Where(r => !o.Skip.Contains(r)))
            {
                ct.ThrowIfCancellationRequested();
                var result = Train(recipe, data, opts, ct);
                runs.Add(ToRun(recipe, result, data.Train.Count));
                if (recipe == Recipe.Frozen) transfer = result; else result.Dispose();
            }

            var curve = new List<EfficiencyPoint>();
            int minPerClass = Enumerable.Range(0, data.Classes.Count).Min(c => data.Train.Count(s => s.Label == c));
            int allPerClass = (int)Math.Round(data.Train.Count / (double)data.Classes.Count);
            foreach (var run in runs.Where(r => r.Recipe is Recipe.Frozen or Recipe.SmallCnn))
                curve.Add(new EfficiencyPoint(run.Recipe, allPerClass, run.TrainImages, run.ValAccuracy, run.Seconds, All: true));
            foreach (int k in o.Shots.Where(k => k > 0 && k < minPerClass).Distinct().Order())
            {
                var subset = Subset(data, k, o.Seed);
                foreach (var recipe in new[] { Recipe.Frozen, Recipe.SmallCnn }.Where(r => !o.Skip.Contains(r)))
                {
                    ct.ThrowIfCancellationRequested();
                    using var result = Train(recipe, subset, opts, ct);
                    curve.Add(new EfficiencyPoint(recipe, k, subset.Train.Count, result.Metrics.Accuracy, result.Manifest.TrainSeconds, All: false));
                }
            }
            return new ComparisonResult(runs, curve, transfer, o, data.Root, data.Val.Count, data.Classes.Count);
        }
        finally
        {
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
            },
            Recipe.FineTune => common with { Strategy = Strategy.FineTune, FreezeEpochs = o.Epochs, Epochs = o.FineTuneEpochs },
            Recipe.Scratch => common with
            {
                Pretrained = false, Strategy = Strategy.Full, Epochs = o.ScratchEpochs,
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

    private TrainResult Train(Recipe recipe, ImageDataset data, ComparisonOptions o, CancellationToken ct)
    {
        // The small CNN's ops are tiny: with several intra-op threads libtorch's OpenMP barriers dominate, and on a busy
        // CPU they stall, many times slower than one thread.
        int threads = TorchSharp.torch.get_num_threads();
        if (recipe == Recipe.SmallCnn) TorchSharp.torch.set_num_threads(1);
        TrainResult result;
        try { result = new TransferTrainer(quiet).Train(data, OptionsFor(recipe, o, data.Train.Count), ct: ct); }
        finally { TorchSharp.torch.set_num_threads(threads); }
        reporter?.Info($"{NameOf(recipe)}, {data.Train.Count} images: val accuracy {result.Metrics.Accuracy * 100:0.0}% after " +
                       $"{result.Manifest.History?.Count ?? 0} epochs, {result.Manifest.TrainSeconds:F1}s");
        return result;
    }

    private static RecipeRun ToRun(Recipe recipe, TrainResult r, int trainImages)
    {
        long trainable = r.TrainableParameters;
        return new RecipeRun(recipe, NameOf(recipe), r.Spec.Name, r.Manifest.PretrainedFrom is not null, r.Metrics.Accuracy, r.Metrics.MacroF1,
            r.Manifest.TrainSeconds, trainable, r.Manifest.History?.Count ?? 0, trainImages, r.Manifest.History ?? []);
    }

    /// <summary>
    /// What the data-efficiency curve shows, in words computed from the measured numbers: per shot count, transfer vs
    /// the small CNN, with differences inside the noise of the validation set called ties.
    /// </summary>
    public static IReadOnlyList<string> Findings(ComparisonResult r)
    {
        var lines = new List<string>();
        var transfer = r.Curve.Where(p => p.Recipe == Recipe.Frozen).ToDictionary(p => p.PerClass);
        var scratch = r.Curve.Where(p => p.Recipe == Recipe.SmallCnn).ToDictionary(p => p.PerClass);
        var shots = transfer.Keys.Intersect(scratch.Keys).Order().ToList();
        if (shots.Count == 0) return lines;
        var verdicts = new List<(int K, int Sign)>();
        foreach (int k in shots)
        {
            double a = transfer[k].ValAccuracy, b = scratch[k].ValAccuracy, n = r.ValCount;
            // Two standard errors of the difference of two accuracies on n images each (independent binomials).
            double noise = 2 * Math.Sqrt((a * (1 - a) + b * (1 - b)) / n);
            int sign = a - b > noise ? 1 : b - a > noise ? -1 : 0;
            verdicts.Add((k, sign));
            string who = sign switch { 1 => "transfer ahead", -1 => "scratch ahead", _ => "within noise" };
            lines.Add(FormattableString.Invariant(
                $"{k} images per class: transfer {a * 100:0.0}% vs small CNN from scratch {b * 100:0.0}% ({(a - b) * 100:+0.0;-0.0} points, {who}; noise ±{noise * 100:0.0})"));
        }
        string List(IEnumerable<int> ks) => string.Join(", ", ks);
        var ahead = verdicts.Where(v => v.Sign > 0).Select(v => v.K).ToList();
        var tied = verdicts.Where(v => v.Sign == 0).Select(v => v.K).ToList();
        var behind = verdicts.Where(v => v.Sign < 0).Select(v => v.K).ToList();
        string summary = ahead.Count switch
        {
            0 when behind.Count == 0 => "Transfer and the small CNN from scratch are within noise of each other at every measured size.",
            0 => $"Transfer did not beat the small CNN from scratch at any measured size; scratch was ahead at {List(behind)} images per class.",
            _ when ahead.Count == verdicts.Count => $"Transfer was ahead at every measured size ({List(ahead)} images per class).",
            _ => $"Transfer was ahead at {List(ahead)} images per class" +
                 (tied.Count > 0 ? $", within noise at {List(tied)}" : "") +
                 (behind.Count > 0 ? $", and behind at {List(behind)}" : "") + ".",
        };
        // The point estimates too: with few validation images a consistent direction can matter even when each
        // difference alone is inside the noise.
        var diffs = shots.Select(k => (K: k, D: transfer[k].ValAccuracy - scratch[k].ValAccuracy)).ToList();
        if (diffs.Count >= 2)
        {
            var higher = diffs.Where(d => d.D > 0).Select(d => d.K).ToList();
            var lower = diffs.Where(d => d.D < 0).Select(d => d.K).ToList();
            var largest = diffs.MaxBy(d => Math.Abs(d.D));
            string gap = (largest.D * 100).ToString("+0.0;-0.0", System.Globalization.CultureInfo.InvariantCulture);
            var equal = diffs.Where(d => d.D == 0).Select(d => d.K).ToList();
            // Only the directions that occurred are named ("higher at 5, 10, lower at none" read as a glitch).
            string where = higher.Count == diffs.Count ? $"higher at every measured size ({List(higher)} images per class)"
                : lower.Count == diffs.Count ? $"lower at every measured size ({List(lower)} images per class)"
                : string.Join(", ", new[] { ("higher", higher), ("lower", lower), ("equal", equal) }
                      .Where(x => x.Item2.Count > 0).Select(x => $"{x.Item1} at {List(x.Item2)}")) + " images per class";
            summary += $" Point estimates: transfer {where}; largest gap {gap} points at {largest.K}.";
        }
        lines.Insert(0, summary);
        return lines;
    }
}
