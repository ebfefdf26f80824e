using Headstart.Data;
using Headstart.Models;

namespace Headstart.Training;

/// <summary>
/// Turns <see cref="TrainOptions"/> into a <see cref="TrainingPlan"/>, once, for train, compare, the demo, lr-find and
/// resume alike. Every combination of options either gets a plan or a <see cref="TrainingPlanException"/> that says
/// why and what to ask for instead; nothing downstream re-reads the strategy or the freeze.
/// </summary>
public static class TrainingPlanner
{
    /// <summary>The peak learning rate when none is given: SGD 0.01, AdamW 0.001.</summary>
    public static double DefaultLearningRate(OptimizerKind optimizer) => optimizer == OptimizerKind.Sgd ? 1e-2 : 1e-3;

    /// <summary>fine-tune's unfrozen phase: the first trained group gets this much less than the head.</summary>
    public const double DiscriminativeSpread = 100;

    /// <summary>With <see cref="TrainOptions.AugmentViews"/> left to the data: the smallest class's training images
    /// below which the frozen recipe caches each image's mirror view. bench/README.md: paired over seeds, it gained
    /// 0.1-0.5 points on average at 20-80 images per class, and lost 0.7 at 100 per class (Fashion-MNIST) and 0.8 at
    /// about 590 (3,670 flower photos), for 1.0-2.1x the wall time.</summary>
    public const int MirrorViewBelowPerClass = 100;

    /// <param name="data">The training set's shape, which the default views depend on; null only to check options
    /// before the data is read (the views are then planned as for a small set).</param>
    public static TrainingPlan Plan(TrainOptions o, ModelSpec spec, DataShape? data = null)
    {
        Check(o);
        int groups = spec.LayerGroups.Count, head = groups - 1;
        double lr = o.LearningRate ?? DefaultLearningRate(o.Optimizer);
        var schedule = Schedule.Create(o.Schedule, o.StepSize, o.Gamma, warmup: 0.05);
        var notes = new List<string>();
        TrainingPhase Phase(string name, PhaseInput input, int frozen, int epochs, LearningRate rate, Schedule s, bool freezeBn) => new()
        {
            Name = name, Input = input, FrozenGroups = frozen, Epochs = epochs, LearningRate = rate, Schedule = s,
            FreezeBatchNorm = freezeBn, Augment = o.Augment,
            TrainedGroups = spec.LayerGroups.Skip(frozen).Select(g => g.Name).ToList(),
        };
        var phases = new List<TrainingPhase>();
        var fit = HeadFit.Sgd;
        bool tta = o.TestTimeFlip && o.Augment != AugmentLevel.None;
        EvaluationPlan evaluation;
        switch (o.Strategy)
        {
            case Strategy.Frozen:
            {
                var freeze = o.Freeze ?? Freeze.Features;
                int frozen = freeze.GroupsFor(spec);
                if (frozen == 0)
                    throw new TrainingPlanException($"--strategy frozen with --freeze {freeze} freezes nothing: that is --strategy full");
                if (frozen == head)
                {
                    // The fast path: the backbone never changes, so each image view goes through it once.
                    fit = HeadFitFor(o, spec, data, notes);
                    phases.Add(Phase("head", PhaseInput.CachedFeatures, head, o.Epochs, lr, schedule, freezeBn: false) with
                    {
                        Fit = fit, Folds = fit == HeadFit.Lbfgs ? LbfgsFolds : 0,
                    });
                    evaluation = new EvaluationPlan(PhaseInput.CachedFeatures, tta);
                    if (freeze.Kind == FreezeKind.Groups)
                        notes.Add($"--freeze {frozen} is every group before the classifier section: the cached-features fast path");
                }
                else
                {
                    if (o.HeadFit == HeadFit.Lbfgs)
                        throw new TrainingPlanException($"--head-fit lbfgs fits a head on cached features, and --freeze {freeze} trains groups " +
                                                        "before it on images, by epochs: drop --head-fit, or use --freeze features");
                    phases.Add(Phase("partial", PhaseInput.Images, frozen, o.Epochs, lr, schedule, o.FreezeBatchNorm));
                    evaluation = new EvaluationPlan(PhaseInput.Images, tta);
                    notes.Add($"features can't be cached: groups {frozen}..{head - 1} " +
                              $"({string.Join(", ", spec.LayerGroups.Skip(frozen).Take(head - frozen).Select(g => g.Name))}) train, so " +
                              "every image goes through the network every epoch; --freeze features (the default) trains the head alone on cached features");
                }
                break;
            }
            case Strategy.FineTune:
            {
                if (o.Freeze is { Kind: FreezeKind.Features })
                    throw new TrainingPlanException("--strategy fine-tune with --freeze features would never unfreeze the backbone: that is " +
                                                    "--strategy frozen. With fine-tune, --freeze N keeps the first N layer groups frozen after the head phase");
                int keep = o.Freeze?.GroupsFor(spec) ?? 0;
                if (keep == head)
                    throw new TrainingPlanException($"--freeze {keep} keeps every group before {spec.Name}'s classifier section frozen, so fine-tune " +
                                                    "would unfreeze nothing: that is --strategy frozen; use --freeze 0.." + (head - 1));
                int headEpochs = o.FreezeEpochs ?? (o.Pretrained ? TrainOptions.FrozenRecipeEpochs : 1);
                // With a pretrained backbone the head phase is the frozen recipe's SGD head (--head-fit sgd), on cached
                // features (its schedule included), so the unfrozen phase starts from a trained head. From random initialisation
                // there is nothing worth caching: one one-cycle epoch on images warms the head up, as fastai does.
                bool cached = o.Pretrained;
                if (headEpochs > 0)
                    phases.Add(cached
                        ? Phase("head", PhaseInput.CachedFeatures, head, headEpochs, lr, schedule, o.FreezeBatchNorm)
                        : Phase("head", PhaseInput.Images, head, headEpochs, lr, new OneCycleSchedule(PctStart: 0.99), o.FreezeBatchNorm));
                if (!o.Pretrained) notes.Add("from random initialisation the head phase trains on images: random features are not worth caching");
                double baseLr = o.FineTuneLearningRate ?? lr / 2;
                if (o.Epochs > 0)
                    phases.Add(Phase("unfrozen", PhaseInput.Images, keep, o.Epochs, new LearningRate(baseLr / DiscriminativeSpread, baseLr),
                        new OneCycleSchedule(PctStart: 0.3), o.FreezeBatchNorm) with { RateOption = "--fine-tune-lr" });
                evaluation = new EvaluationPlan(PhaseInput.Images, tta);
                break;
            }
            default:
            {
                if (o.Freeze is { } f && f.GroupsFor(spec) != 0)
                    throw new TrainingPlanException($"--strategy full trains every layer group, so --freeze {f} has no meaning there; " +
                                                    "--strategy fine-tune --freeze N keeps N groups frozen after a head phase");
                phases.Add(Phase("all", PhaseInput.Images, 0, o.Epochs, lr, schedule, o.FreezeBatchNorm));
                evaluation = new EvaluationPlan(PhaseInput.Images, tta);
                break;
            }
        }
        phases.RemoveAll(p => p.Epochs == 0);
        // A backbone only ONNX Runtime runs (--model onnx:PATH) has nothing TorchSharp could train.
        if (!spec.BackboneTrainable)
        {
            if (!o.Pretrained) throw new TrainingPlanException($"{spec.Name} is an ONNX file: it has no random initialisation; drop --no-pretrained");
            if (o.WeightsPath is not null) throw new TrainingPlanException($"{spec.Name} is its own weights file; drop --weights");
            if (!(phases.All(p => p.Input == PhaseInput.CachedFeatures) && evaluation.Input == PhaseInput.CachedFeatures))
                throw new TrainingPlanException($"{spec.Name}'s backbone runs in ONNX Runtime only, so only the new head can train: " +
                                                "use --strategy frozen (the default) with --freeze features");
        }
        bool usesFeatures = phases.Any(p => p.Input == PhaseInput.CachedFeatures) || evaluation.Input == PhaseInput.CachedFeatures;
        if (!usesFeatures && o.Engine == FeatureEngine.Onnx)
            throw new TrainingPlanException("--engine onnx runs the backbone of cached-feature phases, and this plan has none " +
                                            $"(strategy {o.Strategy.CliName()}): leave --engine out");
        return new TrainingPlan
        {
            Model = spec.Name, Strategy = o.Strategy, Freeze = o.Freeze, Pretrained = o.Pretrained,
            WeightsPath = o.Pretrained ? o.WeightsPath : null,
            LayerGroups = spec.LayerGroups.Select(g => g.Name).ToList(),
            Optimizer = new OptimizerOptions
            {
                Kind = o.Optimizer, Momentum = o.Momentum, Nesterov = o.Nesterov, WeightDecay = o.WeightDecay,
            },
            BatchSize = o.BatchSize, LabelSmoothing = o.LabelSmoothing, Seed = o.Seed,
            // Chunks smaller than a batch only matter where images train; on cached features a batch is a few KB.
            MicroBatch = o.MicroBatch is int mb && mb < o.BatchSize && phases.Any(p => p.Input == PhaseInput.Images) ? mb : null,
            ValidateEachEpoch = o.ValidateEachEpoch,
            // Validation mirror views are cached only when the evaluation itself runs on features.
            Features = usesFeatures ? new CachedViews(TrainViews(o, data, notes, fit), RandomAugment(o), evaluation.Input == PhaseInput.CachedFeatures && tta) : null,
            Phases = phases, Evaluation = evaluation, Notes = notes,
        };
    }

    /// <summary>Cached views per training image beyond the centre crop. --augment none caches none; flip has exactly
    /// two views, so random views beyond the mirror would only repeat them. Left to the data: none under the L-BFGS
    /// head, which gained more on the centre crop alone than with the mirror view, in half the extraction; under SGD
    /// the mirror view while the smallest class is small (a note says which way it went and why).</summary>
    private static int TrainViews(TrainOptions o, DataShape? data, List<string> notes, HeadFit fit)
    {
        if (o.Augment == AugmentLevel.None) return 0;
        if (o.AugmentViews is int views) return o.Augment == AugmentLevel.Flip ? Math.Min(1, views) : views;
        if (fit == HeadFit.Lbfgs)
        {
            notes.Add("cached views: the centre crop only; the L-BFGS head on it beat SGD on centre and mirror views in bench/README.md, " +
                      "for half the extraction; --augment-views 1 caches the mirror view too");
            return 0;
        }
        if (data is null || data.SmallestClass < MirrorViewBelowPerClass)
        {
            if (data is not null)
                notes.Add($"cached views from the data: each training image's mirror view too, as the smallest class has " +
                          $"{data.SmallestClass} training images (< {MirrorViewBelowPerClass}); --augment-views 0 skips it");
            return 1;
        }
        notes.Add($"cached views from the data: the centre crop only, as the smallest class has {data.SmallestClass} training " +
                  $"images (>= {MirrorViewBelowPerClass}), where the mirror view no longer paid for its pass; --augment-views 1 caches it");
        return 0;
    }

    /// <summary>Folds of the cross-validation that picks the L-BFGS head's L2 strength.</summary>
    public const int LbfgsFolds = 5;

    /// <summary>Left to the planner, the head is fitted by L-BFGS up to this many training images; beyond, by SGD,
    /// whose batches stream from disk (a sharded feature set) and whose cost stays a fraction of extraction's.</summary>
    public const int LbfgsMaxImages = 10_000;

    /// <summary>The frozen fast path's head fit. Left to the planner: L-BFGS where the classifier section is the one
    /// re-headed Linear layer (so the fit is the whole head), nothing reads validation between epochs (--keep-best,
    /// --patience), and the set is small enough; else SGD, with a note that says why.</summary>
    private static HeadFit HeadFitFor(TrainOptions o, ModelSpec spec, DataShape? data, List<string> notes)
    {
        if (o.HeadFit == HeadFit.Sgd) return HeadFit.Sgd;
        bool linear = spec.ClassifierPrefix == spec.HeadPrefix;
        bool perEpoch = o.KeepBest || o.EarlyStoppingPatience is not null;
        if (o.HeadFit == HeadFit.Lbfgs)
        {
            if (!linear)
                throw new TrainingPlanException($"--head-fit lbfgs fits one Linear layer, and {spec.Name}'s classifier section " +
                                                $"'{spec.ClassifierPrefix}' holds more than its last layer '{spec.HeadPrefix}': use --head-fit sgd");
            if (perEpoch)
                throw new TrainingPlanException("--keep-best and --patience pick among epochs, and --head-fit lbfgs has none: use --head-fit sgd");
            return HeadFit.Lbfgs;
        }
        string? why = !linear ? $"{spec.Name}'s classifier section '{spec.ClassifierPrefix}' is more than one Linear layer"
            : perEpoch ? "--keep-best or --patience picks among epochs"
            : data is not null && data.TrainImages > LbfgsMaxImages ? $"{data.TrainImages} training images (> {LbfgsMaxImages}): SGD's batches stream"
            : null;
        if (why is not null)
        {
            notes.Add($"head fitted by SGD, not L-BFGS: {why}");
            return HeadFit.Sgd;
        }
        return HeadFit.Lbfgs;
    }

    private static AugmentLevel RandomAugment(TrainOptions o) => o.Augment == AugmentLevel.None ? AugmentLevel.Light : o.Augment;

    /// <summary>Numbers out of range, and options that only one strategy reads given to another.</summary>
    private static void Check(TrainOptions o)
    {
        if (o.Epochs < 0) throw new TrainingPlanException($"--epochs must be 0 or more, got {o.Epochs}");
        if (o.BatchSize <= 0) throw new TrainingPlanException($"--batch-size must be positive, got {o.BatchSize}");
        if (o.MicroBatch is <= 0) throw new TrainingPlanException($"--micro-batch must be positive, got {o.MicroBatch}");
        if (!o.ValidateEachEpoch && (o.KeepBest || o.EarlyStoppingPatience is not null))
            throw new TrainingPlanException("--keep-best and --patience read the validation set after every epoch, and this run validates only once, at the end");
        if (o.AugmentViews < 0) throw new TrainingPlanException($"--augment-views must be 0 or more, got {o.AugmentViews}");
        if (o.FreezeEpochs is < 0) throw new TrainingPlanException($"--freeze-epochs must be 0 or more, got {o.FreezeEpochs}");
        if (o.LearningRate is <= 0 || o.FineTuneLearningRate is <= 0) throw new TrainingPlanException("learning rates must be positive");
        if (o.Strategy != Strategy.FineTune && o.FreezeEpochs is not null)
            throw new TrainingPlanException("--freeze-epochs is the head phase of --strategy fine-tune; the other strategies have no such phase");
        if (o.HeadFit == HeadFit.Lbfgs && o.Strategy != Strategy.Frozen)
            throw new TrainingPlanException("--head-fit lbfgs fits the head of the frozen strategy's cached features (--strategy frozen, --freeze features); " +
                                            "the other plans train by epochs: drop --head-fit");
        if (o.Strategy != Strategy.FineTune && o.FineTuneLearningRate is not null)
            throw new TrainingPlanException("--fine-tune-lr is the unfrozen phase's rate of --strategy fine-tune; use --lr with the other strategies");
    }
}
