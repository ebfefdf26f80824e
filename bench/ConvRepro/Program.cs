// ConvRepro: does this machine's libtorch compute fp32 conv2d correctly?
// Each case runs torch.nn.functional.conv2d in float32 and compares it, forward and gradients, with the same
// convolution computed another way: unfold (im2col) + matmul in float64. No Headstart code is involved.
//
//   dotnet run -c Release --project bench/ConvRepro                 the engine as it is
//   DNNL_MAX_CPU_ISA=AVX2 dotnet run -c Release --project bench/ConvRepro
//   dotnet run -c Release --project bench/ConvRepro -- --no-mkldnn  at::globalContext().setUserEnabledMkldnn(false)
//
// Exit code: 0 when every case matches, 1 when any is wrong.
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

bool noMkldnn = args.Contains("--no-mkldnn");
torch.InitializeDeviceType(DeviceType.CPU);
if (noMkldnn) Native.DisableMkldnn();

Console.WriteLine($"TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch {torch.__version__}, {torch.get_num_threads()} threads");
Console.WriteLine($"CPU: {CpuModel()}; AVX-512 flags: {Avx512Flags()}");
Console.WriteLine($"DNNL_MAX_CPU_ISA={Environment.GetEnvironmentVariable("DNNL_MAX_CPU_ISA") ?? "(unset)"}, mkldnn {(noMkldnn ? "disabled" : "enabled")}");
Console.WriteLine();
Console.WriteLine($"{"case",-44} {"fwd max|Δ|",11} {"grad max|Δ|",12}  verdict");

var cases = new List<(string Name, long Batch, long Cin, long Cout, long K, long Groups, long Stride)>();
foreach (long k in new long[] { 1, 3, 5, 7 })
    foreach (long batch in new long[] { 1, 2 })
        foreach (long cin in new long[] { 8, 16, 17, 24, 32, 40, 48, 64, 72 })
            cases.Add(($"conv {k}x{k} batch {batch} in {cin} out 16", batch, cin, 16, k, 1, 1));
foreach (long cin in new long[] { 24, 32, 40 })
    cases.Add(($"conv 5x5 stride 2 batch 2 in {cin} out 16", 2, cin, 16, 5, 1, 2));
cases.Add(("grouped 3x3 batch 2 in 48 out 48 groups 2", 2, 48, 48, 3, 2, 1));
cases.Add(("grouped 3x3 batch 2 in 96 out 96 groups 4", 2, 96, 96, 3, 4, 1));
cases.Add(("depthwise 3x3 batch 2 in 40 groups 40", 2, 40, 40, 3, 40, 1));
cases.Add(("depthwise 5x5 batch 2 in 72 groups 72", 2, 72, 72, 5, 72, 1));

int wrong = 0;
foreach (var c in cases)
{
    var (fwd, grad) = Compare(c.Batch, c.Cin, c.Cout, c.K, c.Groups, c.Stride);
    bool ok = fwd <= 1e-4 && grad <= 1e-4;
    if (!ok) wrong++;
    Console.WriteLine($"{c.Name,-44} {fwd,11:E2} {grad,12:E2}  {(ok ? "ok" : "WRONG")}");
}
Console.WriteLine();
Console.WriteLine(wrong == 0
    ? $"all {cases.Count} cases match the unfold reference (relative error <= 1e-4)"
    : $"{wrong} of {cases.Count} cases are WRONG: this engine's fp32 conv2d is defective on this CPU");
return wrong == 0 ? 0 : 1;

// Relative max error of conv2d against unfold + matmul in float64: forward, and the gradients of a fixed random
// weighting of the output with respect to input and weight. Input [batch, cin, 8, 8], weight [cout, cin/groups, k, k].
static (double Fwd, double Grad) Compare(long batch, long cin, long cout, long k, long groups, long stride)
{
    using var scope = torch.NewDisposeScope();
    var gen = new torch.Generator(1234);
    var x = torch.randn([batch, cin, 8, 8], generator: gen).requires_grad_(true);
    var w = torch.randn([cout, cin / groups, k, k], generator: gen).div_(Math.Sqrt(cin / groups * k * k)).requires_grad_(true);
    var y = torch.nn.functional.conv2d(x, w, strides: [stride, stride], padding: [k / 2, k / 2], groups: groups);
    var probe = torch.randn(y.shape, generator: gen);
    var (gx, gw) = Grads(y, probe, x, w);

    var x64 = x.detach().to(float64).requires_grad_(true);
    var w64 = w.detach().to(float64).requires_grad_(true);
    var r = Reference(x64, w64, k, groups, stride);
    var (rx, rw) = Grads(r, probe.to(float64), x64, w64);

    double fwd = RelMax(y, r);
    double grad = Math.Max(RelMax(gx, rx), RelMax(gw, rw));
    return (fwd, grad);
}

static (Tensor, Tensor) Grads(Tensor y, Tensor probe, Tensor x, Tensor w)
{
    var g = torch.autograd.grad([(y * probe).sum()], [x, w]);
    return (g[0], g[1]);
}

// conv2d as im2col + matmul, per group: [B, Cin*k*k, L] columns times [Cout, Cin*k*k] weights.
static Tensor Reference(Tensor x, Tensor w, long k, long groups, long stride)
{
    long batch = x.shape[0], cin = x.shape[1], cout = w.shape[0];
    long h = (x.shape[2] + 2 * (k / 2) - k) / stride + 1, wd = (x.shape[3] + 2 * (k / 2) - k) / stride + 1;
    var outs = new List<Tensor>();
    for (long g = 0; g < groups; g++)
    {
        var xg = x.narrow(1, g * (cin / groups), cin / groups);
        var wg = w.narrow(0, g * (cout / groups), cout / groups);
        var cols = torch.nn.functional.unfold(xg, k, padding: k / 2, stride: stride);   // [B, cin/g*k*k, h*w]
        var o = wg.reshape(cout / groups, -1).matmul(cols);                          // [B, cout/g, h*w]
        outs.Add(o.reshape(batch, cout / groups, h, wd));
    }
    return torch.cat(outs, 1);
}

static double RelMax(Tensor a, Tensor b)
{
    var a64 = a.detach().to(float64);
    var b64 = b.detach().to(float64);
    double scale = Math.Max(1.0, b64.abs().max().item<double>());
    return (a64 - b64).abs().max().item<double>() / scale;
}

static string CpuModel() => File.Exists("/proc/cpuinfo")
    ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? "unknown"
    : "unknown";

static string Avx512Flags()
{
    if (!File.Exists("/proc/cpuinfo")) return "unknown";
    var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags"))?.Split(':', 2)[1] ?? "";
    var avx = flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(f => f.StartsWith("avx512")).ToList();
    return avx.Count == 0 ? "none" : string.Join(" ", avx);
}

static class Native
{
    // libtorch's C++ API, Itanium ABI (Linux/macOS): at::globalContext() and at::Context::setUserEnabledMkldnn(bool),
    // the switch behind PyTorch's torch.backends.mkldnn.enabled; NNPACK off too, or every convolution on a CPU
    // without NNPACK's kernels prints "Could not initialize NNPACK".
    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    private static extern IntPtr GlobalContext();

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    private static extern void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    public static void DisableMkldnn()
    {
        SetUserEnabledMkldnn(GlobalContext(), false);
        SetUserEnabledNnpack(GlobalContext(), false);
    }
}
