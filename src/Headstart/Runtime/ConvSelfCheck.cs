using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Headstart.Runtime;

/// <summary>One tiny convolution the self-check runs: input [Batch, InChannels, Size, Size], kernel Kernel x Kernel.</summary>
public sealed record ConvCase(int Batch, int InChannels, int OutChannels, int Kernel, int Groups = 1, int Stride = 1, int Size = 8)
{
    public override string ToString()
    {
        string kind = Groups == 1 ? "conv" : Groups == InChannels && Groups == OutChannels ? "depthwise" : $"grouped/{Groups}";
        string stride = Stride == 1 ? "" : $" stride {Stride}";
        return $"{kind} {Kernel}x{Kernel}{stride} batch {Batch} in {InChannels} out {OutChannels}";
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
        new(2, 16, 16, 3), new(2, 32, 16, 3), new(2, 16, 16, 1), new(2, 24, 16, 1),   // controls
        new(2, 17, 16, 3), new(2, 24, 16, 3), new(2, 40, 16, 3), new(2, 72, 32, 3),
        new(1, 24, 16, 5), new(2, 24, 16, 5), new(1, 40, 16, 7), new(2, 17, 16, 7),
        new(2, 24, 32, 3, Stride: 2), new(2, 40, 16, 5, Stride: 2),
        new(2, 48, 48, 3, Groups: 2), new(2, 96, 96, 3, Groups: 4), new(2, 40, 40, 3, Groups: 40), new(2, 72, 72, 5, Groups: 72),
    ];

    /// <summary>Identifies the case list and tolerance in cached verdicts.</summary>
    public const string Version = "conv-check-1";

    /// <summary>Runs the cases in the engine's current configuration. Costs tens of milliseconds.</summary>
    public static ConvCheckReport Run(IEnumerable<ConvCase>? cases = null)
    {
        var sw = Stopwatch.StartNew();
        var results = (cases ?? Cases).Select(Measure).ToList();
        return new ConvCheckReport(results, sw.Elapsed);
    }

    /// <summary>Measures one case: conv2d in float32 against the float64 unfold reference, forward and gradients.</summary>
    public static ConvCaseResult Measure(ConvCase c)
    {
        using var scope = NewDisposeScope();
        using var grad = torch.enable_grad();
        var gen = new Generator((ulong)(1234 + c.InChannels * 31 + c.Kernel));
        int pad = c.Kernel / 2;
        var x = randn([c.Batch, c.InChannels, c.Size, c.Size], generator: gen).requires_grad_(true);
        var w = randn([c.OutChannels, c.InChannels / c.Groups, c.Kernel, c.Kernel], generator: gen)
            .div_(Math.Sqrt(c.InChannels / c.Groups * c.Kernel * c.Kernel)).requires_grad_(true);
        var y = nn.functional.conv2d(x, w, strides: [c.Stride, c.Stride], padding: [pad, pad], groups: c.Groups);
        // A fixed random weighting of the output, so that every output element reaches the gradients.
        var probe = randn(y.shape, generator: gen);
        var (gx, gw) = Gradients(y, probe, x, w);

        var x64 = x.detach().to(float64).requires_grad_(true);
        var w64 = w.detach().to(float64).requires_grad_(true);
        var r = Reference(x64, w64, c);
        var (rx, rw) = Gradients(r, probe.to(float64), x64, w64);
        return new ConvCaseResult(c, RelativeError(y, r), Math.Max(RelativeError(gx, rx), RelativeError(gw, rw)));
    }

    /// <summary>conv2d as im2col + matmul, group by group: columns [B, Cin/g*k*k, L] times weights [Cout/g, Cin/g*k*k].</summary>
    public static Tensor Reference(Tensor x, Tensor w, ConvCase c)
    {
        long batch = x.shape[0], cin = x.shape[1], cout = w.shape[0];
        long outSize = (c.Size + 2 * (c.Kernel / 2) - c.Kernel) / c.Stride + 1;
        var outs = new List<Tensor>();
        for (int g = 0; g < c.Groups; g++)
        {
            var xg = x.narrow(1, g * (cin / c.Groups), cin / c.Groups);
            var wg = w.narrow(0, g * (cout / c.Groups), cout / c.Groups);
            var cols = nn.functional.unfold(xg, c.Kernel, padding: c.Kernel / 2, stride: c.Stride);   // [B, Cin/g*k*k, L]
            outs.Add(wg.reshape(cout / c.Groups, -1).matmul(cols).reshape(batch, cout / c.Groups, outSize, outSize));
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
