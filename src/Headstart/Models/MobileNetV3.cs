using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>
/// torchvision's MobileNetV3 (Large or Small, width 1.0), with torchvision state-dict keys: <c>features</c> (stem,
/// inverted residual blocks with optional squeeze-excitation, 1x1 conv to 6x the last block width) and
/// <c>classifier</c> (fc → 1280/1024, Hardswish, dropout, fc → N). BatchNorm uses eps 0.001 and momentum 0.01.
/// </summary>
public sealed class MobileNetV3 : ImageClassifier
{
    /// <summary>One bneck row of the paper's tables 1 and 2, as torchvision's InvertedResidualConfig (width 1.0).</summary>
    /// <param name="HardSwish">true for "HS" (Hardswish), false for "RE" (ReLU).</param>
    public sealed record BlockConfig(int InputChannels, int Kernel, int ExpandedChannels, int OutChannels, bool UseSe,
        bool HardSwish, int Stride);

    /// <summary>mobilenet_v3_large's blocks; those with stride 2 start the C1..C4 stages.</summary>
    public static IReadOnlyList<BlockConfig> Large { get; } =
    [
        new(16, 3, 16, 16, false, false, 1),
        new(16, 3, 64, 24, false, false, 2),
        new(24, 3, 72, 24, false, false, 1),
        new(24, 5, 72, 40, true, false, 2),
        new(40, 5, 120, 40, true, false, 1),
        new(40, 5, 120, 40, true, false, 1),
        new(40, 3, 240, 80, false, true, 2),
        new(80, 3, 200, 80, false, true, 1),
        new(80, 3, 184, 80, false, true, 1),
        new(80, 3, 184, 80, false, true, 1),
        new(80, 3, 480, 112, true, true, 1),
        new(112, 3, 672, 112, true, true, 1),
        new(112, 5, 672, 160, true, true, 2),
        new(160, 5, 960, 160, true, true, 1),
        new(160, 5, 960, 160, true, true, 1),
    ];

    /// <summary>mobilenet_v3_small's blocks.</summary>
    public static IReadOnlyList<BlockConfig> Small { get; } =
    [
        new(16, 3, 16, 16, true, false, 2),
        new(16, 3, 72, 24, false, false, 2),
        new(24, 3, 88, 24, false, false, 1),
        new(24, 5, 96, 40, true, true, 2),
        new(40, 5, 240, 40, true, true, 1),
        new(40, 5, 240, 40, true, true, 1),
        new(40, 5, 120, 48, true, true, 1),
        new(48, 5, 144, 48, true, true, 1),
        new(48, 5, 288, 96, true, true, 2),
        new(96, 5, 576, 96, true, true, 1),
        new(96, 5, 576, 96, true, true, 1),
    ];

    private const double BnEps = 0.001, BnMomentum = 0.01;

    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Sequential classifier;
    private readonly int numClasses;

    /// <param name="blocks"><see cref="Large"/> or <see cref="Small"/>.</param>
    /// <param name="lastChannel">Width of the classifier's hidden layer: 1280 (large) or 1024 (small).</param>
    public MobileNetV3(string name, IReadOnlyList<BlockConfig> blocks, int lastChannel, int numClasses = 1000,
        double dropout = 0.2) : base(name)
    {
        this.numClasses = numClasses;
        var layers = new List<Module<Tensor, Tensor>>
        {
            Blocks.ConvNormActivation(3, blocks[0].InputChannels, stride: 2, activation: () => Hardswish(inplace: true),
                bnEps: BnEps, bnMomentum: BnMomentum),
        };
        foreach (var b in blocks) layers.Add(new InvertedResidualV3(b, BnEps, BnMomentum));
        long lastConvIn = blocks[^1].OutChannels, lastConvOut = 6 * lastConvIn;
        layers.Add(Blocks.ConvNormActivation(lastConvIn, lastConvOut, kernelSize: 1, activation: () => Hardswish(inplace: true),
            bnEps: BnEps, bnMomentum: BnMomentum));
        features = Sequential(layers);
        avgpool = AdaptiveAvgPool2d(1);
        classifier = Sequential(
            Linear(lastConvOut, lastChannel), Hardswish(inplace: true), Dropout(dropout, inplace: true),
            Linear(lastChannel, numClasses));
        RegisterComponents();
        Blocks.InitConvBnLinear(this);
    }

    public override int NumClasses => numClasses;

    public override Tensor ForwardFeatures(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = avgpool.call(features.call(input));    // (B, 960|576, 1, 1)
        return x.flatten(1).MoveToOuterDisposeScope();  // (B, 960|576)
    }

    public override Tensor ForwardClassifier(Tensor features) => classifier.call(features);
}

/// <summary>
/// MobileNetV3's inverted residual: optional 1x1 expansion, kxk depthwise, optional squeeze-excitation (Hardsigmoid
/// gate, squeeze width make_divisible(expanded / 4, 8)), linear 1x1 projection; identity shortcut when the shape is
/// kept. State-dict keys under <c>block</c>, as torchvision.
/// </summary>
internal sealed class InvertedResidualV3 : Module<Tensor, Tensor>
{
    private readonly Sequential block;
    private readonly bool useResConnect;

    public InvertedResidualV3(MobileNetV3.BlockConfig cfg, double bnEps, double bnMomentum) : base(nameof(InvertedResidualV3))
    {
        useResConnect = cfg.Stride == 1 && cfg.InputChannels == cfg.OutChannels;
        Func<Module<Tensor, Tensor>> act = cfg.HardSwish ? () => Hardswish(inplace: true) : () => ReLU(inplace: true);
        var layers = new List<Module<Tensor, Tensor>>();
        if (cfg.ExpandedChannels != cfg.InputChannels)
            layers.Add(Blocks.ConvNormActivation(cfg.InputChannels, cfg.ExpandedChannels, kernelSize: 1, activation: act,
                bnEps: bnEps, bnMomentum: bnMomentum));
        layers.Add(Blocks.ConvNormActivation(cfg.ExpandedChannels, cfg.ExpandedChannels, kernelSize: cfg.Kernel,
            stride: cfg.Stride, groups: cfg.ExpandedChannels, activation: act, bnEps: bnEps, bnMomentum: bnMomentum));
        if (cfg.UseSe)
            layers.Add(new SqueezeExcitation(cfg.ExpandedChannels, Blocks.MakeDivisible(cfg.ExpandedChannels / 4, 8),
                scaleActivation: () => Hardsigmoid()));
        layers.Add(Blocks.ConvNormActivation(cfg.ExpandedChannels, cfg.OutChannels, kernelSize: 1,
            bnEps: bnEps, bnMomentum: bnMomentum));
        block = Sequential(layers);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        if (!useResConnect) return block.call(input);
        using var scope = NewDisposeScope();
        return block.call(input).add_(input, Scalars.One).MoveToOuterDisposeScope();
    }
}
