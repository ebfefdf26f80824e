using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>
/// torchvision's Inception3 (inception_v3, 299 px input), with torchvision state-dict keys, built as
/// <c>torchvision.models.inception_v3(weights=IMAGENET1K_V1, aux_logits=False)</c>: <c>transform_input=True</c> and
/// no auxiliary classifier. The published weight file holds the training-only aux head <c>AuxLogits</c>; the registry
/// lists it in <see cref="ModelSpec.IgnoredWeightPrefixes"/> so loading skips it. Inference never uses it.
/// The classifier section is dropout + <c>fc</c> (2048→N).
/// </summary>
public sealed class InceptionV3 : ImageClassifier, ITransformsInput
{
    private readonly BasicConv2d Conv2d_1a_3x3, Conv2d_2a_3x3, Conv2d_2b_3x3;
    private readonly MaxPool2d maxpool1;
    private readonly BasicConv2d Conv2d_3b_1x1, Conv2d_4a_3x3;
    private readonly MaxPool2d maxpool2;
    private readonly InceptionA Mixed_5b, Mixed_5c, Mixed_5d;
    private readonly InceptionB Mixed_6a;
    private readonly InceptionC Mixed_6b, Mixed_6c, Mixed_6d, Mixed_6e;
    private readonly InceptionD Mixed_7a;
    private readonly InceptionE Mixed_7b, Mixed_7c;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Dropout dropout;
    private readonly Linear fc;
    private readonly int numClasses;
    private readonly bool transformInput;

    /// <param name="transformInput">true (as torchvision's pretrained model): see <see cref="GoogLeNet"/>.</param>
    public InceptionV3(string name = "inception_v3", int numClasses = 1000, bool transformInput = true, double dropout = 0.5)
        : base(name)
    {
        this.numClasses = numClasses;
        this.transformInput = transformInput;
        Conv2d_1a_3x3 = new BasicConv2d(3, 32, 3, stride: 2);
        Conv2d_2a_3x3 = new BasicConv2d(32, 32, 3);
        Conv2d_2b_3x3 = new BasicConv2d(32, 64, 3, padding: 1);
        maxpool1 = MaxPool2d(3, stride: 2);
        Conv2d_3b_1x1 = new BasicConv2d(64, 80, 1);
        Conv2d_4a_3x3 = new BasicConv2d(80, 192, 3);
        maxpool2 = MaxPool2d(3, stride: 2);
        Mixed_5b = new InceptionA(192, poolFeatures: 32);
        Mixed_5c = new InceptionA(256, poolFeatures: 64);
        Mixed_5d = new InceptionA(288, poolFeatures: 64);
        Mixed_6a = new InceptionB(288);
        Mixed_6b = new InceptionC(768, channels7x7: 128);
        Mixed_6c = new InceptionC(768, channels7x7: 160);
        Mixed_6d = new InceptionC(768, channels7x7: 160);
        Mixed_6e = new InceptionC(768, channels7x7: 192);
        Mixed_7a = new InceptionD(768);
        Mixed_7b = new InceptionE(1280);
        Mixed_7c = new InceptionE(2048);
        avgpool = AdaptiveAvgPool2d((1, 1));
        this.dropout = Dropout(dropout);
        fc = Linear(2048, numClasses);
        RegisterComponents();
        InceptionCommon.TruncatedNormal(this, std: 0.1);
    }

    public override int NumClasses => numClasses;

    /// <summary>Whether forward applies torchvision's transform_input (read by the ONNX exporter).</summary>
    public bool TransformsInput => transformInput;

    public override Tensor ForwardFeatures(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = transformInput ? InceptionCommon.TransformInput(input) : input;   // (B, 3, 299, 299)
        x = Conv2d_2b_3x3.call(Conv2d_2a_3x3.call(Conv2d_1a_3x3.call(x)));      // (B, 64, 147, 147)
        x = Conv2d_4a_3x3.call(Conv2d_3b_1x1.call(maxpool1.call(x)));           // (B, 192, 71, 71)
        x = Mixed_5d.call(Mixed_5c.call(Mixed_5b.call(maxpool2.call(x))));      // (B, 288, 35, 35)
        x = Mixed_6e.call(Mixed_6d.call(Mixed_6c.call(Mixed_6b.call(Mixed_6a.call(x))))); // (B, 768, 17, 17)
        x = Mixed_7c.call(Mixed_7b.call(Mixed_7a.call(x)));                     // (B, 2048, 8, 8)
        return avgpool.call(x).flatten(1).MoveToOuterDisposeScope();           // (B, 2048)
    }

    public override Tensor ForwardClassifier(Tensor features)
    {
        using var scope = NewDisposeScope();
        // torchvision applies dropout before flatten; on (B, 2048, 1, 1) vs (B, 2048) it is the same elementwise op.
        return fc.call(dropout.call(features)).MoveToOuterDisposeScope();
    }
}

/// <summary>Inception3's 35x35 module: 1x1 | 1x1→5x5 | 1x1→3x3→3x3 | avgpool→1x1.</summary>
internal sealed class InceptionA : Module<Tensor, Tensor>
{
    private readonly BasicConv2d branch1x1, branch5x5_1, branch5x5_2, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3, branch_pool;

    public InceptionA(long inChannels, long poolFeatures) : base(nameof(InceptionA))
    {
        branch1x1 = new BasicConv2d(inChannels, 64, 1);
        branch5x5_1 = new BasicConv2d(inChannels, 48, 1);
        branch5x5_2 = new BasicConv2d(48, 64, 5, padding: 2);
        branch3x3dbl_1 = new BasicConv2d(inChannels, 64, 1);
        branch3x3dbl_2 = new BasicConv2d(64, 96, 3, padding: 1);
        branch3x3dbl_3 = new BasicConv2d(96, 96, 3, padding: 1);
        branch_pool = new BasicConv2d(inChannels, poolFeatures, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b1 = branch1x1.call(x);
        var b5 = branch5x5_2.call(branch5x5_1.call(x));
        var b3 = branch3x3dbl_3.call(branch3x3dbl_2.call(branch3x3dbl_1.call(x)));
        var bp = branch_pool.call(functional.avg_pool2d(x, 3, stride: 1, padding: 1));
        return torch.cat([b1, b5, b3, bp], 1).MoveToOuterDisposeScope();
    }
}

/// <summary>Inception3's 35→17 grid reduction: 3x3/2 | 1x1→3x3→3x3/2 | maxpool/2.</summary>
internal sealed class InceptionB : Module<Tensor, Tensor>
{
    private readonly BasicConv2d branch3x3, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3;

    public InceptionB(long inChannels) : base(nameof(InceptionB))
    {
        branch3x3 = new BasicConv2d(inChannels, 384, 3, stride: 2);
        branch3x3dbl_1 = new BasicConv2d(inChannels, 64, 1);
        branch3x3dbl_2 = new BasicConv2d(64, 96, 3, padding: 1);
        branch3x3dbl_3 = new BasicConv2d(96, 96, 3, stride: 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b3 = branch3x3.call(x);
        var bd = branch3x3dbl_3.call(branch3x3dbl_2.call(branch3x3dbl_1.call(x)));
        var bp = functional.max_pool2d(x, 3, stride: 2);
        return torch.cat([b3, bd, bp], 1).MoveToOuterDisposeScope();
    }
}

/// <summary>Inception3's 17x17 module with factorised 7x7 convolutions (1x7 and 7x1).</summary>
internal sealed class InceptionC : Module<Tensor, Tensor>
{
    private readonly BasicConv2d branch1x1;
    private readonly BasicConv2d branch7x7_1, branch7x7_2, branch7x7_3;
    private readonly BasicConv2d branch7x7dbl_1, branch7x7dbl_2, branch7x7dbl_3, branch7x7dbl_4, branch7x7dbl_5;
    private readonly BasicConv2d branch_pool;

    public InceptionC(long inChannels, long channels7x7) : base(nameof(InceptionC))
    {
        long c7 = channels7x7;
        branch1x1 = new BasicConv2d(inChannels, 192, 1);
        branch7x7_1 = new BasicConv2d(inChannels, c7, 1);
        branch7x7_2 = new BasicConv2d(c7, c7, (1, 7), padding: (0, 3));
        branch7x7_3 = new BasicConv2d(c7, 192, (7, 1), padding: (3, 0));
        branch7x7dbl_1 = new BasicConv2d(inChannels, c7, 1);
        branch7x7dbl_2 = new BasicConv2d(c7, c7, (7, 1), padding: (3, 0));
        branch7x7dbl_3 = new BasicConv2d(c7, c7, (1, 7), padding: (0, 3));
        branch7x7dbl_4 = new BasicConv2d(c7, c7, (7, 1), padding: (3, 0));
        branch7x7dbl_5 = new BasicConv2d(c7, 192, (1, 7), padding: (0, 3));
        branch_pool = new BasicConv2d(inChannels, 192, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b1 = branch1x1.call(x);
        var b7 = branch7x7_3.call(branch7x7_2.call(branch7x7_1.call(x)));
        var bd = branch7x7dbl_1.call(x);
        bd = branch7x7dbl_5.call(branch7x7dbl_4.call(branch7x7dbl_3.call(branch7x7dbl_2.call(bd))));
        var bp = branch_pool.call(functional.avg_pool2d(x, 3, stride: 1, padding: 1));
        return torch.cat([b1, b7, bd, bp], 1).MoveToOuterDisposeScope();
    }
}

/// <summary>Inception3's 17→8 grid reduction: 1x1→3x3/2 | 1x1→1x7→7x1→3x3/2 | maxpool/2.</summary>
internal sealed class InceptionD : Module<Tensor, Tensor>
{
    private readonly BasicConv2d branch3x3_1, branch3x3_2;
    private readonly BasicConv2d branch7x7x3_1, branch7x7x3_2, branch7x7x3_3, branch7x7x3_4;

    public InceptionD(long inChannels) : base(nameof(InceptionD))
    {
        branch3x3_1 = new BasicConv2d(inChannels, 192, 1);
        branch3x3_2 = new BasicConv2d(192, 320, 3, stride: 2);
        branch7x7x3_1 = new BasicConv2d(inChannels, 192, 1);
        branch7x7x3_2 = new BasicConv2d(192, 192, (1, 7), padding: (0, 3));
        branch7x7x3_3 = new BasicConv2d(192, 192, (7, 1), padding: (3, 0));
        branch7x7x3_4 = new BasicConv2d(192, 192, 3, stride: 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b3 = branch3x3_2.call(branch3x3_1.call(x));
        var b7 = branch7x7x3_4.call(branch7x7x3_3.call(branch7x7x3_2.call(branch7x7x3_1.call(x))));
        var bp = functional.max_pool2d(x, 3, stride: 2);
        return torch.cat([b3, b7, bp], 1).MoveToOuterDisposeScope();
    }
}

/// <summary>Inception3's 8x8 module with expanded filter banks (parallel 1x3 and 3x1 outputs).</summary>
internal sealed class InceptionE : Module<Tensor, Tensor>
{
    private readonly BasicConv2d branch1x1;
    private readonly BasicConv2d branch3x3_1, branch3x3_2a, branch3x3_2b;
    private readonly BasicConv2d branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3a, branch3x3dbl_3b;
    private readonly BasicConv2d branch_pool;

    public InceptionE(long inChannels) : base(nameof(InceptionE))
    {
        branch1x1 = new BasicConv2d(inChannels, 320, 1);
        branch3x3_1 = new BasicConv2d(inChannels, 384, 1);
        branch3x3_2a = new BasicConv2d(384, 384, (1, 3), padding: (0, 1));
        branch3x3_2b = new BasicConv2d(384, 384, (3, 1), padding: (1, 0));
        branch3x3dbl_1 = new BasicConv2d(inChannels, 448, 1);
        branch3x3dbl_2 = new BasicConv2d(448, 384, 3, padding: 1);
        branch3x3dbl_3a = new BasicConv2d(384, 384, (1, 3), padding: (0, 1));
        branch3x3dbl_3b = new BasicConv2d(384, 384, (3, 1), padding: (1, 0));
        branch_pool = new BasicConv2d(inChannels, 192, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b1 = branch1x1.call(x);
        var b3 = branch3x3_1.call(x);
        b3 = torch.cat([branch3x3_2a.call(b3), branch3x3_2b.call(b3)], 1);
        var bd = branch3x3dbl_2.call(branch3x3dbl_1.call(x));
        bd = torch.cat([branch3x3dbl_3a.call(bd), branch3x3dbl_3b.call(bd)], 1);
        var bp = branch_pool.call(functional.avg_pool2d(x, 3, stride: 1, padding: 1));
        return torch.cat([b1, b3, bd, bp], 1).MoveToOuterDisposeScope();
    }
}
