using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>
/// torchvision's ConvNeXt (Liu et al. 2022), with torchvision state-dict keys: depthwise 7x7 blocks with channels-last
/// LayerNorm, an inverted MLP, layer scale and stochastic depth (active in training only).
/// </summary>
public sealed class ConvNeXt : ImageClassifier
{
    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Sequential classifier;
    private readonly int numClasses;

    /// <param name="dims">Channels per stage, e.g. [96, 192, 384, 768] for tiny.</param>
    /// <param name="depths">Blocks per stage, e.g. [3, 3, 9, 3] for tiny.</param>
    /// <param name="stochasticDepthProb">Drop probability of the last block (0.1 tiny, 0.4 small, 0.5 base).</param>
    public ConvNeXt(string name, int[] dims, int[] depths, double stochasticDepthProb, int numClasses = 1000,
        double layerScale = 1e-6) : base(name)
    {
        this.numClasses = numClasses;
        var layers = new List<Module<Tensor, Tensor>>
        {
            // Stem: 4x4 patchify conv, stride 4, then LayerNorm2d.
            torchvision.ops.Conv2dNormActivation(3, dims[0], kernel_size: 4, stride: 4, padding: 0,
                norm_layer: c => new LayerNorm2d(c), bias: true),
        };
        int totalBlocks = depths.Sum(), blockId = 0;
        for (int s = 0; s < dims.Length; s++)
        {
            var stage = new List<Module<Tensor, Tensor>>();
            for (int i = 0; i < depths[s]; i++)
                // Linear in depth from 0 at the first block to stochasticDepthProb at the last.
                stage.Add(new CNBlock(dims[s], layerScale, stochasticDepthProb * blockId++ / (totalBlocks - 1.0)));
            layers.Add(Sequential(stage));
            if (s < dims.Length - 1)
                layers.Add(Sequential(new LayerNorm2d(dims[s]), Conv2d(dims[s], dims[s + 1], kernel_size: 2, stride: 2)));
        }
        features = Sequential(layers);
        avgpool = AdaptiveAvgPool2d(1);
        classifier = Sequential(new LayerNorm2d(dims[^1]), Flatten(1), Linear(dims[^1], numClasses));

        RegisterComponents();

        // torchvision: trunc_normal_(std 0.02, a -2, b 2) for conv and linear weights, biases 0; LayerNorm 1/0.
        using var noGrad = no_grad();
        foreach (var (_, m) in named_modules())
        {
            var (weight, bias) = m switch { Conv2d c => (c.weight, c.bias), Linear l => (l.weight, l.bias), _ => (null, null) };
            if (weight is null) continue;
            Blocks.TruncatedNormal_(weight, 0.0, 0.02, -2.0, 2.0);
            if (bias is not null) init.zeros_(bias);
        }
    }

    public override int NumClasses => numClasses;

    public override Tensor ForwardFeatures(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = features.call(input);                                     // (B, C, H/32, W/32)
        return avgpool.call(x).flatten(1).MoveToOuterDisposeScope();      // (B, C)
    }

    /// <summary>LayerNorm2d, flatten, Linear: (B, C) pooled features to (B, NumClasses).</summary>
    public override Tensor ForwardClassifier(Tensor features)
    {
        using var scope = NewDisposeScope();
        // The head's LayerNorm2d expects a map; a (B, C) vector is its 1x1 case.
        return classifier.call(features.view(features.shape[0], -1, 1, 1)).MoveToOuterDisposeScope();
    }
}

/// <summary>torchvision's CNBlock: dwconv 7x7, LayerNorm, Linear 4x, GELU, Linear, layer scale, stochastic depth.</summary>
internal sealed class CNBlock : Module<Tensor, Tensor>
{
    // torchvision registers layer_scale on the block itself, so its key precedes the block's children.
    private readonly Parameter layer_scale;
    private readonly Sequential block;
    private readonly Module<Tensor, Tensor> stochastic_depth;

    public CNBlock(long dim, double layerScale, double stochasticDepthProb) : base(nameof(CNBlock))
    {
        layer_scale = Parameter(ones(dim, 1, 1) * layerScale);
        block = Sequential(
            Conv2d(dim, dim, kernel_size: 7, padding: 3, groups: dim),
            torchvision.ops.Permute(0, 2, 3, 1),              // channels last for LayerNorm and Linear
            LayerNorm(dim, eps: 1e-6),
            Linear(dim, 4 * dim),
            GELU(),
            Linear(4 * dim, dim),
            torchvision.ops.Permute(0, 3, 1, 2));
        stochastic_depth = torchvision.ops.StochasticDepth(stochasticDepthProb, torchvision.StochasticDepth.Mode.Row);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var y = stochastic_depth.call(layer_scale * block.call(input));   // (B, C, H, W)
        return y.add_(input, Scalars.One).MoveToOuterDisposeScope();
    }
}

/// <summary>torchvision's LayerNorm2d: LayerNorm over the channels of an NCHW map (eps 1e-6).</summary>
internal sealed class LayerNorm2d : Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly long[] normalizedShape;
    private readonly double eps;

    /// <summary>Read by the ONNX exporter.</summary>
    internal double Eps => eps;

    public LayerNorm2d(long channels, double eps = 1e-6) : base(nameof(LayerNorm2d))
    {
        weight = Parameter(ones(channels));
        bias = Parameter(zeros(channels));
        normalizedShape = [channels];
        this.eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = functional.layer_norm(x.permute(0, 2, 3, 1), normalizedShape, weight, bias, eps);  // (B, H, W, C)
        return y.permute(0, 3, 1, 2).MoveToOuterDisposeScope();
    }
}

/// <summary>Registry records of the ConvNeXt family.</summary>
internal static class ConvNeXtFamily
{
    public static IEnumerable<ModelSpec> Specs()
    {
        yield return Spec("convnext_tiny", "ConvNeXt-Tiny (Liu et al. 2022)", [96, 192, 384, 768], [3, 3, 9, 3], 0.1, 236,
            "convnext_tiny-983f1562.pth");
        yield return Spec("convnext_small", "ConvNeXt-Small", [96, 192, 384, 768], [3, 3, 27, 3], 0.4, 230,
            "convnext_small-0c510722.pth");
        yield return Spec("convnext_base", "ConvNeXt-Base", [128, 256, 512, 1024], [3, 3, 27, 3], 0.5, 232,
            "convnext_base-6075fbad.pth");
    }

    private static ModelSpec Spec(string name, string description, int[] dims, int[] depths, double sd, int resize,
        string file) => new()
    {
        Name = name,
        Family = "convnext",
        Layout = new ForwardLayout.FeaturesThenClassifier(Flatten: FlattenAt.InsideClassifier),
        MinOnnxOpset = 17,   // LayerNormalization
        Description = description,
        Factory = n => new ConvNeXt(name, dims, depths, sd, n),
        ClassifierPrefix = "classifier",
        HeadPrefix = "classifier.2",
        // features: 0 stem, 1/3/5/7 stages, 2/4/6 downsampling layers (grouped with the stage they feed).
        LayerGroups = LayerGroupSets.StemStagesHead(["features.0"],
            [("stage1", ["features.1"]), ("stage2", ["features.2", "features.3"]),
             ("stage3", ["features.4", "features.5"]), ("stage4", ["features.6", "features.7"])],
            "classifier"),
        Preprocessing = new Preprocessing { InputSize = 224, ResizeSize = resize },
        WeightSources = [TorchvisionHub.Source(file, WeightFormat.PthZip)],
    };
}
