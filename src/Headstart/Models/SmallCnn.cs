using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>
/// A small CNN for training from scratch, in the spirit of PyTorch's MNIST and CIFAR-10 tutorial networks: two blocks
/// of two 3x3 convolutions (with BatchNorm, so that it trains in few epochs) and a max-pool, then a two-layer classifier.
/// It is the "no transfer" baseline of <c>headstart compare</c>: about 80 K parameters and 6.5 M multiply-adds on 32x32 inputs (ResNet18: 11.7 M and 1.8 G at 224), cheap on a CPU.
/// An adaptive average pool makes it accept any input of at least 4x4 after the two pools.
/// </summary>
public sealed class SmallCnn : ImageClassifier
{
    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Sequential classifier;
    private readonly int numClasses;

    public SmallCnn(string name = "small_cnn", int numClasses = 10, double dropout = 0.5) : base(name)
    {
        this.numClasses = numClasses;
        features = Sequential(
            Conv2d(3, 16, 3, padding: 1, bias: false), BatchNorm2d(16), ReLU(inplace: true),   // 0, 1, 2
            Conv2d(16, 16, 3, padding: 1, bias: false), BatchNorm2d(16), ReLU(inplace: true),  // 3, 4, 5
            MaxPool2d(2),                                                                      // 6: S/2
            Conv2d(16, 32, 3, padding: 1, bias: false), BatchNorm2d(32), ReLU(inplace: true),  // 7, 8, 9
            Conv2d(32, 32, 3, padding: 1, bias: false), BatchNorm2d(32), ReLU(inplace: true),  // 10, 11, 12
            MaxPool2d(2));                                                                     // 13: S/4
        avgpool = AdaptiveAvgPool2d((4, 4));
        classifier = Sequential(
            Dropout(dropout / 2),
            Linear(32 * 4 * 4, 128), ReLU(inplace: true),
            Dropout(dropout),
            Linear(128, numClasses));
        RegisterComponents();
    }

    public override int NumClasses => numClasses;

    public override Tensor ForwardFeatures(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = avgpool.call(features.call(input));   // (B, 32, 4, 4)
        return x.flatten(1).MoveToOuterDisposeScope(); // (B, 512)
    }

    public override Tensor ForwardClassifier(Tensor features) => classifier.call(features);
}

/// <summary>Registry record of the small from-scratch CNN (no pretrained weights exist for it).</summary>
internal static class SmallCnnFamily
{
    public static IEnumerable<ModelSpec> Specs()
    {
        yield return new ModelSpec
        {
            Name = "small_cnn",
            Family = "small_cnn",
            Layout = new ForwardLayout.FeaturesThenClassifier(GlobalPool: false),
            Description = "Small 4-conv CNN on 32x32 inputs (MNIST/CIFAR-10 tutorial style) for training from scratch; no pretrained weights",
            Factory = n => new SmallCnn("small_cnn", n),
            ClassifierPrefix = "classifier",
            HeadPrefix = "classifier.4",
            LayerGroups =
            [
                new("stem", ["features.0", "features.1"]),
                new("block1", ["features.3", "features.4"]),
                new("block2", ["features.7", "features.8", "features.10", "features.11"]),
                new("head", ["classifier"]),
            ],
            // Resize straight to 32 px (no crop margin): small images such as Fashion-MNIST's 28 px keep every pixel.
            Preprocessing = new Preprocessing { InputSize = 32, ResizeSize = 32 },
            WeightSources = [],
        };
    }
}
