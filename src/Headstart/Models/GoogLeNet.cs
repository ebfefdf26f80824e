using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>
/// torchvision's GoogLeNet (Inception v1 with BatchNorm), with torchvision state-dict keys, built as
/// <c>torchvision.models.googlenet(weights=IMAGENET1K_V1)</c> returns it: <c>transform_input=True</c> and no
/// auxiliary classifiers. The published weight file also holds the untrained aux heads <c>aux1</c>/<c>aux2</c>; the
/// registry lists them in <see cref="ModelSpec.IgnoredWeightPrefixes"/> so loading skips them.
/// The classifier section is dropout + <c>fc</c> (1024→N).
/// </summary>
public sealed class GoogLeNet : ImageClassifier, ITransformsInput
{
    private readonly BasicConv2d conv1;
    private readonly MaxPool2d maxpool1;
    private readonly BasicConv2d conv2;
    private readonly BasicConv2d conv3;
    private readonly MaxPool2d maxpool2;
    private readonly InceptionV1Block inception3a, inception3b;
    private readonly MaxPool2d maxpool3;
    private readonly InceptionV1Block inception4a, inception4b, inception4c, inception4d, inception4e;
    private readonly MaxPool2d maxpool4;
    private readonly InceptionV1Block inception5a, inception5b;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Dropout dropout;
    private readonly Linear fc;
    private readonly int numClasses;
    private readonly bool transformInput;

    /// <param name="transformInput">
    /// true (as torchvision's pretrained model): input normalised with ImageNet mean/std is re-normalised to the
    /// (x - 0.5) / 0.5 scaling the ported weights expect.
    /// </param>
    public GoogLeNet(string name = "googlenet", int numClasses = 1000, bool transformInput = true, double dropout = 0.2)
        : base(name)
    {
        this.numClasses = numClasses;
        this.transformInput = transformInput;
        conv1 = new BasicConv2d(3, 64, 7, stride: 2, padding: 3);
        maxpool1 = MaxPool2d(3, stride: 2, ceil_mode: true);
        conv2 = new BasicConv2d(64, 64, 1);
        conv3 = new BasicConv2d(64, 192, 3, padding: 1);
        maxpool2 = MaxPool2d(3, stride: 2, ceil_mode: true);
        inception3a = new InceptionV1Block(192, 64, 96, 128, 16, 32, 32);
        inception3b = new InceptionV1Block(256, 128, 128, 192, 32, 96, 64);
        maxpool3 = MaxPool2d(3, stride: 2, ceil_mode: true);
        inception4a = new InceptionV1Block(480, 192, 96, 208, 16, 48, 64);
        inception4b = new InceptionV1Block(512, 160, 112, 224, 24, 64, 64);
        inception4c = new InceptionV1Block(512, 128, 128, 256, 24, 64, 64);
        inception4d = new InceptionV1Block(512, 112, 144, 288, 32, 64, 64);
        inception4e = new InceptionV1Block(528, 256, 160, 320, 32, 128, 128);
        maxpool4 = MaxPool2d(2, stride: 2, ceil_mode: true);
        inception5a = new InceptionV1Block(832, 256, 160, 320, 32, 128, 128);
        inception5b = new InceptionV1Block(832, 384, 192, 384, 48, 128, 128);
        avgpool = AdaptiveAvgPool2d((1, 1));
        this.dropout = Dropout(dropout);
        fc = Linear(1024, numClasses);
        RegisterComponents();
        InceptionCommon.TruncatedNormal(this, std: 0.01);
    }

    public override int NumClasses => numClasses;

    /// <summary>Whether forward applies torchvision's transform_input (read by the ONNX exporter).</summary>
    public bool TransformsInput => transformInput;

    public override Tensor ForwardFeatures(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = transformInput ? InceptionCommon.TransformInput(input) : input;
        x = maxpool1.call(conv1.call(x));                               // (B, 64, H/4, W/4)
        x = maxpool2.call(conv3.call(conv2.call(x)));                   // (B, 192, H/8, W/8)
        x = maxpool3.call(inception3b.call(inception3a.call(x)));       // (B, 480, H/16, W/16)
        x = inception4a.call(x);
        x = inception4d.call(inception4c.call(inception4b.call(x)));    // (B, 528, H/16, W/16)
        x = maxpool4.call(inception4e.call(x));                         // (B, 832, H/32, W/32)
        x = inception5b.call(inception5a.call(x));                      // (B, 1024, H/32, W/32)
        return avgpool.call(x).flatten(1).MoveToOuterDisposeScope();    // (B, 1024)
    }

    public override Tensor ForwardClassifier(Tensor features)
    {
        using var scope = NewDisposeScope();
        return fc.call(dropout.call(features)).MoveToOuterDisposeScope();
    }
}

/// <summary>GoogLeNet's Inception module: 1x1, 1x1→3x3, 1x1→3x3 (torchvision's "5x5" branch), maxpool→1x1.</summary>
internal sealed class InceptionV1Block : Module<Tensor, Tensor>
{
    private readonly BasicConv2d branch1;
    private readonly Sequential branch2, branch3, branch4;

    public InceptionV1Block(long inChannels, long ch1x1, long ch3x3red, long ch3x3, long ch5x5red, long ch5x5, long poolProj)
        : base(nameof(InceptionV1Block))
    {
        branch1 = new BasicConv2d(inChannels, ch1x1, 1);
        branch2 = Sequential(new BasicConv2d(inChannels, ch3x3red, 1), new BasicConv2d(ch3x3red, ch3x3, 3, padding: 1));
        // torchvision uses a 3x3 kernel here, not the paper's 5x5 (a known quirk its ported weights depend on).
        branch3 = Sequential(new BasicConv2d(inChannels, ch5x5red, 1), new BasicConv2d(ch5x5red, ch5x5, 3, padding: 1));
        branch4 = Sequential(MaxPool2d(3, stride: 1, padding: 1, ceil_mode: true), new BasicConv2d(inChannels, poolProj, 1));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return torch.cat([branch1.call(x), branch2.call(x), branch3.call(x), branch4.call(x)], 1).MoveToOuterDisposeScope();
    }
}

/// <summary>Pieces shared by torchvision's GoogLeNet and Inception3.</summary>
internal static class InceptionCommon
{
    /// <summary>
    /// torchvision's transform_input: maps input normalised with ImageNet mean/std to (x - 0.5) / 0.5, per channel
    /// x * (std / 0.5) + (mean - 0.5) / 0.5. (B, 3, H, W) → (B, 3, H, W).
    /// </summary>
    public static Tensor TransformInput(Tensor x)
    {
        using var scope = NewDisposeScope();
        var ch0 = x[.., 0].unsqueeze(1).mul(Scalars.Of(0.229 / 0.5)).add(Scalars.Of((0.485 - 0.5) / 0.5), Scalars.One);
        var ch1 = x[.., 1].unsqueeze(1).mul(Scalars.Of(0.224 / 0.5)).add(Scalars.Of((0.456 - 0.5) / 0.5), Scalars.One);
        var ch2 = x[.., 2].unsqueeze(1).mul(Scalars.Of(0.225 / 0.5)).add(Scalars.Of((0.406 - 0.5) / 0.5), Scalars.One);
        return torch.cat([ch0, ch1, ch2], 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// torchvision's init for GoogLeNet/Inception3: conv and linear weights from N(0, std²) truncated to [-2, 2]
    /// (absolute bounds, as torchvision passes them), BatchNorm 1/0; biases keep PyTorch's default.
    /// </summary>
    public static void TruncatedNormal(Module module, double std)
    {
        using var noGrad = torch.no_grad();
        foreach (var (_, m) in module.named_modules())
        {
            switch (m)
            {
                case Conv2d c: Blocks.TruncatedNormal_(c.weight, 0, std, -2, 2); break;
                case Linear l: Blocks.TruncatedNormal_(l.weight, 0, std, -2, 2); break;
                case BatchNorm2d bn: init.ones_(bn.weight); init.zeros_(bn.bias); break;
            }
        }
    }
}
