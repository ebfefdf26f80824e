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

    /// <summary>
    /// The state_dict in PyTorch's order: each module's own parameters, then its own persistent buffers, then its
    /// children depth-first (TorchSharp's default lists every parameter of the tree before any buffer). Weight files
    /// written from this model therefore list keys exactly as torchvision's do.
    /// </summary>
    public override Dictionary<string, Tensor> state_dict(Dictionary<string, Tensor>? destination = null, string? prefix = null)
    {
        destination ??= new Dictionary<string, Tensor>();
        AddInTorchOrder(this, prefix, destination);
        return destination;
    }

    private static void AddInTorchOrder(nn.Module module, string? prefix, Dictionary<string, Tensor> destination)
    {
        string Key(string name) => string.IsNullOrEmpty(prefix) ? name : $"{prefix}.{name}";
        foreach (var (name, p) in module.named_parameters(recurse: false)) destination.TryAdd(Key(name), p);
        foreach (var (name, b) in module.named_buffers(recurse: false, include_nonpersistent: false)) destination.TryAdd(Key(name), b);
        foreach (var (name, child) in module.named_children()) AddInTorchOrder(child, Key(name), destination);
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return ForwardClassifier(ForwardFeatures(input)).MoveToOuterDisposeScope();
    }
}
