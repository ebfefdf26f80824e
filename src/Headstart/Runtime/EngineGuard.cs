namespace Headstart.Runtime;

/// <summary>What <c>HEADSTART_ENGINE_GUARD</c> asks of the guard.</summary>
public enum GuardMode
{
    /// <summary>Default: use the cached verdict, or run the check once; reroute convolutions when it fails.</summary>
    Auto,
    /// <summary>Ignore the cached verdict and check again (what <c>headstart doctor --recheck</c> does).</summary>
    Recheck,
    /// <summary>Reroute convolutions whatever the verdict (benchmarks, or a defect the check does not catch).</summary>
    Force,
    /// <summary>No check, no reroute: libtorch as it is, wrong numbers included.</summary>
    Off,
}

/// <summary>The convolution engine in force in this process, as the guard left it.</summary>
public sealed record EngineStatus
{
    /// <summary>The name of the one workaround: convolutions on libtorch's own kernels instead of oneDNN.</summary>
    public const string NativeConvolutions = "native-convolutions";

    public required GuardMode Mode { get; init; }
    /// <summary>Null when the guard is off.</summary>
    public ConvVerdict? Verdict { get; init; }
    /// <summary>"check" (run in this process), "cache" (a verdict cached for this fingerprint) or "off".</summary>
    public required string Source { get; init; }
    /// <summary><see cref="NativeConvolutions"/> when convolutions were rerouted, else null.</summary>
    public string? Workaround { get; init; }
    public int Cases { get; init; }
    public IReadOnlyList<ConvFailure> Failures { get; init; } = [];
    public DateTimeOffset? CheckedAt { get; init; }
    public string? Key { get; init; }
    public string? VerdictFile { get; init; }

    /// <summary>One line for people.</summary>
    public string Summary => Verdict switch
    {
        null => "not checked (HEADSTART_ENGINE_GUARD=off): libtorch's convolutions run as they are",
        ConvVerdict.Sound when Workaround is null => $"sound: {Cases} convolution cases exact ({Source})",
        ConvVerdict.Sound => $"sound ({Cases} cases, {Source}); convolutions rerouted anyway (HEADSTART_ENGINE_GUARD=force)",
        _ => $"defective: {Failures.Count} of {Cases} oneDNN convolution cases wrong (e.g. {Worst}); " +
             "convolutions run on libtorch's own kernels instead, which the check proves exact",
    };

    private string Worst => Failures.Count == 0 ? "none" :
        Failures.OrderByDescending(f => double.IsNaN(f.ForwardError) ? double.MaxValue : f.ForwardError).First() is var f
            ? $"{f.Case}: relative error {f.ForwardError:G2}" : "";

    /// <summary>The compact form that the CLI's --json output carries as "engine".</summary>
    public object ToJson() => new
    {
        verdict = Verdict?.ToString().ToLowerInvariant() ?? "not_checked",
        workaround = Workaround,
        source = Source,
        cases = Cases,
        failed_cases = Failures.Count,
        checked_at = CheckedAt,
        key = Key,
    };
}

/// <summary>
/// Guards against silently wrong convolutions. libtorch 2.10's oneDNN computes some float32 conv2d shapes wrongly
/// on some CPUs (seen on AVX-512 machines: kernels 3-7 with input channels over 16 and not a multiple of 16, off by
/// 10-20% or NaN). Before the first model is built, <see cref="Ensure"/> runs <see cref="ConvSelfCheck"/> (or reuses
/// the verdict cached for this CPU and libtorch) and, when it fails, turns oneDNN off for convolutions — PyTorch's
/// <c>torch.backends.mkldnn.enabled = False</c> — then proves the rerouted engine exact with the same check. Capping
/// oneDNN's ISA (DNNL_MAX_CPU_ISA=AVX2) is not enough: its AVX2 kernels still miss 17-input-channel cases.
/// </summary>
public static class EngineGuard
{
    /// <summary>The environment variable that sets <see cref="GuardMode"/>: auto (default), recheck, force, off.</summary>
    public const string ModeVariable = "HEADSTART_ENGINE_GUARD";

    private static readonly object Gate = new();
    private static EngineStatus? current;

    /// <summary>Where the guard's one notice goes (stderr by default).</summary>
    public static Action<string> Notice { get; set; } = line => Console.Error.WriteLine(line);

    /// <summary>Whether libtorch may use oneDNN for convolutions right now (null where the switch is out of reach).</summary>
    public static bool? OneDnnConvolutions => LibTorchContext.MkldnnEnabled;

    /// <summary>The status once <see cref="Ensure"/> has run in this process; null before.</summary>
    public static EngineStatus? Current => current;

    /// <summary>Checks (once per process) and routes around a defective engine. Call before any model runs;
    /// ModelSpec.Create does.</summary>
    public static EngineStatus Ensure(GuardMode? mode = null)
    {
        if (current is not null) return current;
        lock (Gate)
            return current ??= Apply(mode ?? ModeFromEnvironment(), LibTorchEngine.Instance, VerdictStore.Default, Notice);
    }

    /// <summary>Reads <see cref="ModeVariable"/>.</summary>
    public static GuardMode ModeFromEnvironment() => ParseMode(Environment.GetEnvironmentVariable(ModeVariable));

    /// <summary>auto (also when empty), recheck, force or off, in any case; anything else is an error, not a silent default.</summary>
    public static GuardMode ParseMode(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return GuardMode.Auto;
        return Enum.TryParse<GuardMode>(value.Trim(), ignoreCase: true, out var m) && Enum.IsDefined(m) && !char.IsDigit(value.Trim()[0])
            ? m
            : throw new HeadstartException($"{ModeVariable}='{value}' is not one of auto, recheck, force, off");
    }

    /// <summary>The guard's decision, with the engine, cache and notice injected (tests drive it with fakes).</summary>
    internal static EngineStatus Apply(GuardMode mode, IConvEngine engine, VerdictStore store, Action<string> notice)
    {
        if (mode == GuardMode.Off)
        {
            notice($"warning: {ModeVariable}=off: libtorch's convolutions are not checked, and may be silently wrong on this CPU");
            return new EngineStatus { Mode = mode, Source = "off" };
        }
        var fingerprint = engine.Fingerprint();
        var verdict = mode == GuardMode.Recheck ? null : store.TryRead(fingerprint);
        string source = verdict is null ? "check" : "cache";
        bool changed = verdict is null;
        verdict ??= EngineVerdict.From(fingerprint, engine.Check());

        string? workaround = null;
        if (verdict.Verdict == ConvVerdict.Defective || mode == GuardMode.Force)
        {
            if (!engine.CanReroute)
                throw new HeadstartException(
                    $"libtorch's convolutions are wrong on this CPU ({verdict.Failures.Count} of {verdict.Cases} self-check cases) and " +
                    $"this platform offers no way to reroute them. Set {ModeVariable}=off to run anyway, knowing that results may be wrong.");
            engine.UseNativeConvolutions(true);
            workaround = EngineStatus.NativeConvolutions;
            if (verdict.WorkaroundExact is null || mode == GuardMode.Force)
            {
                bool exact = engine.Check().Exact;
                if (verdict.Verdict == ConvVerdict.Defective) { verdict = verdict with { WorkaroundExact = exact }; changed = true; }
                if (!exact)
                {
                    store.TryWrite(verdict);
                    throw new HeadstartException(
                        "libtorch's convolutions are wrong on this CPU, and still wrong with oneDNN turned off. " +
                        $"Set {ModeVariable}=off to run anyway, knowing that results may be wrong; 'headstart doctor' shows the cases.");
                }
            }
            else if (verdict.WorkaroundExact == false)
                throw new HeadstartException(
                    $"a cached self-check says libtorch's convolutions are wrong on this CPU even rerouted ({store.PathOf(fingerprint.Key)}). " +
                    $"Run 'headstart doctor --recheck', or set {ModeVariable}=off to run anyway.");
        }
        if (changed) store.TryWrite(verdict);

        var status = new EngineStatus
        {
            Mode = mode, Verdict = verdict.Verdict, Source = source, Workaround = workaround, Cases = verdict.Cases,
            Failures = verdict.Failures, CheckedAt = verdict.CheckedAt, Key = fingerprint.Key, VerdictFile = store.PathOf(fingerprint.Key),
        };
        if (workaround is not null) notice($"note: engine self-check {status.Summary}. See 'headstart doctor'.");
        return status;
    }
}

/// <summary>The parts of the engine the guard touches: fingerprint, check and the convolution switch.</summary>
internal interface IConvEngine
{
    EngineFingerprint Fingerprint();
    ConvCheckReport Check();
    bool CanReroute { get; }
    void UseNativeConvolutions(bool native);
}

/// <summary>The real engine: libtorch in this process.</summary>
internal sealed class LibTorchEngine : IConvEngine
{
    public static readonly LibTorchEngine Instance = new();
    public EngineFingerprint Fingerprint() => EngineFingerprint.Current();
    public ConvCheckReport Check() => ConvSelfCheck.Run();
    public bool CanReroute => LibTorchContext.Available;
    public void UseNativeConvolutions(bool native) => LibTorchContext.UseNativeConvolutions(native);
}
