using Headstart.Evaluation;
using Headstart.Models;
using Headstart.Weights;

namespace Headstart.Training;

/// <summary>One validation prediction, kept for reports (top losses).</summary>
public sealed record PredictionRecord(string Path, int Actual, int Predicted, float Probability, float Loss);

/// <summary>The outcome of a training run: the trained model, its manifest (for the bundle) and validation results.</summary>
/// <summary>Images that went through the backbone in one run, the compute that a comparison puts side by side:
/// <paramref name="Inference"/> forward passes without gradients (feature extraction, validation, evaluation) and
/// <paramref name="Training"/> forward and backward passes (training steps on images). Training on cached features
/// adds none: only the head runs there.</summary>
public sealed record BackbonePasses(long Inference, long Training)
{
    public long Total => Inference + Training;
}

public sealed class TrainResult(ImageClassifier model, ModelSpec spec, BundleManifest manifest,
    IReadOnlyList<PredictionRecord> predictions, FrozenBackbone? backbone = null, bool backboneImported = true,
    BackbonePasses? passes = null) : IDisposable
{
    /// <summary>Backbone passes this run made (a resumed run counts its own process only).</summary>
    public BackbonePasses Passes { get; } = passes ?? new BackbonePasses(0, 0);

    private readonly Lock gate = new();
    private bool imported = backboneImported;

    /// <summary>The whole trained network. When ONNX Runtime computed the frozen features, the TorchSharp copy of the
    /// backbone is only imported here, on first use: saving a bundle (ModelBundle.Save)
    /// never needs it.</summary>
    public ImageClassifier Model
    {
        get
        {
            lock (gate)
            {
                if (!imported)
                {
                    Pretrained.Load(model, Spec, new ResolvedWeights(Backbone!.SourcePath, Spec.SourceOf(Backbone.SourcePath)), skipHead: true);
                    model.eval();
                    imported = true;
                }
            }
            return model;
        }
    }

    /// <summary>The model as trained, possibly without its frozen backbone's weights (see <see cref="Model"/>).</summary>
    internal ImageClassifier TrainedParts => model;
    public ModelSpec Spec { get; } = spec;
    public BundleManifest Manifest { get; } = manifest;
    public IReadOnlyList<PredictionRecord> ValPredictions { get; } = predictions;
    public ClassificationMetrics Metrics => Manifest.Metrics!;
    /// <summary>The pretrained file the frozen layer groups still equal (frozen strategy), or null.</summary>
    public FrozenBackbone? Backbone { get; } = backbone;
    /// <summary>Parameters that trained (requires_grad at the end of training).</summary>
    public long TrainableParameters { get; } = model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
    public void Dispose() => model.Dispose();
}

/// <summary>Checkpointing of a training run: where to write one after each epoch, and optionally one to resume from.</summary>
/// <param name="MinIntervalSeconds">Skip an epoch's checkpoint when the last one was written less than this long ago
/// (0 = after every epoch); see <see cref="CheckpointCallback"/>.</param>
public sealed record CheckpointOptions(string Directory, string? ResumeFrom = null, double MinIntervalSeconds = 0);

/// <summary>An LR range test on one phase of a plan: the sweep, the plan, and which phase was swept.</summary>
public sealed record LrSweep(LrFindResult Result, TrainingPlan Plan, int PhaseIndex)
{
    public TrainingPhase Phase => Plan.Phases[PhaseIndex];
}
