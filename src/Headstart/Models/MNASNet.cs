using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>torchvision's MNASNet B1 (Tan et al. 2018), with torchvision state-dict keys (model version 2).</summary>
public sealed class MNASNet : ImageClassifier
{
    // torchvision's TensorFlow-style BN momentum, 1 - 0.9997.
    private const double BnMomentum = 1 - 0.9997;

    private readonly Sequential layers;
    private readonly Sequential classifier;
    private readonly int numClasses;

    /// <param name="alpha">Depth multiplier: 0.5, 0.75, 1.0 or 1.3.</param>
    /// <param name="legacyStem">
    /// Build the version-1 stem (fixed 32 and 16 channels whatever alpha is). torchvision switches to it when it loads a
    /// checkpoint saved before torchvision 0.5 (pytorch/vision#1224) into a model with alpha != 1; at alpha 1 both are
    /// the same. torchvision's own mnasnet0.5 file (67.823) was retrained for version 2 and needs no legacy stem.
    /// </param>
    public MNASNet(string name, double alpha, int numClasses = 1000, double dropout = 0.2, bool legacyStem = false) : base(name)
    {
        if (alpha <= 0) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be positive");
        this.numClasses = numClasses;
        int[] d = Depths(alpha);
        int c0 = legacyStem ? 32 : d[0], c1 = legacyStem ? 16 : d[1];
        BatchNorm2d Bn(long c) => BatchNorm2d(c, momentum: BnMomentum);
        layers = Sequential(
            Conv2d(3, c0, 3, stride: 2, padding: 1, bias: false), Bn(c0), ReLU(inplace: true),
            // Depthwise then pointwise, as in MobileNet's first block.
            Conv2d(c0, c0, 3, padding: 1, groups: c0, bias: false), Bn(c0), ReLU(inplace: true),
            Conv2d(c0, c1, 1, bias: false), Bn(c1),
            Stack(c1, d[2], 3, 2, 3, 3),
            Stack(d[2], d[3], 5, 2, 3, 3),
            Stack(d[3], d[4], 5, 2, 6, 3),
            Stack(d[4], d[5], 3, 1, 6, 2),
            Stack(d[5], d[6], 5, 2, 6, 4),
            Stack(d[6], d[7], 3, 1, 6, 1),
            Conv2d(d[7], 1280, 1, bias: false), Bn(1280), ReLU(inplace: true));
        // Not in place (torchvision's is): ForwardClassifier may be fed cached features, which dropout must not overwrite.
        classifier = Sequential(Dropout(dropout, inplace: false), Linear(1280, numClasses));
        RegisterComponents();
        InitWeights();   // after registration: named_modules() only sees registered submodules
    }

    public override int NumClasses => numClasses;

    public override Tensor ForwardFeatures(Tensor input)
    {
        using var scope = NewDisposeScope();
        return layers.call(input).mean([2, 3]).MoveToOuterDisposeScope();   // (B, 1280)
    }

    public override Tensor ForwardClassifier(Tensor features) => classifier.call(features);

    /// <summary>torchvision's _get_depths: the B1 channel counts scaled by alpha, rounded to multiples of 8.</summary>
    internal static int[] Depths(double alpha) =>
        [.. new[] { 32, 16, 24, 40, 80, 96, 192, 320 }.Select(c => RoundToMultipleOf(c * alpha, 8))];

    /// <summary>Rounds up unless that overshoots by more than 10%: (83, 8) gives 80 but (84, 8) gives 88.</summary>
    private static int RoundToMultipleOf(double val, int divisor, double roundUpBias = 0.9)
    {
        int v = Math.Max(divisor, (int)(val + divisor / 2.0) / divisor * divisor);
        return v >= roundUpBias * val ? v : v + divisor;
    }

    private static Sequential Stack(long inCh, long outCh, long kernel, long stride, long expansion, int repeats)
    {
        var blocks = new List<Module<Tensor, Tensor>> { new MnasInvertedResidual(inCh, outCh, kernel, stride, expansion, BnMomentum) };
        for (int i = 1; i < repeats; i++) blocks.Add(new MnasInvertedResidual(outCh, outCh, kernel, 1, expansion, BnMomentum));
        return Sequential(blocks);
    }

    private void InitWeights()
    {
        // torchvision: convs kaiming_normal_(fan_out, relu); BN 1/0; Linear kaiming_uniform_(fan_out, sigmoid), bias 0.
        foreach (var (_, m) in named_modules())
        {
            switch (m)
            {
                case Conv2d c:
                    init.kaiming_normal_(c.weight, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU);
                    break;
                case Linear l:
                    init.kaiming_uniform_(l.weight, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.Sigmoid);
                    init.zeros_(l.bias!);
                    break;
            }
        }
    }
}

/// <summary>MNASNet's inverted residual: 1x1 expand, depthwise kxk, 1x1 project; identity shortcut when shapes match.</summary>
internal sealed class MnasInvertedResidual : Module<Tensor, Tensor>
{
    private readonly Sequential layers;
    private readonly bool applyResidual;

    public MnasInvertedResidual(long inCh, long outCh, long kernel, long stride, long expansion, double bnMomentum)
        : base(nameof(MnasInvertedResidual))
    {
        long mid = inCh * expansion;
        applyResidual = inCh == outCh && stride == 1;
        layers = Sequential(
            Conv2d(inCh, mid, 1, bias: false), BatchNorm2d(mid, momentum: bnMomentum), ReLU(inplace: true),
            Conv2d(mid, mid, kernel, stride: stride, padding: kernel / 2, groups: mid, bias: false),
            BatchNorm2d(mid, momentum: bnMomentum), ReLU(inplace: true),
            Conv2d(mid, outCh, 1, bias: false), BatchNorm2d(outCh, momentum: bnMomentum));
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var y = layers.call(input);
        return (applyResidual ? y.add_(input, Scalars.One) : y).MoveToOuterDisposeScope();
    }
}

/// <summary>Registry records of the MNASNet family.</summary>
internal static class MNASNetFamily
{
    public static IEnumerable<ModelSpec> Specs()
    {
        // 0.5 and 1.0 weights are the 2019 originals (legacy container); 0.75 and 1.3 were trained by torchvision in 2022.
        yield return Spec("mnasnet0_5", 0.5, "mnasnet0.5_top1_67.823-3ffadce67e.pth", WeightFormat.PthLegacy, 256);
        yield return Spec("mnasnet0_75", 0.75, "mnasnet0_75-7090bc5f.pth", WeightFormat.PthZip, 232);
        yield return Spec("mnasnet1_0", 1.0, "mnasnet1.0_top1_73.512-f206786ef8.pth", WeightFormat.PthLegacy, 256);
        yield return Spec("mnasnet1_3", 1.3, "mnasnet1_3-a4c69d6f.pth", WeightFormat.PthZip, 232);
    }

    private static ModelSpec Spec(string name, double alpha, string file, WeightFormat format, int resize) => new()
    {
        Name = name,
        Family = "mnasnet",
        Layout = new ForwardLayout.FeaturesThenClassifier(Features: "layers"),
        Description = $"MNASNet-B1 depth {alpha} (Tan et al. 2018)",
        Factory = n => new MNASNet(name, alpha, n),
        ClassifierPrefix = "classifier",
        HeadPrefix = "classifier.1",
        // layers: 0-7 stem, 8-13 the six inverted-residual stacks, 14-16 the 1280-channel 1x1 conv.
        LayerGroups = LayerGroupSets.StemStagesHead(
            ["layers.0", "layers.1", "layers.3", "layers.4", "layers.6", "layers.7"],
            [("stage1", ["layers.8", "layers.9"]), ("stage2", ["layers.10", "layers.11"]),
             ("stage3", ["layers.12", "layers.13", "layers.14", "layers.15"])],
            "classifier"),
        Preprocessing = new Preprocessing { InputSize = 224, ResizeSize = resize },
        WeightSources = [TorchvisionHub.Source(file, format)],
    };
}
