using System.Text.RegularExpressions;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>torchvision's DenseNet-BC (Huang et al. 2016), with torchvision state-dict keys.</summary>
public sealed class DenseNet : ImageClassifier
{
    private readonly Sequential features;
    private readonly Linear classifier;
    private readonly int numClasses;

    /// <param name="growthRate">Channels each dense layer adds (k in the paper).</param>
    /// <param name="blockConfig">Dense layers per block, e.g. [6, 12, 24, 16] for densenet121.</param>
    /// <param name="numInitFeatures">Channels of the stem convolution.</param>
    /// <param name="bnSize">Bottleneck width as a multiple of the growth rate.</param>
    public DenseNet(string name, int growthRate, int[] blockConfig, int numInitFeatures, int numClasses = 1000,
        int bnSize = 4, double dropRate = 0) : base(name)
    {
        this.numClasses = numClasses;
        var mods = new List<(string, Module<Tensor, Tensor>)>
        {
            ("conv0", Conv2d(3, numInitFeatures, kernel_size: 7, stride: 2, padding: 3, bias: false)),
            ("norm0", BatchNorm2d(numInitFeatures)),
            ("relu0", ReLU(inplace: true)),
            ("pool0", MaxPool2d(kernel_size: 3, stride: 2, padding: 1)),
        };
        long channels = numInitFeatures;
        for (int i = 0; i < blockConfig.Length; i++)
        {
            mods.Add(($"denseblock{i + 1}", new DenseBlock(blockConfig[i], channels, bnSize, growthRate, dropRate)));
            channels += blockConfig[i] * growthRate;
            if (i == blockConfig.Length - 1) break;
            mods.Add(($"transition{i + 1}", Sequential(
                ("norm", BatchNorm2d(channels)),
                ("relu", ReLU(inplace: true)),
                ("conv", Conv2d(channels, channels / 2, kernel_size: 1, bias: false)),
                ("pool", AvgPool2d(kernel_size: 2, stride: 2)))));
            channels /= 2;
        }
        mods.Add(("norm5", BatchNorm2d(channels)));
        features = Sequential(mods);
        classifier = Linear(channels, numClasses);

        // torchvision (after registration, so named_modules() sees the tree): kaiming_normal_ (fan_in, gain sqrt 2) for convs, BN 1/0, Linear bias 0 (weight keeps the default).
        RegisterComponents();
        foreach (var (_, m) in named_modules())
            if (m is Conv2d c) init.kaiming_normal_(c.weight);
        init.zeros_(classifier.bias!);
    }

    public override int NumClasses => numClasses;

    public override Tensor ForwardFeatures(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = functional.relu(features.call(input));                              // (B, C, H/32, W/32)
        return functional.adaptive_avg_pool2d(x, 1).flatten(1).MoveToOuterDisposeScope(); // (B, C)
    }

    public override Tensor ForwardClassifier(Tensor features) => classifier.call(features);

    private static readonly Regex LegacyKey = new(
        @"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$",
        RegexOptions.Compiled | RegexOptions.CultureInvariant);

    /// <summary>
    /// torchvision's published DenseNet files (ported from LuaTorch) name dense-layer parameters "norm.1", "conv.2", ...;
    /// the modules are "norm1", "conv2". This is the rename torchvision's <c>_load_state_dict</c> applies:
    /// "features.denseblock1.denselayer1.norm.1.weight" becomes "features.denseblock1.denselayer1.norm1.weight";
    /// other keys are returned unchanged.
    /// </summary>
    public static string RemapLegacyKey(string key)
    {
        var m = LegacyKey.Match(key);
        return m.Success ? m.Groups[1].Value + m.Groups[2].Value : key;
    }
}

/// <summary>
/// torchvision's _DenseBlock (a ModuleDict of "denselayerN"): each layer sees the concatenation of the block input
/// and every earlier layer's output, and the block returns that whole concatenation.
/// </summary>
internal sealed class DenseBlock : Module<Tensor, Tensor>
{
    private readonly List<DenseLayer> layers = [];

    public DenseBlock(int numLayers, long inputChannels, int bnSize, int growthRate, double dropRate) : base(nameof(DenseBlock))
    {
        for (int i = 0; i < numLayers; i++)
        {
            var layer = new DenseLayer(inputChannels + i * growthRate, growthRate, bnSize, dropRate);
            layers.Add(layer);
            register_module($"denselayer{i + 1}", layer);
        }
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var all = new List<Tensor>(layers.Count + 1) { input };
        foreach (var layer in layers) all.Add(layer.call(cat(all, 1)));   // each adds (B, growth, h, w)
        return cat(all, 1).MoveToOuterDisposeScope();                     // (B, C_in + L * growth, h, w)
    }
}

/// <summary>torchvision's _DenseLayer: BN-ReLU-1x1 conv (bottleneck) then BN-ReLU-3x3 conv to growthRate channels.</summary>
internal sealed class DenseLayer : Module<Tensor, Tensor>
{
    private readonly BatchNorm2d norm1;
    private readonly ReLU relu1;
    private readonly Conv2d conv1;
    private readonly BatchNorm2d norm2;
    private readonly ReLU relu2;
    private readonly Conv2d conv2;
    private readonly double dropRate;

    public DenseLayer(long inputChannels, int growthRate, int bnSize, double dropRate) : base(nameof(DenseLayer))
    {
        norm1 = BatchNorm2d(inputChannels);
        relu1 = ReLU(inplace: true);
        conv1 = Conv2d(inputChannels, bnSize * growthRate, kernel_size: 1, bias: false);
        norm2 = BatchNorm2d(bnSize * growthRate);
        relu2 = ReLU(inplace: true);
        conv2 = Conv2d(bnSize * growthRate, growthRate, kernel_size: 3, padding: 1, bias: false);
        this.dropRate = dropRate;
        RegisterComponents();
    }

    public override Tensor forward(Tensor concatenated)
    {
        using var scope = NewDisposeScope();
        var y = conv1.call(relu1.call(norm1.call(concatenated)));
        y = conv2.call(relu2.call(norm2.call(y)));
        if (dropRate > 0) y = functional.dropout(y, dropRate, training);
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>Registry records of the DenseNet family.</summary>
internal static class DenseNetFamily
{
    public static IEnumerable<ModelSpec> Specs()
    {
        yield return Spec("densenet121", 32, [6, 12, 24, 16], 64, "DenseNet-121 (Huang et al. 2016)", "densenet121-a639ec97.pth");
        yield return Spec("densenet161", 48, [6, 12, 36, 24], 96, "DenseNet-161 (growth 48)", "densenet161-8d451a50.pth");
        yield return Spec("densenet169", 32, [6, 12, 32, 32], 64, "DenseNet-169", "densenet169-b2777c0a.pth");
        yield return Spec("densenet201", 32, [6, 12, 48, 32], 64, "DenseNet-201", "densenet201-c1103571.pth");
    }

    private static ModelSpec Spec(string name, int growth, int[] blocks, int initFeatures, string description, string file) => new()
    {
        Name = name,
        Family = "densenet",
        Layout = new ForwardLayout.FeaturesThenClassifier(ReluAfterFeatures: true),
        Description = description,
        Factory = n => new DenseNet(name, growth, blocks, initFeatures, n),
        ClassifierPrefix = "classifier",
        HeadPrefix = "classifier",
        LayerGroups =
        [
            new("stem", ["features.conv0", "features.norm0"]),
            new("block1", ["features.denseblock1", "features.transition1"]),
            new("block2", ["features.denseblock2", "features.transition2"]),
            new("block3", ["features.denseblock3", "features.transition3"]),
            new("block4", ["features.denseblock4", "features.norm5"]),
            new("head", ["classifier"]),
        ],
        // LuaTorch ports saved by PyTorch 0.x: legacy container, old "norm.1" key names, no num_batches_tracked.
        WeightSources = [TorchvisionHub.Source(file, WeightFormat.PthLegacy)],
        LegacyKeyUpgrade = DenseNet.RemapLegacyKey,
    };
}
