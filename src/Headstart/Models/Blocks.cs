using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>Building blocks shared by several torchvision families (torchvision.ops.misc and models._utils).</summary>
internal static class Blocks
{
    /// <summary>
    /// torchvision's Conv2dNormActivation: a Sequential of conv ("0"), BatchNorm ("1") and, when
    /// <paramref name="activation"/> is given, the activation ("2"). The conv has no bias (the norm supplies it), and
    /// padding is (kernel - 1) / 2 * dilation ("same" for odd kernels at stride 1).
    /// </summary>
    public static Sequential ConvNormActivation(long inChannels, long outChannels, long kernelSize = 3, long stride = 1,
        long groups = 1, long dilation = 1, Func<Module<Tensor, Tensor>>? activation = null,
        double bnEps = 1e-5, double bnMomentum = 0.1)
    {
        var layers = new List<Module<Tensor, Tensor>>
        {
            Conv2d(inChannels, outChannels, kernelSize, stride: stride, padding: (kernelSize - 1) / 2 * dilation,
                dilation: dilation, groups: groups, bias: false),
            BatchNorm2d(outChannels, eps: bnEps, momentum: bnMomentum),
        };
        if (activation is not null) layers.Add(activation());
        return Sequential(layers);
    }

    /// <summary>
    /// torchvision's _make_divisible (from the TensorFlow MobileNet code): rounds a channel count to the nearest
    /// multiple of <paramref name="divisor"/>, never going below 90% of <paramref name="value"/>.
    /// </summary>
    public static long MakeDivisible(double value, long divisor, long? minValue = null)
    {
        long min = minValue ?? divisor;
        long rounded = Math.Max(min, (long)(value + divisor / 2.0) / divisor * divisor);
        return rounded < 0.9 * value ? rounded + divisor : rounded;
    }

    /// <summary>
    /// Fills <paramref name="tensor"/> from N(mean, std²) truncated to [a, b], by PyTorch's own algorithm (inverse CDF
    /// of a uniform draw, then clamp). TorchSharp 0.107's <c>nn.init.trunc_normal_</c> cannot be used: it fills every
    /// element with <paramref name="std"/>.
    /// </summary>
    public static Tensor TruncatedNormal_(Tensor tensor, double mean, double std, double a, double b)
    {
        using var noGrad = torch.no_grad();
        using var bounds = torch.tensor(new[] { (a - mean) / std, (b - mean) / std }, ScalarType.Float64);
        using var cdf = bounds.div(Math.Sqrt(2)).erf_().add_(1).div_(2);   // Φ(α), Φ(β)
        double low = cdf[0].item<double>(), high = cdf[1].item<double>();
        tensor.uniform_(2 * low - 1, 2 * high - 1).erfinv_().mul_(std * Math.Sqrt(2)).add_(mean);
        return tensor.clamp_(a, b);
    }

    /// <summary>
    /// Initialisation shared by torchvision's VGG and MobileNet-style models: kaiming-normal (fan_out) convs with
    /// zero bias, BatchNorm 1/0, Linear N(0, 0.01) with zero bias.
    /// </summary>
    public static void InitConvBnLinear(Module module)
    {
        using var noGrad = torch.no_grad();
        foreach (var (_, m) in module.named_modules())
        {
            switch (m)
            {
                case Conv2d c:
                    init.kaiming_normal_(c.weight, mode: init.FanInOut.FanOut);
                    if (c.bias is not null) init.zeros_(c.bias);
                    break;
                case BatchNorm2d bn:
                    init.ones_(bn.weight);
                    init.zeros_(bn.bias);
                    break;
                case Linear l:
                    init.normal_(l.weight, 0, 0.01);
                    if (l.bias is not null) init.zeros_(l.bias);
                    break;
            }
        }
    }
}

/// <summary>
/// torchvision.ops.SqueezeExcitation: global average pool, 1x1 conv down ("fc1"), activation, 1x1 conv up ("fc2"),
/// gating activation, then channel-wise scaling of the input.
/// </summary>
internal sealed class SqueezeExcitation : Module<Tensor, Tensor>
{
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Conv2d fc1;
    private readonly Conv2d fc2;
    private readonly Module<Tensor, Tensor> activation;
    private readonly Module<Tensor, Tensor> scale_activation;

    /// <param name="scaleActivation">The gate: Sigmoid in torchvision's default, Hardsigmoid in MobileNetV3.</param>
    public SqueezeExcitation(long inputChannels, long squeezeChannels, Func<Module<Tensor, Tensor>>? activation = null,
        Func<Module<Tensor, Tensor>>? scaleActivation = null) : base(nameof(SqueezeExcitation))
    {
        avgpool = AdaptiveAvgPool2d(1);
        fc1 = Conv2d(inputChannels, squeezeChannels, 1);
        fc2 = Conv2d(squeezeChannels, inputChannels, 1);
        this.activation = activation?.Invoke() ?? ReLU();
        scale_activation = scaleActivation?.Invoke() ?? Sigmoid();
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var scale = avgpool.call(input);                                           // (B, C, 1, 1)
        scale = scale_activation.call(fc2.call(activation.call(fc1.call(scale))));  // (B, C, 1, 1)
        return (scale * input).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The conv unit of torchvision's GoogLeNet and Inception3: conv without bias ("conv"), BatchNorm with eps 0.001
/// ("bn"), ReLU.
/// </summary>
internal sealed class BasicConv2d : Module<Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly BatchNorm2d bn;

    public BasicConv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0)
        : this(inChannels, outChannels, (kernelSize, kernelSize), (stride, stride), (padding, padding)) { }

    public BasicConv2d(long inChannels, long outChannels, (long, long) kernelSize, (long, long)? stride = null,
        (long, long)? padding = null) : base(nameof(BasicConv2d))
    {
        conv = Conv2d(inChannels, outChannels, kernelSize, stride: stride ?? (1, 1), padding: padding ?? (0, 0), bias: false);
        bn = BatchNorm2d(outChannels, eps: 0.001);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return functional.relu(bn.call(conv.call(x)), inplace: true).MoveToOuterDisposeScope();
    }
}
