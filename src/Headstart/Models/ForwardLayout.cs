namespace Headstart.Models;

/// <summary>
/// How a model's forward pass is laid out over its named children, so that a writer outside TorchSharp (the ONNX
/// exporter) can re-trace it from the record instead of knowing each family. One of three shapes covers the zoo.
/// </summary>
public abstract record ForwardLayout
{
    private ForwardLayout() { }

    /// <summary>ResNet and its kin: written from the state_dict (stem, layer1-4 of Basic or Bottleneck blocks,
    /// global pool, fc), as the block structure is fully named by the keys.</summary>
    public sealed record ResNetBlocks : ForwardLayout;

    /// <summary>
    /// features → [ReLU] → pool → [flatten] → classifier → [flatten]. Pool: the model's own <c>avgpool</c> child when
    /// it has one, else a global average pool when <see cref="GlobalPool"/>, else none.
    /// </summary>
    /// <param name="Features">Name of the feature child: "features", or MNASNet's "layers".</param>
    /// <param name="GlobalPool">Global average pool when the model has no <c>avgpool</c> child (MobileNet, DenseNet).</param>
    /// <param name="ReluAfterFeatures">DenseNet's functional ReLU after its last BatchNorm.</param>
    /// <param name="Flatten">Where (N, C, 1, 1) becomes (N, C).</param>
    public sealed record FeaturesThenClassifier(string Features = "features", bool GlobalPool = true,
        bool ReluAfterFeatures = false, FlattenAt Flatten = FlattenAt.BeforeClassifier) : ForwardLayout;

    /// <summary>
    /// Every child in registration (= forward) order; just before <see cref="Head"/>, an optional global average pool
    /// and a flatten (GoogLeNet and Inception v3 flatten before their dropout, ShuffleNet pools and flattens before fc).
    /// </summary>
    public sealed record ChildrenInOrder(string Head, bool GlobalPoolBeforeHead = false) : ForwardLayout;
}

/// <summary>Where a <see cref="ForwardLayout.FeaturesThenClassifier"/> flattens (N, C, 1, 1) to (N, C).</summary>
public enum FlattenAt
{
    BeforeClassifier,
    /// <summary>SqueezeNet: its classifier ends in a global pool, so the flatten comes last.</summary>
    AfterClassifier,
    /// <summary>ConvNeXt: its classifier starts with a LayerNorm2d on (N, C, 1, 1) and flattens itself.</summary>
    InsideClassifier,
}

/// <summary>A model that re-normalises its input itself (torchvision's <c>transform_input</c>: GoogLeNet and
/// Inception v3 with ImageNet weights map ImageNet-normalised inputs to (x − 0.5) / 0.5).</summary>
public interface ITransformsInput
{
    bool TransformsInput { get; }
}
