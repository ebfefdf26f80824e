using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>torchvision's ResNet family (ResNet, ResNeXt, Wide ResNet), with torchvision state-dict keys.</summary>
public sealed class ResNet : ImageClassifier
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly MaxPool2d maxpool;
    private readonly Sequential layer1, layer2, layer3, layer4;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Linear fc;
    private readonly int numClasses;

    /// <param name="bottleneck">false: BasicBlock (expansion 1), true: Bottleneck (expansion 4).</param>
    /// <param name="layers">Blocks per stage, e.g. [2,2,2,2] for resnet18.</param>
    public ResNet(string name, bool bottleneck, int[] layers, int numClasses = 1000, int groups = 1, int widthPerGroup = 64)
        : base(name)
    {
        this.numClasses = numClasses;
        int expansion = bottleneck ? 4 : 1;
        long inplanes = 64;
        conv1 = Conv2d(3, 64, kernel_size: 7, stride: 2, padding: 3, bias: false);
        bn1 = BatchNorm2d(64);
        relu = ReLU(inplace: true);
        maxpool = MaxPool2d(kernel_size: 3, stride: 2, padding: 1);
        Sequential MakeLayer(long planes, int blocks, long stride)
        {
            var mods = new List<(string, Module<Tensor, Tensor>)>();
            for (int i = 0; i < blocks; i++)
            {
                Module<Tensor, Tensor> block = bottleneck
                    ? new Bottleneck($"{name}-b", inplanes, planes, i == 0 ? stride : 1, groups, widthPerGroup)
                    : new BasicBlock($"{name}-b", inplanes, planes, i == 0 ? stride : 1);
                mods.Add((i.ToString(), block));
                inplanes = planes * expansion;
            }
            return Sequential(mods);
        }
        layer1 = MakeLayer(64, layers[0], 1);
        layer2 = MakeLayer(128, layers[1], 2);
        layer3 = MakeLayer(256, layers[2], 2);
        layer4 = MakeLayer(512, layers[3], 2);
        avgpool = AdaptiveAvgPool2d(1);
        fc = Linear(512 * expansion, numClasses);
        RegisterComponents();
        InitWeights();   // after registration: named_modules() only sees registered submodules
    }

    public override int NumClasses => numClasses;

    public override Tensor ForwardFeatures(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = maxpool.call(relu.call(bn1.call(conv1.call(input))));   // (B, 64, H/4, W/4)
        x = layer4.call(layer3.call(layer2.call(layer1.call(x))));       // (B, 512e, H/32, W/32)
        return avgpool.call(x).flatten(1).MoveToOuterDisposeScope();     // (B, 512e)
    }

    public override Tensor ForwardClassifier(Tensor features) => fc.call(features);

    private void InitWeights()
    {
        // torchvision: kaiming_normal_(fan_out, relu) for convs, BN weight 1 / bias 0.
        foreach (var (_, m) in named_modules())
        {
            if (m is Conv2d c) init.kaiming_normal_(c.weight, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU);
        }
    }
}

/// <summary>torchvision BasicBlock: two 3x3 convs, expansion 1.</summary>
internal sealed class BasicBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Sequential? downsample;

    public BasicBlock(string name, long inplanes, long planes, long stride) : base(name)
    {
        conv1 = Conv2d(inplanes, planes, 3, stride: stride, padding: 1, bias: false);
        bn1 = BatchNorm2d(planes);
        relu = ReLU(inplace: true);
        conv2 = Conv2d(planes, planes, 3, stride: 1, padding: 1, bias: false);
        bn2 = BatchNorm2d(planes);
        if (stride != 1 || inplanes != planes)
            downsample = Sequential(Conv2d(inplanes, planes, 1, stride: stride, bias: false), BatchNorm2d(planes));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var identity = downsample is null ? x : downsample.call(x);
        var y = relu.call(bn1.call(conv1.call(x)));
        y = bn2.call(conv2.call(y));
        return relu.call(y.add_(identity, Scalars.One)).MoveToOuterDisposeScope();
    }
}

/// <summary>torchvision Bottleneck (v1.5: stride on the 3x3 conv), expansion 4.</summary>
internal sealed class Bottleneck : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Conv2d conv3;
    private readonly BatchNorm2d bn3;
    private readonly ReLU relu;
    private readonly Sequential? downsample;

    public Bottleneck(string name, long inplanes, long planes, long stride, int groups, int baseWidth) : base(name)
    {
        long width = (long)(planes * (baseWidth / 64.0)) * groups;
        conv1 = Conv2d(inplanes, width, 1, bias: false);
        bn1 = BatchNorm2d(width);
        conv2 = Conv2d(width, width, 3, stride: stride, padding: 1, groups: groups, bias: false);
        bn2 = BatchNorm2d(width);
        conv3 = Conv2d(width, planes * 4, 1, bias: false);
        bn3 = BatchNorm2d(planes * 4);
        relu = ReLU(inplace: true);
        if (stride != 1 || inplanes != planes * 4)
            downsample = Sequential(Conv2d(inplanes, planes * 4, 1, stride: stride, bias: false), BatchNorm2d(planes * 4));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var identity = downsample is null ? x : downsample.call(x);
        var y = relu.call(bn1.call(conv1.call(x)));
        y = relu.call(bn2.call(conv2.call(y)));
        y = bn3.call(conv3.call(y));
        return relu.call(y.add_(identity, Scalars.One)).MoveToOuterDisposeScope();
    }
}
