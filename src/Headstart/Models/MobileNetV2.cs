using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>
/// torchvision's MobileNetV2 (width 1.0), with torchvision state-dict keys: <c>features</c> (stem conv, 17 inverted
/// residual blocks, 1x1 conv to 1280) and <c>classifier</c> (dropout, fc 1280→N).
/// </summary>
public sealed class MobileNetV2 : ImageClassifier
{
    /// <summary>torchvision's inverted_residual_setting: (expansion t, channels c, repeats n, first stride s).</summary>
    private static readonly (int T, int C, int N, int S)[] Settings =
        [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];

    private readonly Sequential features;
    private readonly Sequential classifier;
    private readonly int numClasses;

    public MobileNetV2(string name = "mobilenet_v2", int numClasses = 1000, double widthMult = 1.0, double dropout = 0.2)
        : base(name)
    {
        this.numClasses = numClasses;
        long inputChannel = Blocks.MakeDivisible(32 * widthMult, 8);
        long lastChannel = Blocks.MakeDivisible(1280 * Math.Max(1.0, widthMult), 8);
        var layers = new List<Module<Tensor, Tensor>>
        {
            Blocks.ConvNormActivation(3, inputChannel, stride: 2, activation: () => ReLU6(inplace: true)),
        };
        foreach (var (t, c, n, s) in Settings)
        {
            long outputChannel = Blocks.MakeDivisible(c * widthMult, 8);
            for (int i = 0; i < n; i++)
            {
                layers.Add(new InvertedResidualV2(inputChannel, outputChannel, i == 0 ? s : 1, t));
                inputChannel = outputChannel;
            }
        }
        layers.Add(Blocks.ConvNormActivation(inputChannel, lastChannel, kernelSize: 1, activation: () => ReLU6(inplace: true)));
        features = Sequential(layers);
        classifier = Sequential(Dropout(dropout), Linear(lastChannel, numClasses));
        RegisterComponents();
        Blocks.InitConvBnLinear(this);
    }

    public override int NumClasses => numClasses;

    public override Tensor ForwardFeatures(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = features.call(input);                                   // (B, 1280, H/32, W/32)
        return functional.adaptive_avg_pool2d(x, 1).flatten(1).MoveToOuterDisposeScope(); // (B, 1280)
    }

    public override Tensor ForwardClassifier(Tensor features) => classifier.call(features);
}

/// <summary>
/// MobileNetV2's inverted residual: optional 1x1 expansion (ReLU6), 3x3 depthwise (ReLU6), linear 1x1 projection;
/// identity shortcut when the shape is kept. State-dict keys under <c>conv</c>, as torchvision.
/// </summary>
internal sealed class InvertedResidualV2 : Module<Tensor, Tensor>
{
    private readonly Sequential conv;
    private readonly bool useResConnect;

    public InvertedResidualV2(long inp, long oup, long stride, int expandRatio) : base(nameof(InvertedResidualV2))
    {
        long hidden = (long)Math.Round(inp * (double)expandRatio, MidpointRounding.ToEven);
        useResConnect = stride == 1 && inp == oup;
        var layers = new List<Module<Tensor, Tensor>>();
        if (expandRatio != 1)
            layers.Add(Blocks.ConvNormActivation(inp, hidden, kernelSize: 1, activation: () => ReLU6(inplace: true)));
        layers.Add(Blocks.ConvNormActivation(hidden, hidden, stride: stride, groups: hidden, activation: () => ReLU6(inplace: true)));
        layers.Add(Conv2d(hidden, oup, 1, bias: false));
        layers.Add(BatchNorm2d(oup));
        conv = Sequential(layers);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        if (!useResConnect) return conv.call(x);
        using var scope = NewDisposeScope();
        return x.add(conv.call(x), Scalars.One).MoveToOuterDisposeScope();
    }
}
