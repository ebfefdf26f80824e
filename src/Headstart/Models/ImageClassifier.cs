using TorchSharp;
using static TorchSharp.torch;

namespace Headstart.Models;

/// <summary>
/// Base of every Headstart model: a torchvision-compatible module whose forward is split in two, so that a frozen
/// backbone's output can be cached and only the classifier section trained.
/// State-dict keys are exactly torchvision's, so real weight files load unchanged.
/// </summary>
public abstract class ImageClassifier : nn.Module<Tensor, Tensor>
{
    protected ImageClassifier(string name) : base(name) { }

    /// <summary>Number of output classes of the classifier head.</summary>
    public abstract int NumClasses { get; }

    /// <summary>
    /// The frozen part: (B, 3, H, W) normalised input to the tensor the classifier section consumes,
    /// e.g. (B, 512) for resnet18 (after avgpool + flatten) or (B, 9216) for alexnet (features + avgpool + flatten).
    /// </summary>
    public abstract Tensor ForwardFeatures(Tensor input);

    /// <summary>The classifier section: features from <see cref="ForwardFeatures"/> to logits (B, NumClasses).</summary>
    public abstract Tensor ForwardClassifier(Tensor features);

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return ForwardClassifier(ForwardFeatures(input)).MoveToOuterDisposeScope();
    }
}
