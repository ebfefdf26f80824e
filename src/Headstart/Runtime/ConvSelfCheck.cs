using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Headstart.Runtime;

/// <summary>
/// One tiny convolution the self-check runs: input [Batch, InChannels, Size, Size], weight [OutChannels,
/// InChannels / Groups, KernelH, KernelW], zero padding, stride and dilation as given.
/// </summary>
public sealed record ConvCase(int Batch, int InChannels, int OutChannels, int KernelH, int KernelW, int Groups = 1,
    int StrideH = 1, int StrideW = 1, int PadH = 0, int PadW = 0, int DilationH = 1, int DilationW = 1, int Size = 8)
{
    /// <summary>A k x k convolution padded to keep the size (k / 2), as most of the zoo's are.</summary>
    public static ConvCase Square(int batch, int inChannels, int outChannels, int kernel, int groups = 1, int stride = 1, int size = 8) =>
        new(batch, inChannels, outChannels, kernel, kernel, groups, stride, stride, kernel / 2, kernel / 2, Size: size);

    public int OutH => (Size + 2 * PadH - DilationH * (KernelH - 1) - 1) / StrideH + 1;
    public int OutW => (Size + 2 * PadW - DilationW * (KernelW - 1) - 1) / StrideW + 1;

    public override string ToString()
    {
        string kind = Groups == 1 ? "conv" : Groups == InChannels && Groups == OutChannels ? "depthwise" : $"grouped/{Groups}";
        string stride = StrideH == 1 && StrideW == 1 ? "" : StrideH == StrideW ? $" stride {StrideH}" : $" stride {StrideH}x{StrideW}";
        string pad = PadH == KernelH / 2 && PadW == KernelW / 2 ? "" : $" pad {PadH}x{PadW}";
        string dil = DilationH == 1 && DilationW == 1 ? "" : $" dilation {DilationH}x{DilationW}";
        return $"{kind} {KernelH}x{KernelW}{stride}{pad}{dil} batch {Batch} in {InChannels} out {OutChannels}" + (Size == 8 ? "" : $" at {Size}px");
    }
}

/// <summary>
/// How far libtorch's float32 conv2d is from the same convolution computed another way (relative to the reference's
/// largest magnitude): the forward output, and the gradients with respect to input and weight. NaN counts as wrong.
/// </summary>
public sealed record ConvCaseResult(ConvCase Case, double ForwardError, double GradientError)
{
    /// <summary>Float32 against a float64 reference of these sizes agrees to about 1e-6; the defects seen are 1e-2 to NaN.</summary>
    public const double Tolerance = 1e-4;

    public bool Exact => ForwardError <= Tolerance && GradientError <= Tolerance;   // false for NaN
}

/// <summary>The outcome of one run of the self-check.</summary>
public sealed record ConvCheckReport(IReadOnlyList<ConvCaseResult> Results, TimeSpan Elapsed)
{
    public IReadOnlyList<ConvCaseResult> Failures => Results.Where(r => !r.Exact).ToList();
    public bool Exact => Results.All(r => r.Exact);
}

/// <summary>
/// The engine self-check: a handful of tiny convolutions, forward and backward, compared with unfold (im2col) +
/// matmul in float64, which runs no oneDNN convolution kernel. The cases cover the shape classes where libtorch
/// 2.10's oneDNN was seen to go wrong (kernels 3-7, input channels over 16 and not a multiple of 16, batch 1 and 2),
/// controls that it gets right, and the grouped, depthwise and strided kinds the zoo uses.
/// </summary>
public static class ConvSelfCheck
{
    /// <summary>The cases <see cref="Run"/> checks. Changing them changes <see cref="Version"/>, so cached verdicts
    /// from an older list are not reused.</summary>
    public static IReadOnlyList<ConvCase> Cases { get; } =
    [
        ConvCase.Square(2, 16, 16, 3), ConvCase.Square(2, 32, 16, 3), ConvCase.Square(2, 16, 16, 1), ConvCase.Square(2, 24, 16, 1),   // controls
        ConvCase.Square(2, 17, 16, 3), ConvCase.Square(2, 24, 16, 3), ConvCase.Square(2, 40, 16, 3), ConvCase.Square(2, 72, 32, 3),
        ConvCase.Square(1, 24, 16, 5), ConvCase.Square(2, 24, 16, 5), ConvCase.Square(1, 40, 16, 7), ConvCase.Square(2, 17, 16, 7),
        ConvCase.Square(2, 24, 32, 3, stride: 2), ConvCase.Square(2, 40, 16, 5, stride: 2),
        ConvCase.Square(2, 48, 48, 3, groups: 2), ConvCase.Square(2, 96, 96, 3, groups: 4),
        ConvCase.Square(2, 40, 40, 3, groups: 40), ConvCase.Square(2, 72, 72, 5, groups: 72),
    ];

    /// <summary>Identifies the case list and tolerance in cached verdicts.</summary>
    public const string Version = "conv-check-2";

    /// <summary>Runs the cases in the engine's current configuration. Costs tens of milliseconds.</summary>
    public static ConvCheckReport Run()
    {
        var sw = Stopwatch.StartNew();
        var results = Cases.Select(Measure).ToList();
        return new ConvCheckReport(results, sw.Elapsed);
    }

    /// <summary>Measures one case: conv2d in float32 against the float64 unfold reference, forward and gradients.</summary>
    public static ConvCaseResult Measure(ConvCase c)
    {
        using var scope = NewDisposeScope();
        using var grad = torch.enable_grad();
        var gen = new Generator((ulong)(1234 + c.InChannels * 31 + c.KernelH));
        var x = randn([c.Batch, c.InChannels, c.Size, c.Size], generator: gen).requires_grad_(true);
        var w = randn([c.OutChannels, c.InChannels / c.Groups, c.KernelH, c.KernelW], generator: gen)
            .div_(Math.Sqrt(c.InChannels / c.Groups * c.KernelH * c.KernelW)).requires_grad_(true);
        var y = nn.functional.conv2d(x, w, strides: [c.StrideH, c.StrideW], padding: [c.PadH, c.PadW],
            dilation: [c.DilationH, c.DilationW], groups: c.Groups);
        // A fixed random weighting of the output, so that every output element reaches the gradients.
        var probe = randn(y.shape, generator: gen);
        var (gx, gw) = Gradients(y, probe, x, w);

        var x64 = x.detach().to(float64).requires_grad_(true);
        var w64 = w.detach().to(float64).requires_grad_(true);
        var r = Reference(x64, w64, c);
        var (rx, rw) = Gradients(r, probe.to(float64), x64, w64);
        return new ConvCaseResult(c, RelativeError(y, r), Math.Max(RelativeError(gx, rx), RelativeError(gw, rw)));
    }

    /// <summary>conv2d as im2col + matmul, group by group: columns [B, Cin/g*kh*kw, L] times weights [Cout/g, Cin/g*kh*kw].</summary>
    public static Tensor Reference(Tensor x, Tensor w, ConvCase c)
    {
        long batch = x.shape[0], cin = x.shape[1], cout = w.shape[0];
        var outs = new List<Tensor>();
        for (int g = 0; g < c.Groups; g++)
        {
            var xg = x.narrow(1, g * (cin / c.Groups), cin / c.Groups);
            var wg = w.narrow(0, g * (cout / c.Groups), cout / c.Groups);
            var cols = nn.functional.unfold(xg, (c.KernelH, c.KernelW), (c.DilationH, c.DilationW), (c.PadH, c.PadW), (c.StrideH, c.StrideW));
            outs.Add(wg.reshape(cout / c.Groups, -1).matmul(cols).reshape(batch, cout / c.Groups, c.OutH, c.OutW));
        }
        return cat(outs, 1);
    }

    private static (Tensor, Tensor) Gradients(Tensor y, Tensor probe, Tensor x, Tensor w)
    {
        var g = autograd.grad([(y * probe).sum()], [x, w]);
        return (g[0], g[1]);
    }

    private static double RelativeError(Tensor actual, Tensor reference)
    {
        var a = actual.detach().to(float64);
        var r = reference.detach();
        double scale = Math.Max(1.0, r.abs().max().item<double>());
        return (a - r).abs().max().item<double>() / scale;
    }
}
