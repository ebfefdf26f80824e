using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>
/// torchvision's SqueezeNet 1.0 / 1.1 (Iandola et al. 2016), with torchvision state-dict keys.
/// The classifier is a 1x1 convolution, so the split point is the (B, 512, 13, 13) feature map at 224 px, not a vector.
/// </summary>
public sealed class SqueezeNet : ImageClassifier
{
    private readonly Sequential features;
    private readonly Sequential classifier;
    private readonly int numClasses;

    /// <param name="version">"1_0" or "1_1".</param>
    public SqueezeNet(string name, string version, int numClasses = 1000, double dropout = 0.5) : base(name)
    {
        this.numClasses = numClasses;
        MaxPool2d Pool() => MaxPool2d(kernel_size: 3, stride: 2, ceil_mode: true);
        features = version switch
        {
            "1_0" => Sequential(
                Conv2d(3, 96, kernel_size: 7, stride: 2), ReLU(inplace: true), Pool(),
                new Fire(96, 16, 64, 64), new Fire(128, 16, 64, 64), new Fire(128, 32, 128, 128), Pool(),
                new Fire(256, 32, 128, 128), new Fire(256, 48, 192, 192), new Fire(384, 48, 192, 192),
                new Fire(384, 64, 256, 256), Pool(),
                new Fire(512, 64, 256, 256)),
            "1_1" => Sequential(
                Conv2d(3, 64, kernel_size: 3, stride: 2), ReLU(inplace: true), Pool(),
                new Fire(64, 16, 64, 64), new Fire(128, 16, 64, 64), Pool(),
                new Fire(128, 32, 128, 128), new Fire(256, 32, 128, 128), Pool(),
                new Fire(256, 48, 192, 192), new Fire(384, 48, 192, 192), new Fire(384, 64, 256, 256),
                new Fire(512, 64, 256, 256)),
            _ => throw new ArgumentException($"unsupported SqueezeNet version '{version}': expected 1_0 or 1_1", nameof(version)),
        };
        var finalConv = Conv2d(512, numClasses, kernel_size: 1);
        classifier = Sequential(Dropout(dropout), finalConv, ReLU(inplace: true), AdaptiveAvgPool2d(1));

        RegisterComponents();

        // torchvision: kaiming_uniform_ (defaults) for every conv but the final one, which is N(0, 0.01); biases 0.
        foreach (var (_, m) in named_modules())
            if (m is Conv2d c) { init.kaiming_uniform_(c.weight); init.zeros_(c.bias!); }
        init.normal_(finalConv.weight, 0.0, 0.01);
    }

    public override int NumClasses => numClasses;

    /// <summary>(B, 3, H, W) to the last Fire module's map, (B, 512, 13, 13) at 224 px.</summary>
    public override Tensor ForwardFeatures(Tensor input) => features.call(input);

    /// <summary>Dropout, 1x1 conv to classes, ReLU, global average pool: (B, 512, h, w) to (B, NumClasses).</summary>
    public override Tensor ForwardClassifier(Tensor features)
    {
        using var scope = NewDisposeScope();
        return classifier.call(features).flatten(1).MoveToOuterDisposeScope();
    }
}

/// <summary>torchvision's Fire module: a 1x1 squeeze, then 1x1 and 3x3 expands concatenated on channels.</summary>
internal sealed class Fire : Module<Tensor, Tensor>
{
    private readonly Conv2d squeeze;
    private readonly ReLU squeeze_activation;
    private readonly Conv2d expand1x1;
    private readonly ReLU expand1x1_activation;
    private readonly Conv2d expand3x3;
    private readonly ReLU expand3x3_activation;

    public Fire(long inplanes, long squeezePlanes, long expand1x1Planes, long expand3x3Planes) : base(nameof(Fire))
    {
        squeeze = Conv2d(inplanes, squeezePlanes, kernel_size: 1);
        squeeze_activation = ReLU(inplace: true);
        expand1x1 = Conv2d(squeezePlanes, expand1x1Planes, kernel_size: 1);
        expand1x1_activation = ReLU(inplace: true);
        expand3x3 = Conv2d(squeezePlanes, expand3x3Planes, kernel_size: 3, padding: 1);
        expand3x3_activation = ReLU(inplace: true);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var s = squeeze_activation.call(squeeze.call(x));
        return cat([expand1x1_activation.call(expand1x1.call(s)), expand3x3_activation.call(expand3x3.call(s))], 1)
            .MoveToOuterDisposeScope();
    }
}

/// <summary>Registry records of the SqueezeNet family.</summary>
internal static class SqueezeNetFamily
{
    public static IEnumerable<ModelSpec> Specs()
    {
        // Stages end at the max-pools; the head is the whole classifier (dropout + 1x1 conv), its conv is re-headed.
        yield return Spec("squeezenet1_0", "1_0", "SqueezeNet 1.0 (Iandola et al. 2016): AlexNet accuracy with 1.2M parameters",
            [("stage1", ["features.3", "features.4", "features.5"]),
             ("stage2", ["features.7", "features.8", "features.9", "features.10"]),
             ("stage3", ["features.12"])],
            "squeezenet1_0-b66bff10.pth");
        yield return Spec("squeezenet1_1", "1_1", "SqueezeNet 1.1: 2.4x cheaper than 1.0 at the same accuracy",
            [("stage1", ["features.3", "features.4"]),
             ("stage2", ["features.6", "features.7"]),
             ("stage3", ["features.9", "features.10", "features.11", "features.12"])],
            "squeezenet1_1-b8a52dc0.pth");
    }

    private static ModelSpec Spec(string name, string version, string description,
        (string, string[])[] stages, string file) => new()
    {
        Name = name,
        Family = "squeezenet",
        Layout = new ForwardLayout.FeaturesThenClassifier(GlobalPool: false, Flatten: FlattenAt.AfterClassifier),
        Description = description,
        Factory = n => new SqueezeNet(name, version, n),
        ClassifierPrefix = "classifier",
        HeadPrefix = "classifier.1",
        LayerGroups = LayerGroupSets.StemStagesHead(["features.0"], stages, "classifier"),
        // Published in 2017, before PyTorch 1.6's zip container.
        WeightSources = [TorchvisionHub.Source(file, WeightFormat.PthLegacy)],
    };
}
