using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>torchvision's ShuffleNet V2 (Ma et al. 2018), with torchvision state-dict keys.</summary>
public sealed class ShuffleNetV2 : ImageClassifier
{
    private readonly Sequential conv1;
    private readonly MaxPool2d maxpool;
    private readonly Sequential stage2, stage3, stage4;
    private readonly Sequential conv5;
    private readonly Linear fc;
    private readonly int numClasses;

    /// <param name="stageRepeats">Units per stage (3 stages), [4, 8, 4] in every torchvision variant.</param>
    /// <param name="stageOutChannels">Stem, three stages and conv5 output channels (5 values).</param>
    public ShuffleNetV2(string name, int[] stageRepeats, int[] stageOutChannels, int numClasses = 1000) : base(name)
    {
        if (stageRepeats.Length != 3) throw new ArgumentException("expected 3 stage repeats", nameof(stageRepeats));
        if (stageOutChannels.Length != 5) throw new ArgumentException("expected 5 output channel counts", nameof(stageOutChannels));
        this.numClasses = numClasses;
        long channels = stageOutChannels[0];
        conv1 = Sequential(Conv2d(3, channels, 3, stride: 2, padding: 1, bias: false), BatchNorm2d(channels), ReLU(inplace: true));
        maxpool = MaxPool2d(kernel_size: 3, stride: 2, padding: 1);
        Sequential Stage(int repeats, long outChannels)
        {
            var units = new List<Module<Tensor, Tensor>> { new ShuffleUnit(channels, outChannels, 2) };
            for (int i = 1; i < repeats; i++) units.Add(new ShuffleUnit(outChannels, outChannels, 1));
            channels = outChannels;
            return Sequential(units);
        }
        stage2 = Stage(stageRepeats[0], stageOutChannels[1]);
        stage3 = Stage(stageRepeats[1], stageOutChannels[2]);
        stage4 = Stage(stageRepeats[2], stageOutChannels[3]);
        conv5 = Sequential(Conv2d(channels, stageOutChannels[4], 1, bias: false), BatchNorm2d(stageOutChannels[4]), ReLU(inplace: true));
        fc = Linear(stageOutChannels[4], numClasses);
        // torchvision keeps PyTorch's default initialisation here, which TorchSharp's modules share.
        RegisterComponents();
    }

    public override int NumClasses => numClasses;

    public override Tensor ForwardFeatures(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = maxpool.call(conv1.call(input));                         // (B, 24, H/4, W/4)
        x = conv5.call(stage4.call(stage3.call(stage2.call(x))));       // (B, C, H/32, W/32)
        return x.mean([2, 3]).MoveToOuterDisposeScope();                 // (B, C)
    }

    public override Tensor ForwardClassifier(Tensor features) => fc.call(features);
}

/// <summary>
/// torchvision's ShuffleNet V2 InvertedResidual. Stride 1: split channels in half, transform one half. Stride 2: both
/// branches see the whole input and halve the resolution. Either way the halves are concatenated and shuffled.
/// </summary>
internal sealed class ShuffleUnit : Module<Tensor, Tensor>
{
    private readonly Sequential branch1;
    private readonly Sequential branch2;
    private readonly long stride;

    public ShuffleUnit(long inp, long oup, long stride) : base(nameof(ShuffleUnit))
    {
        long branchFeatures = oup / 2;
        if (stride == 1 && inp != branchFeatures * 2)
            throw new ArgumentException($"stride 1 needs inp == oup, got inp {inp} and oup {oup}");
        this.stride = stride;
        branch1 = stride > 1
            ? Sequential(
                Conv2d(inp, inp, 3, stride: stride, padding: 1, groups: inp, bias: false), BatchNorm2d(inp),
                Conv2d(inp, branchFeatures, 1, bias: false), BatchNorm2d(branchFeatures), ReLU(inplace: true))
            : Sequential();
        branch2 = Sequential(
            Conv2d(stride > 1 ? inp : branchFeatures, branchFeatures, 1, bias: false), BatchNorm2d(branchFeatures), ReLU(inplace: true),
            Conv2d(branchFeatures, branchFeatures, 3, stride: stride, padding: 1, groups: branchFeatures, bias: false),
            BatchNorm2d(branchFeatures),
            Conv2d(branchFeatures, branchFeatures, 1, bias: false), BatchNorm2d(branchFeatures), ReLU(inplace: true));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor y;
        if (stride == 1)
        {
            var halves = x.chunk(2, 1);
            y = cat([halves[0], branch2.call(halves[1])], 1);
        }
        else
        {
            y = cat([branch1.call(x), branch2.call(x)], 1);
        }
        return ChannelShuffle(y, 2).MoveToOuterDisposeScope();
    }

    /// <summary>(B, g*c, H, W) viewed as (B, g, c, H, W), transposed to (B, c, g, H, W), flattened back.</summary>
    internal static Tensor ChannelShuffle(Tensor x, long groups)
    {
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        return x.view(b, groups, c / groups, h, w).transpose(1, 2).contiguous().view(b, -1, h, w);
    }
}

/// <summary>Registry records of the ShuffleNet V2 family.</summary>
internal static class ShuffleNetV2Family
{
    public static IEnumerable<ModelSpec> Specs()
    {
        // x0_5 and x1_0 weights come from the 2019 port (legacy container); x1_5 and x2_0 were trained by torchvision in 2022.
        yield return Spec("x0_5", [24, 48, 96, 192, 1024], "shufflenetv2_x0.5-f707e7126e.pth", WeightFormat.PthLegacy, 256);
        yield return Spec("x1_0", [24, 116, 232, 464, 1024], "shufflenetv2_x1-5666bf0f80.pth", WeightFormat.PthLegacy, 256);
        yield return Spec("x1_5", [24, 176, 352, 704, 1024], "shufflenetv2_x1_5-3c479a10.pth", WeightFormat.PthZip, 232);
        yield return Spec("x2_0", [24, 244, 488, 976, 2048], "shufflenetv2_x2_0-8be3c8ee.pth", WeightFormat.PthZip, 232);
    }

    private static ModelSpec Spec(string width, int[] channels, string file, WeightFormat format, int resize)
    {
        string name = $"shufflenet_v2_{width}";
        return new ModelSpec
        {
            Name = name,
            Family = "shufflenet_v2",
            Layout = new ForwardLayout.ChildrenInOrder(Head: "fc", GlobalPoolBeforeHead: true),
            Description = $"ShuffleNet V2 {width.Replace('_', '.')[1..]}x (Ma et al. 2018)",
            Factory = n => new ShuffleNetV2(name, [4, 8, 4], channels, n),
            ClassifierPrefix = "fc",
            HeadPrefix = "fc",
            LayerGroups = LayerGroupSets.StemStagesHead(["conv1"],
                [("stage2", ["stage2"]), ("stage3", ["stage3"]), ("stage4", ["stage4", "conv5"])], "fc"),
            Preprocessing = new Preprocessing { InputSize = 224, ResizeSize = resize },
            WeightSources = [TorchvisionHub.Source(file, format)],
        };
    }
}
