using Headstart.Data;

namespace Headstart.Training;

/// <summary>How much of the pretrained network trains.</summary>
public enum Strategy
{
    /// <summary>Backbone frozen; features cached once; only the classifier section trains (the default).</summary>
    Frozen,
    /// <summary>fastai's fine_tune: frozen head epochs, then unfreeze with discriminative learning rates.</summary>
    FineTune,
    /// <summary>Everything trains from the first step (with pretrained weights unless --no-pretrained).</summary>
    Full,
}

/// <summary>Names of <see cref="Strategy"/> values as --strategy spells them.</summary>
public static class StrategyNames
{
    public static string CliName(this Strategy s) => s switch
    {
        Strategy.FineTune => "fine-tune",
        Strategy.Full => "full",
        _ => "frozen",
    };
}

/// <summary>Options of <see cref="TransferTrainer"/>; the CLI's train flags map 1:1 onto these.</summary>
public sealed record TrainOptions
{
    public string Model { get; init; } = Models.ModelRegistry.DefaultModel;
    /// <summary>Pretrained weights file overriding the registry's default source.</summary>
    public string? WeightsPath { get; init; }
    /// <summary>False trains from random initialisation (the "scratch" baseline).</summary>
    public bool Pretrained { get; init; } = true;
    public Strategy Strategy { get; init; } = Strategy.Frozen;
    /// <summary>What stays frozen; null = the strategy's own (frozen: the features; fine-tune: nothing after the head
    /// phase; full: nothing). <see cref="TrainingPlanner"/> says what each combination means, or why it has none.</summary>
    public Freeze? Freeze { get; init; }
    public int Epochs { get; init; } = 25;
    /// <summary>The frozen recipe's epoch count, also the default head phase of fine-tune on cached features.</summary>
    public const int FrozenRecipeEpochs = 25;
    /// <summary>Frozen-head epochs before unfreezing (fine-tune strategy). With a pretrained backbone they run on cached
    /// features with the frozen recipe's schedule, so they are cheap; null = <see cref="Epochs"/> of the frozen recipe
    /// (25) then, 1 otherwise.</summary>
    public int? FreezeEpochs { get; init; }
    public int BatchSize { get; init; } = 32;
    /// <summary>Training on images: run each batch in chunks of at most this many images, accumulating gradients
    /// (<see cref="Learner.MicroBatch"/>): less memory at the same optimiser batch; BatchNorm sees the chunk. Null: whole batches.</summary>
    public int? MicroBatch { get; init; }
    /// <summary>Peak learning rate (the head's); null picks the strategy's default.</summary>
    public double? LearningRate { get; init; }
    /// <summary>fine-tune: peak LR of the unfrozen phase (the head's; earlier groups get geometrically less, down to
    /// 1/100 of it); null = half of <see cref="LearningRate"/>, as fastai's fine_tune.</summary>
    public double? FineTuneLearningRate { get; init; }
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Sgd;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Step;
    public int StepSize { get; init; } = 7;
    public double Gamma { get; init; } = 0.1;
    public double WeightDecay { get; init; }
    public double Momentum { get; init; } = 0.9;
    public bool Nesterov { get; init; }
    public double LabelSmoothing { get; init; }
    public double? ClipGradNorm { get; init; }
    public int Seed { get; init; } = 42;
    public AugmentLevel Augment { get; init; } = AugmentLevel.Light;
    /// <summary>Augmented views per training image precomputed into the feature cache (frozen strategy): 1 = the
    /// mirror image of the centre crop; each further view is a random resized crop + flip. <see cref="AugmentLevel.Flip"/>
    /// has no further views: it caches at most the mirror image. Null (the default): decided from the data, the mirror
    /// view while the smallest class has fewer than <see cref="TrainingPlanner.MirrorViewBelowPerClass"/> training
    /// images, none from there (bench/README.md measures both sides).</summary>
    public int? AugmentViews { get; init; }
    /// <summary>Average predictions with the mirrored image (flip TTA; one more backbone pass per image; ignored when
    /// <see cref="Augment"/> is None). The bundle records it (<see cref="BundleManifest.TestTimeFlip"/>) and every
    /// inference path applies it, so the val accuracy training reports is what evaluate and predict get.</summary>
    public bool TestTimeFlip { get; init; }
    /// <summary>How the frozen recipe fits its head on the cached features: null (the default) lets the planner decide
    /// (<see cref="TrainingPlanner"/>: L-BFGS with its L2 chosen by cross-validation where it applies, else SGD);
    /// <see cref="HeadFit.Sgd"/> trains it by the optimiser, schedule and epochs above.</summary>
    public HeadFit? HeadFit { get; init; }
    /// <summary>Engine that runs the frozen backbone during extraction.</summary>
    public FeatureEngine Engine { get; init; } = FeatureEngine.Auto;
    /// <summary>Keep the weights of the epoch with the best validation accuracy. Off by default: selecting on the
    /// validation set makes its accuracy optimistic, and the fixed schedules converge.</summary>
    public bool KeepBest { get; init; }
    public int? EarlyStoppingPatience { get; init; }
    /// <summary>Validate after every epoch (the history's val columns, early stopping, --keep-best). False validates
    /// once, after training: what a run repeated only for its final accuracy needs (a comparison's seeds and shot
    /// counts), and on a small training set it saves most of the time.</summary>
    public bool ValidateEachEpoch { get; init; } = true;
    /// <summary>Keep BatchNorm statistics fixed in the layer groups that train (fine-tune, full).</summary>
    public bool FreezeBatchNorm { get; init; }
    public int Workers { get; init; }
    /// <summary>Feature cache root; null = $XDG_CACHE_HOME/headstart/features; "none" disables it.</summary>
    public string? CacheDir { get; init; }
    /// <summary>Validation fraction for folders without train/ and val/ (stratified, seeded).</summary>
    public double ValSplit { get; init; } = 0.2;
}
