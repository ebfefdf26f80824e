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
    /// <summary>The fallback workaround: convolutions on libtorch's own im2col + GEMM kernels instead of oneDNN.</summary>
    public const string NativeConvolutions = "native-convolutions";
    /// <summary>The cheaper workaround: oneDNN capped at SSE4.1 (DNNL_MAX_CPU_ISA), whose kernels the check proved exact.</summary>
    public const string IsaCap = "onednn-isa-sse41";
    internal const string IsaCapValue = "SSE41";

    public required GuardMode Mode { get; init; }
    /// <summary>Null when the guard is off.</summary>
    public ConvVerdict? Verdict { get; init; }
    /// <summary>"check" (run in this process), "cache" (a verdict cached for this fingerprint) or "off".</summary>
    public required string Source { get; init; }
    /// <summary><see cref="IsaCap"/> or <see cref="NativeConvolutions"/> when convolutions were rerouted, else null.</summary>
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
        _ when Workaround == IsaCap => $"defective: {Failures.Count} of {Cases} oneDNN convolution cases wrong at its full instruction set " +
             $"(e.g. {Worst}); oneDNN runs capped at SSE4.1 instead (DNNL_MAX_CPU_ISA=SSE41), which the check proves exact",
        _ => $"defective: {Failures.Count} of {Cases} oneDNN convolution cases wrong (e.g. {Worst}); " +
             "convolutions run on libtorch's own kernels instead, which the check proves exact",
    };

    /// <summary>The failure with the largest forward error (NaN counts as largest).</summary>
    private string Worst => Failures.MaxBy(f => double.IsNaN(f.ForwardError) ? double.MaxValue : f.ForwardError) is { } f
        ? $"{f.Case}: relative error {f.ForwardError:G2}" : "none";

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
/// 10-20% or NaN). Before the first model is built, <see cref="Ensure"/> runs <see cref="ConvSelfCheck"/> once per
/// machine (the verdict is cached per CPU, OS and libtorch) and, on a defective engine, routes around it for the
/// process, proving the route exact with the same check:
/// <list type="bullet">
/// <item>the process that ran the check (oneDNN has already started at its full instruction set): oneDNN off for
/// convolutions, PyTorch's <c>torch.backends.mkldnn.enabled = False</c>;</item>
/// <item>every later process: oneDNN capped at SSE4.1 (DNNL_MAX_CPU_ISA=SSE41, set before oneDNN starts), which is
/// cheaper; proved with the whole check once, then with one case the full ISA got wrong. Where the cap cannot be
/// proved it falls back to the first route.</item>
/// </list>
/// Capping at AVX2 is not enough: oneDNN's AVX2 kernels still miss 17-input-channel cases.
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

    /// <summary>
    /// True when <see cref="Ensure"/> would run the whole self-check in this process: no verdict cached for this
    /// machine yet (and the mode checks). A host that can start processes may run the check in a child first (the
    /// headstart CLI does): the verdict is then cached, and this process, whose oneDNN has not started yet, can take the
    /// cheaper route of later processes. Loads libtorch to read its version; runs no convolution.
    /// </summary>
    public static bool CheckPending()
    {
        if (current is not null) return false;
        var mode = ModeFromEnvironment();
        return mode is GuardMode.Auto or GuardMode.Force && VerdictStore.Default.TryRead(EngineFingerprint.Current()) is null;
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
        if (verdict is null)
        {
            verdict = EngineVerdict.From(fingerprint, engine.Check());   // oneDNN has now run at its full ISA
            store.TryWrite(verdict);
        }
        else if (verdict.Verdict == ConvVerdict.Defective && mode == GuardMode.Auto && TryIsaCap(verdict, engine, store) is { } capped)
            return Finish(mode, source, capped, EngineStatus.IsaCap, fingerprint, store, notice);

        if (verdict.Verdict == ConvVerdict.Sound && mode != GuardMode.Force)
            return Finish(mode, source, verdict, null, fingerprint, store, notice);
        return Finish(mode, source, Native(mode, verdict, engine, store), EngineStatus.NativeConvolutions, fingerprint, store, notice);
    }

    /// <summary>
    /// The cheaper workaround, for a process that starts with a cached "defective": cap oneDNN at SSE4.1
    /// (DNNL_MAX_CPU_ISA, read when oneDNN first runs, so it must come before any convolution). Proved with the whole
    /// check the first time (then cached), afterwards with one case that the full ISA got wrong. Null when the cap is
    /// not proved: the user set DNNL_MAX_CPU_ISA, it failed, or oneDNN had already run in this process.
    /// </summary>
    private static EngineVerdict? TryIsaCap(EngineVerdict verdict, IConvEngine engine, VerdictStore store)
    {
        if (verdict.IsaCapExact == false || !engine.TryCapIsa(EngineStatus.IsaCapValue)) return null;
        var sentinel = verdict.Failures.Select(f => ConvSelfCheck.Cases.FirstOrDefault(c => c.ToString() == f.Case)).OfType<ConvCase>().FirstOrDefault();
        bool exact = verdict.IsaCapExact == true && sentinel is not null ? engine.Measure(sentinel).Exact : engine.Check().Exact;
        if (!exact) return null;   // not recorded as false: it may only have come too late in this process
        if (verdict.IsaCapExact != true)
        {
            verdict = verdict with { IsaCapExact = true };
            store.TryWrite(verdict);
        }
        return verdict;
    }

    /// <summary>Convolutions off oneDNN for the whole process, proved exact once per machine; refuses to run when
    /// that cannot be done.</summary>
    private static EngineVerdict Native(GuardMode mode, EngineVerdict verdict, IConvEngine engine, VerdictStore store)
    {
        if (!engine.CanReroute)
            throw new HeadstartException(
                $"libtorch's convolutions are wrong on this CPU ({verdict.Failures.Count} of {verdict.Cases} self-check cases) and " +
                $"this platform offers no way to reroute them. Set {ModeVariable}=off to run anyway, knowing that results may be wrong.");
        if (verdict.WorkaroundExact == false && mode != GuardMode.Force)
            throw new HeadstartException(
                $"a cached self-check says libtorch's convolutions are wrong on this CPU even rerouted ({store.PathOf(verdict.Fingerprint.Key)}). " +
                $"Run 'headstart doctor --recheck', or set {ModeVariable}=off to run anyway.");
        engine.UseNativeConvolutions(true);
        if (verdict.WorkaroundExact is null || mode == GuardMode.Force)
        {
            bool exact = engine.Check().Exact;
            if (verdict.Verdict == ConvVerdict.Defective && verdict.WorkaroundExact != exact)
            {
                verdict = verdict with { WorkaroundExact = exact };
                store.TryWrite(verdict);
            }
            if (!exact)
                throw new HeadstartException(
                    "libtorch's convolutions are wrong on this CPU, and still wrong with oneDNN turned off. " +
                    $"Set {ModeVariable}=off to run anyway, knowing that results may be wrong; 'headstart doctor' shows the cases.");
        }
        return verdict;
    }

    private static EngineStatus Finish(GuardMode mode, string source, EngineVerdict verdict, string? workaround,
        EngineFingerprint fingerprint, VerdictStore store, Action<string> notice)
    {
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
    ConvCaseResult Measure(ConvCase c);
    bool CanReroute { get; }
    void UseNativeConvolutions(bool native);
    /// <summary>Sets DNNL_MAX_CPU_ISA for this process unless the user set it; false when it was not set.</summary>
    bool TryCapIsa(string isa);
}

/// <summary>The real engine: libtorch in this process.</summary>
internal sealed class LibTorchEngine : IConvEngine
{
    public static readonly LibTorchEngine Instance = new();
    public EngineFingerprint Fingerprint() => EngineFingerprint.Current();
    public ConvCheckReport Check() => ConvSelfCheck.Run();
    public ConvCaseResult Measure(ConvCase c) => ConvSelfCheck.Measure(c);
    public bool TryCapIsa(string isa) => LibTorchContext.TrySetOneDnnMaxIsa(isa);
    public bool CanReroute => LibTorchContext.Available;
    public void UseNativeConvolutions(bool native) => LibTorchContext.UseNativeConvolutions(native);
}
