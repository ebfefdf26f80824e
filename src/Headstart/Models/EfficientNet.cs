using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>
/// torchvision's EfficientNet B0-B7 (Tan and Le 2019), with torchvision state-dict keys: MBConv blocks with SiLU,
/// squeeze-excitation and stochastic depth (active in training only), scaled by width and depth multipliers.
/// </summary>
public sealed class EfficientNet : ImageClassifier
{
    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Sequential classifier;
    private readonly int numClasses;

    // Table 1 of the paper, for B0: expand ratio, kernel, stride, input and output channels, layers.
    private static readonly (int Expand, int Kernel, int Stride, int In, int Out, int Layers)[] BaseStages =
    [
        (1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
        (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1),
    ];

    /// <param name="widthMult">Channel multiplier (1.0 for B0 ... 2.0 for B7).</param>
    /// <param name="depthMult">Layer-count multiplier (1.0 for B0 ... 3.1 for B7).</param>
    /// <param name="dropout">Dropout before the final Linear (0.2 for B0 ... 0.5 for B7).</param>
    /// <param name="bnEps">BatchNorm epsilon: 1e-5, or 1e-3 for B5-B7 (ported from TensorFlow, with momentum 0.01).</param>
    public EfficientNet(string name, double widthMult, double depthMult, double dropout, int numClasses = 1000,
        double bnEps = 1e-5, double bnMomentum = 0.1, double stochasticDepthProb = 0.2) : base(name)
    {
        this.numClasses = numClasses;
        Module<Tensor, Tensor> Norm(long c) => BatchNorm2d(c, eps: bnEps, momentum: bnMomentum);
        int Width(int c) => (int)Blocks.MakeDivisible(c * widthMult, 8);

        var stages = BaseStages.Select(s => s with
        {
            In = Width(s.In), Out = Width(s.Out), Layers = (int)Math.Ceiling(s.Layers * depthMult),
        }).ToArray();
        var layers = new List<Module<Tensor, Tensor>>
        {
            torchvision.ops.Conv2dNormActivation(3, stages[0].In, kernel_size: 3, stride: 2, norm_layer: Norm,
                activation_layer: inplace => SiLU(inplace)),
        };
        int totalBlocks = stages.Sum(s => s.Layers), blockId = 0;
        foreach (var s in stages)
        {
            var stage = new List<Module<Tensor, Tensor>>();
            for (int i = 0; i < s.Layers; i++)
            {
                // Stochastic depth grows linearly with depth, from 0 at the first block.
                double sdProb = stochasticDepthProb * blockId++ / totalBlocks;
                stage.Add(new MBConv(i == 0 ? s.In : s.Out, s.Out, s.Expand, s.Kernel, i == 0 ? s.Stride : 1, sdProb, Norm));
            }
            layers.Add(Sequential(stage));
        }
        int lastChannels = 4 * stages[^1].Out;   // 1280 for B0, 2560 for B7
        layers.Add(torchvision.ops.Conv2dNormActivation(stages[^1].Out, lastChannels, kernel_size: 1, norm_layer: Norm,
            activation_layer: inplace => SiLU(inplace)));
        features = Sequential(layers);
        avgpool = AdaptiveAvgPool2d(1);
        // Not in place (torchvision's is): ForwardClassifier may be fed cached features, which dropout must not overwrite.
        classifier = Sequential(Dropout(dropout, inplace: false), Linear(lastChannels, numClasses));
        RegisterComponents();
        InitWeights();   // after registration: named_modules() only sees registered submodules
    }

    public override int NumClasses => numClasses;

    public override Tensor ForwardFeatures(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = features.call(input);                                     // (B, C, H/32, W/32)
        return avgpool.call(x).flatten(1).MoveToOuterDisposeScope();      // (B, C)
    }

    public override Tensor ForwardClassifier(Tensor features) => classifier.call(features);

    private void InitWeights()
    {
        // torchvision: convs kaiming_normal_(fan_out), biases 0; BN 1/0; Linear U(-1/sqrt(out), 1/sqrt(out)), bias 0.
        foreach (var (_, m) in named_modules())
        {
            switch (m)
            {
                case Conv2d c:
                    init.kaiming_normal_(c.weight, mode: init.FanInOut.FanOut);
                    if (c.bias is not null) init.zeros_(c.bias);
                    break;
                case Linear l:
                    double range = 1.0 / Math.Sqrt(l.out_features);
                    init.uniform_(l.weight, -range, range);
                    init.zeros_(l.bias!);
                    break;
            }
        }
    }
}

/// <summary>
/// torchvision's MBConv: 1x1 expand (skipped at ratio 1), depthwise kxk, squeeze-excitation, 1x1 project; residual with
/// stochastic depth when the shape is kept.
/// </summary>
internal sealed class MBConv : Module<Tensor, Tensor>
{
    private readonly Sequential block;
    private readonly Module<Tensor, Tensor> stochastic_depth;
    private readonly bool useResidual;

    public MBConv(int inChannels, int outChannels, int expandRatio, int kernel, int stride, double stochasticDepthProb,
        Func<long, Module<Tensor, Tensor>> norm) : base(nameof(MBConv))
    {
        useResidual = stride == 1 && inChannels == outChannels;
        int expanded = (int)Blocks.MakeDivisible(inChannels * (double)expandRatio, 8);
        var layers = new List<Module<Tensor, Tensor>>();
        if (expanded != inChannels)
            layers.Add(torchvision.ops.Conv2dNormActivation(inChannels, expanded, kernel_size: 1, norm_layer: norm,
                activation_layer: inplace => SiLU(inplace)));
        layers.Add(torchvision.ops.Conv2dNormActivation(expanded, expanded, kernel_size: kernel, stride: stride,
            groups: expanded, norm_layer: norm, activation_layer: inplace => SiLU(inplace)));
        layers.Add(new SqueezeExcitation(expanded, Math.Max(1, inChannels / 4), () => SiLU(inplace: true)));
        layers.Add(torchvision.ops.Conv2dNormActivation(expanded, outChannels, kernel_size: 1, norm_layer: norm));
        block = Sequential(layers);
        stochastic_depth = torchvision.ops.StochasticDepth(stochasticDepthProb, torchvision.StochasticDepth.Mode.Row);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var y = block.call(input);
        if (useResidual) y = stochastic_depth.call(y).add_(input, Scalars.One);   // identity in eval mode
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>Registry records of the EfficientNet family; input sizes follow torchvision's weight transforms.</summary>
internal static class EfficientNetFamily
{
    public static IEnumerable<ModelSpec> Specs()
    {
        yield return Spec(0, 1.0, 1.0, 0.2, 224, 256, V1("efficientnet_b0_rwightman-3dd342df.pth"));
        // B1's default torchvision weights are V2 (240 crop from 255); V1 was trained at 240 from 256 (and bicubic
        // resizing, which Preprocessing does not describe: both resize bilinearly here).
        yield return Spec(1, 1.0, 1.1, 0.2, 240, 255,
            TorchvisionHub.Source("efficientnet_b1-c27df63c.pth", WeightFormat.PthZip, "IMAGENET1K_V2"),
            V1("efficientnet_b1_rwightman-533bc792.pth") with { Preprocessing = new Preprocessing { InputSize = 240, ResizeSize = 256 } });
        yield return Spec(2, 1.1, 1.2, 0.3, 288, 288, V1("efficientnet_b2_rwightman-bcdf34b7.pth"));
        yield return Spec(3, 1.2, 1.4, 0.3, 300, 320, V1("efficientnet_b3_rwightman-cf984f9c.pth"));
        yield return Spec(4, 1.4, 1.8, 0.4, 380, 384, V1("efficientnet_b4_rwightman-7eb33cd5.pth"));
        yield return Spec(5, 1.6, 2.2, 0.4, 456, 456, V1("efficientnet_b5_lukemelas-b6417697.pth"));
        yield return Spec(6, 1.8, 2.6, 0.5, 528, 528, V1("efficientnet_b6_lukemelas-c76e70fd.pth"));
        yield return Spec(7, 2.0, 3.1, 0.5, 600, 600, V1("efficientnet_b7_lukemelas-dcc49843.pth"));
    }

    private static WeightSource V1(string file) => TorchvisionHub.Source(file, WeightFormat.PthZip);

    private static ModelSpec Spec(int b, double width, double depth, double dropout, int crop, int resize,
        params WeightSource[] sources)
    {
        string name = $"efficientnet_b{b}";
        // B5-B7 are ported from TensorFlow (lukemelas) and keep its BatchNorm epsilon and momentum.
        bool tf = b >= 5;
        return new ModelSpec
        {
            Name = name,
            Family = "efficientnet",
            Layout = new ForwardLayout.FeaturesThenClassifier(),
            Description = $"EfficientNet-B{b} (Tan and Le 2019), {crop} px",
            Factory = n => new EfficientNet(name, width, depth, dropout, n, tf ? 1e-3 : 1e-5, tf ? 0.01 : 0.1),
            ClassifierPrefix = "classifier",
            HeadPrefix = "classifier.1",
            LayerGroups = LayerGroupSets.StemStagesHead(["features.0"],
                Enumerable.Range(1, 7).Select(i => ($"stage{i}", new[] { $"features.{i}" })).Append(("top", ["features.8"])),
                "classifier"),
            Preprocessing = new Preprocessing { InputSize = crop, ResizeSize = resize },
            WeightSources = sources,
        };
    }
}
