using System.Globalization;
using Headstart.Data;

namespace Headstart.Training;

/// <summary>Options that have no plan: the message says why and what to ask for instead (a usage error).</summary>
public sealed class TrainingPlanException(string message) : HeadstartException(message);

/// <summary>What a phase trains on.</summary>
public enum PhaseInput
{
    /// <summary>Backbone features computed once per image view (through the on-disk cache); only the classifier
    /// section runs per step.</summary>
    CachedFeatures,
    /// <summary>Decoded, transformed images through the whole network every step.</summary>
    Images,
}

/// <summary>The views of each image that the feature cache holds: the centre crop always, then
/// <paramref name="TrainViews"/> more per training image (1 = its mirror image, further ones random crops with
/// <paramref name="RandomAugment"/>), and the validation images' mirror image when <paramref name="MirroredValidation"/>.</summary>
public sealed record CachedViews(int TrainViews, AugmentLevel RandomAugment, bool MirroredValidation);

/// <summary>What the planner reads from the data: how many training images, and in the smallest class.</summary>
public sealed record DataShape(int TrainImages, int Classes, int SmallestClass)
{
    public static DataShape Of(ImageDataset data)
    {
        var perClass = new int[data.Classes.Count];   // one pass over the training set, whatever the class count
        foreach (var s in data.Train) perClass[s.Label]++;
        return new(data.Train.Count, perClass.Length, perClass.Length == 0 ? 0 : perClass.Min());
    }
}

/// <summary>
/// One Fit of the learner. The first <see cref="FrozenGroups"/> layer groups are frozen (requires_grad off, eval mode,
/// BatchNorm statistics included); the rest train with learning rates spread geometrically from
/// <see cref="LearningRate"/>.Min (first trained group) to .Max (the head), under <see cref="Schedule"/>.
/// </summary>
public sealed record TrainingPhase
{
    /// <summary>"head", "unfrozen", "partial" or "all".</summary>
    public required string Name { get; init; }
    public required PhaseInput Input { get; init; }
    public required int FrozenGroups { get; init; }
    /// <summary>The layer groups that train, by name (for people; <see cref="FrozenGroups"/> is what runs).</summary>
    public required IReadOnlyList<string> TrainedGroups { get; init; }
    /// <summary>BatchNorm in the groups that train keeps its running statistics too (--freeze-bn).</summary>
    public required bool FreezeBatchNorm { get; init; }
    public required int Epochs { get; init; }
    public required LearningRate LearningRate { get; init; }
    /// <summary>The train option that sets this phase's peak rate (what lr-find's suggestion is for).</summary>
    public string RateOption { get; init; } = "--lr";
    public required Schedule Schedule { get; init; }
    /// <summary>The training images' augmentation (image phases; cached phases see <see cref="TrainingPlan.Features"/>).</summary>
    public required AugmentLevel Augment { get; init; }
    /// <summary>A head phase on cached features may be a convex fit instead of epochs (<see cref="HeadFit.Lbfgs"/>);
    /// then <see cref="Epochs"/>, <see cref="LearningRate"/> and <see cref="Schedule"/> are not used.</summary>
    public HeadFit Fit { get; init; } = HeadFit.Sgd;
    /// <summary>Folds of the cross-validation that picks the L2 strength (<see cref="HeadFit.Lbfgs"/> only).</summary>
    public int Folds { get; init; }
}

/// <summary>How a head phase on cached features fits the head.</summary>
public enum HeadFit
{
    /// <summary>Mini-batch gradient steps: the plan's optimiser, schedule and epochs.</summary>
    Sgd,
    /// <summary>Multinomial logistic regression fitted to convergence by L-BFGS, its L2 strength chosen by
    /// cross-validation on the training rows (<see cref="LinearProbe"/>); no epochs, rate or schedule.</summary>
    Lbfgs,
}

/// <summary>How the validation split is scored after the last phase.</summary>
/// <param name="Input">Cached features (the frozen fast path) or images through the whole network.</param>
/// <param name="MirroredViews">Average with the mirrored image (flip test-time augmentation).</param>
public sealed record EvaluationPlan(PhaseInput Input, bool MirroredViews);

/// <summary>
/// Options resolved once into what will run (<see cref="TrainingPlanner"/>): immutable, printable
/// (<c>headstart train --plan</c>), stored in the bundle's manifest. <see cref="TransferTrainer"/> runs its phases in
/// order; a checkpoint's phase number is an index into <see cref="Phases"/>.
/// </summary>
public sealed record TrainingPlan
{
    public required string Model { get; init; }
    public required Strategy Strategy { get; init; }
    /// <summary>The user's --freeze, if given.</summary>
    public Freeze? Freeze { get; init; }
    public required bool Pretrained { get; init; }
    /// <summary>A weights file given by the user; null = the model's registry source (or none when not pretrained).</summary>
    public string? WeightsPath { get; init; }
    /// <summary>The model's layer groups, stem first; the last is the classifier section.</summary>
    public required IReadOnlyList<string> LayerGroups { get; init; }
    public required OptimizerOptions Optimizer { get; init; }
    public required int BatchSize { get; init; }
    /// <summary>Phases on images run each batch in chunks of at most this many images, gradients accumulated
    /// (<see cref="Learner.MicroBatch"/>); null: whole batches.</summary>
    public int? MicroBatch { get; init; }
    /// <summary>False: no validation between epochs, only the final evaluation.</summary>
    public bool ValidateEachEpoch { get; init; } = true;
    public required double LabelSmoothing { get; init; }
    public required int Seed { get; init; }
    /// <summary>The cached views, when a phase or the evaluation uses cached features; else null.</summary>
    public CachedViews? Features { get; init; }
    public required IReadOnlyList<TrainingPhase> Phases { get; init; }
    public required EvaluationPlan Evaluation { get; init; }
    /// <summary>Why the plan is what it is, where the options alone don't say (e.g. why a phase can't use the cache).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>The frozen fast path: every phase and the evaluation on cached features, so the backbone runs once per
    /// image view and its weights never change.</summary>
    public bool FeaturesOnly => Phases.All(p => p.Input == PhaseInput.CachedFeatures) && Evaluation.Input == PhaseInput.CachedFeatures;

    public bool UsesFeatures => Features is not null;

    /// <summary>The plan in words, one line per item (what <c>--plan</c> prints).</summary>
    public IReadOnlyList<string> Describe()
    {
        static string F(double v) => v.ToString("g3", CultureInfo.InvariantCulture);
        var lines = new List<string>
        {
            $"{Model}, strategy {Strategy.CliName()}" + (Freeze is { } f ? $", --freeze {f}" : "") +
            $"; {(Pretrained ? $"pretrained weights from {WeightsPath ?? "the registry's default source"}" : "random initialisation")}",
            $"layer groups: {string.Join(", ", LayerGroups.Select((g, i) => $"{i} {g}"))}",
            Phases.Count > 0 && Phases.All(p => p.Fit == HeadFit.Lbfgs)
                ? $"no optimiser, rate or epochs: the head is a convex fit; seed {Seed} (the folds)"
                : $"optimiser {Optimizer.Kind.ToString().ToLowerInvariant()} (momentum {F(Optimizer.Momentum)}, weight decay {F(Optimizer.WeightDecay)}), " +
                  $"batch {BatchSize}{(MicroBatch is int mb ? $" (in chunks of {mb} images, gradients accumulated)" : "")}, label smoothing {F(LabelSmoothing)}, seed {Seed}" +
                  (ValidateEachEpoch ? "" : "; validation only after training"),
        };
        if (Features is { } v)
            lines.Add($"feature cache: centre crop + {v.TrainViews} view(s) per training image" +
                      (v.TrainViews > 1 ? $" (mirror, then random {v.RandomAugment.ToString().ToLowerInvariant()} crops)" : v.TrainViews == 1 ? " (its mirror image)" : "") +
                      (v.MirroredValidation ? "; mirrored validation views" : ""));
        for (int i = 0; i < Phases.Count; i++)
        {
            var p = Phases[i];
            string input = p.Input == PhaseInput.CachedFeatures ? "cached features" : $"images (augment {p.Augment.ToString().ToLowerInvariant()})";
            string lr = p.LearningRate.Min == p.LearningRate.Max ? F(p.LearningRate.Max) : $"{F(p.LearningRate.Min)}..{F(p.LearningRate.Max)}";
            if (p.Fit == HeadFit.Lbfgs)
            {
                lines.Add($"phase {i} '{p.Name}': logistic regression on {input} by L-BFGS to convergence, its L2 strength chosen by " +
                          $"{p.Folds}-fold cross-validation on the training rows (folds by image; no look at validation); frozen groups " +
                          $"0..{p.FrozenGroups - 1} ({p.FrozenGroups}), training {string.Join(", ", p.TrainedGroups)}");
                continue;
            }
            lines.Add($"phase {i} '{p.Name}': {p.Epochs} epoch(s) on {input}; frozen groups 0..{p.FrozenGroups - 1} " +
                      $"({p.FrozenGroups}), training {string.Join(", ", p.TrainedGroups)}{(p.FreezeBatchNorm ? " with BatchNorm statistics fixed" : "")}; " +
                      $"lr {lr}, schedule {ScheduleText(p.Schedule)}");
        }
        if (Phases.Count == 0) lines.Add("no training phase (0 epochs): the new head stays as initialised");
        lines.Add($"evaluation on {(Evaluation.Input == PhaseInput.CachedFeatures ? "cached features" : "images")}" +
                  (Evaluation.MirroredViews ? ", averaged with the mirrored image" : ""));
        lines.AddRange(Notes.Select(n => $"note: {n}"));
        return lines;
    }

    private static string ScheduleText(Schedule s) => s switch
    {
        StepSchedule st => FormattableString.Invariant($"step (x{st.Gamma:g3} every {st.StepSize} epochs)"),
        CosineSchedule c => FormattableString.Invariant($"cosine (warm-up {c.WarmupFraction:P0})"),
        OneCycleSchedule o => FormattableString.Invariant($"one-cycle (warm-up {o.PctStart:P0})"),
        _ => "constant",
    };
}
