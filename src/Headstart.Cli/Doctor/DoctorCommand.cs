using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Headstart.Cli.Common;
using Headstart.Runtime;
using Headstart.Weights;
using Spectre.Console;

namespace Headstart.Cli.Doctor;

/// <summary>headstart doctor: is this machine ready? Every failed check names the command that fixes it.</summary>
public static partial class DoctorCommand
{
    private sealed record Check(string Name, bool Ok, string Detail, string? Fix = null);

    public const string RequiredGlibcxx = "GLIBCXX_3.4.32";

    private static readonly Option<bool> Recheck = new("--recheck")
    {
        Description = "Run the convolution self-check again instead of reusing this machine's cached verdict",
    };

    public static Command Create()
    {
        var cmd = new Command("doctor", "Check the runtime: .NET, libtorch, convolution self-check, native libraries, GLIBCXX, CPU, embedded weights, demo data")
        {
            Recheck,
        };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            var (engineCheck, engine) = CheckEngine(parse.GetValue(Recheck));
            var checks = new List<Check>
            {
                new(".NET", true, $"{RuntimeInformation.FrameworkDescription} on {RuntimeInformation.OSDescription} ({RuntimeInformation.ProcessArchitecture})"),
                CheckGlibcxx(),
                CheckTorch(),
                engineCheck,
                CheckNative("SkiaSharp (image decoding)", () => { using var b = new SkiaSharp.SKBitmap(1, 1); return $"SkiaSharp {typeof(SkiaSharp.SKBitmap).Assembly.GetName().Version}"; }),
                CheckNative("ONNX Runtime", () => $"Microsoft.ML.OnnxRuntime {typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version}, providers: {string.Join(",", Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetAvailableProviders())}"),
                new("CPU", true, CpuSummary()),
                CheckEmbeddedWeights(),
                CheckDemoPhotos(),
                CheckDemoData(),
            };
            var table = new Table().AddColumns("check", "status", "detail");
            foreach (var c in checks)
                table.AddRow(Markup.Escape(c.Name), c.Ok ? "[green]ok[/]" : "[red]FAIL[/]",
                    Markup.Escape(c.Detail) + (c.Fix is null || c.Ok ? "" : $"\n[yellow]fix:[/] {Markup.Escape(c.Fix)}"));
            output.Console.Write(table);
            bool allOk = checks.All(c => c.Ok);
            output.Line(allOk ? "[green]all checks passed[/]" : "[red]some checks failed[/]: run the fix commands above");
            return (allOk ? Shell.Ok : Shell.RuntimeError, new
            {
                ok = allOk,
                checks = checks.Select(c => new { name = c.Name, ok = c.Ok, detail = c.Detail, fix = c.Fix }),
                engine,
            });
        }));
        return cmd;
    }

    private static Check CheckGlibcxx()
    {
        const string lib = "/lib/x86_64-linux-gnu/libstdc++.so.6";
        if (!OperatingSystem.IsLinux()) return new("GLIBCXX", true, "not Linux: not applicable");
        if (!File.Exists(lib)) return new("GLIBCXX", true, $"{lib} not found (non-Debian layout); the libtorch check below is decisive");
        var versions = GlibcxxRegex().Matches(File.ReadAllText(lib, System.Text.Encoding.Latin1))
            .Select(m => Version.Parse(m.Groups[1].Value)).Distinct().ToList();
        var max = versions.Count == 0 ? null : versions.Max();
        bool ok = versions.Contains(new Version(3, 4, 32)) || (max is not null && max >= new Version(3, 4, 32));
        return new("GLIBCXX", ok, $"found up to GLIBCXX_{max}; libLibTorchSharp.so (TorchSharp 0.107) needs {RequiredGlibcxx}",
            "sudo ./setup.sh   (installs libstdc++6 from Debian 13 'trixie', pinned at priority 100)");
    }

    private static Check CheckTorch()
    {
        try
        {
            TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU);
            using var t = TorchSharp.torch.ones(2, 2).matmul(TorchSharp.torch.ones(2, 2));
            return new("libtorch (TorchSharp)", t.sum().item<float>() == 8f,
                $"TorchSharp {typeof(TorchSharp.torch).Assembly.GetName().Version}, libtorch {TorchSharp.torch.__version__}, {TorchSharp.torch.get_num_threads()} threads");
        }
        catch (Exception ex)
        {
            return new("libtorch (TorchSharp)", false, $"native libraries failed to load: {ex.GetBaseException().Message}",
                "sudo ./setup.sh   (GLIBCXX fix + restore of TorchSharp-cpu)");
        }
    }

    /// <summary>
    /// The engine guard's verdict (cached or run now) and the workaround in force, then the same self-check run again
    /// on the engine as it is now configured: the row is ok only when that passes.
    /// </summary>
    private static (Check Row, object Json) CheckEngine(bool recheck)
    {
        const string name = "convolution self-check";
        EngineStatus status;
        try { status = EngineGuard.Ensure(recheck ? GuardMode.Recheck : null); }
        catch (HeadstartException ex)
        {
            return (new Check(name, false, ex.Message, "report the CPU and 'dotnet bench/ConvRepro' output upstream; HEADSTART_ENGINE_GUARD=off runs anyway"),
                new { verdict = "defective", workaround = (string?)null, exact_now = false, error = ex.Message });
        }
        catch (Exception ex) when (ex is DllNotFoundException or TypeInitializationException)
        {
            return (new Check(name, false, $"libtorch did not load: {ex.GetBaseException().Message}", "sudo ./setup.sh"),
                new { verdict = "unknown", workaround = (string?)null, exact_now = false, error = ex.GetBaseException().Message });
        }
        var now = ConvSelfCheck.Run();
        string when = status.CheckedAt is { } t ? $"checked {t:yyyy-MM-dd HH:mm} UTC" : "";
        string detail = $"{status.Summary}; {when}{(status.Source == "cache" ? $", cached in {status.VerdictFile}" : "")}\n" +
            $"workaround in force: {status.Workaround ?? "none"}; oneDNN convolutions {(EngineGuard.OneDnnConvolutions is { } on ? on ? "on" : "off" : "unknown")}; " +
            $"re-checked now: {now.Results.Count - now.Failures.Count} of {now.Results.Count} cases exact ({now.Elapsed.TotalMilliseconds:F0} ms)";
        var json = new
        {
            verdict = status.Verdict?.ToString().ToLowerInvariant() ?? "not_checked",
            workaround = status.Workaround,
            source = status.Source,
            mode = status.Mode.ToString().ToLowerInvariant(),
            cases = status.Cases,
            failures = status.Failures.Select(f => new { @case = f.Case, forward_error = f.ForwardError, gradient_error = f.GradientError }),
            checked_at = status.CheckedAt,
            verdict_file = status.VerdictFile,
            exact_now = now.Exact,
        };
        return (new Check(name, now.Exact, detail,
            "a defect the workaround does not cover: HEADSTART_ENGINE_GUARD=force, then 'headstart doctor --recheck'; report 'dotnet run --project bench/ConvRepro' output"), json);
    }

    private static Check CheckNative(string name, Func<string> probe)
    {
        try { return new(name, true, probe()); }
        catch (Exception ex) { return new(name, false, ex.GetBaseException().Message, "./setup.sh   (restores the native assets)"); }
    }

    private static string CpuSummary()
    {
        var (model, flags) = EngineFingerprint.ReadCpu();
        var set = flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var wanted = new[] { "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "amx_tile" }.Where(set.Contains);
        return $"{model}; {Environment.ProcessorCount} logical cores; {string.Join(" ", wanted)}";
    }

    private static Check CheckEmbeddedWeights()
    {
        bool ok = EmbeddedWeights.TryGetPath(EmbeddedWeights.CntkResNet18, out var model)
                  & EmbeddedWeights.TryGetPath(EmbeddedWeights.CntkResNetPreprocess, out _);
        return new("embedded weights (resnet18-cntk)", ok,
            ok ? $"{model} ({new FileInfo(model).Length / 1e6:F1} MB)" : $"missing under {string.Join(" and ", EmbeddedWeights.SearchDirectories)}",
            "./setup.sh   (restores Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 and copies its .onnx files)");
    }

    private static Check CheckDemoPhotos()
    {
        string dir = Demo.DemoCommand.PhotosDir;
        int photos = Directory.Exists(dir) ? Directory.EnumerateFiles(dir, "*.jpg", SearchOption.AllDirectories).Count() : 0;
        return new("demo photos (flowers, CC BY 2.0)", photos > 0, photos > 0 ? $"{photos} photos in {dir}" : $"{dir} not found",
            "reinstall Headstart (the photos ship with the CLI), or rebuild it from a checkout: ./setup.sh");
    }

    private static Check CheckDemoData()
    {
        const string dir = "/usr/share/datasets/fashion-mnist";
        bool ok = File.Exists(Path.Combine(dir, "train-images-idx3-ubyte.gz")) && File.Exists(Path.Combine(dir, "train-labels-idx1-ubyte.gz"));
        return new("demo contrast data (Fashion-MNIST)", ok, ok ? dir : $"{dir} not found",
            "sudo apt-get install dataset-fashion-mnist   (or ./setup.sh)");
    }

    [GeneratedRegex(@"GLIBCXX_(\d+\.\d+(?:\.\d+)?)")]
    private static partial Regex GlibcxxRegex();
}
