using Headstart.Runtime;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Runtime;

/// <summary>
/// The guard's routing with the check's verdict injected (a fake engine), so that it is tested on every machine,
/// with AVX-512 or without.
/// </summary>
public class EngineGuardTests
{
    private static readonly EngineFingerprint Fp = new("Test CPU", "avx2 avx512f", "Linux X64", "0.107.0.0", "2.10.0", ConvSelfCheck.Version);

    /// <summary>An engine whose checks and single-case measurements answer, in turn, the results it was given.</summary>
    private sealed class FakeEngine(params bool[] results) : IConvEngine
    {
        private int next;
        public bool Rerouted { get; private set; }
        public bool Capped { get; private set; }
        public int ChecksRun { get; private set; }
        public int Measured { get; private set; }
        public bool CanReroute { get; init; } = true;
        /// <summary>Whether DNNL_MAX_CPU_ISA can be set (false: the user set it, or another platform).</summary>
        public bool CanCap { get; init; }
        public EngineFingerprint Print { get; init; } = Fp;
        public EngineFingerprint Fingerprint() => Print;

        public ConvCheckReport Check()
        {
            ChecksRun++;
            bool exact = results[next++];
            return new ConvCheckReport([new ConvCaseResult(ConvSelfCheck.Cases[0], 1e-7, 1e-7),
                new ConvCaseResult(Bad, exact ? 2e-7 : 0.23, 3e-7)], TimeSpan.FromMilliseconds(5));
        }

        public ConvCaseResult Measure(ConvCase c)
        {
            Measured++;
            Assert.Equal(Bad, c);                                // the sentinel is a case the full ISA got wrong
            return new ConvCaseResult(c, results[next++] ? 2e-7 : 0.23, 3e-7);
        }

        public void UseNativeConvolutions(bool native) => Rerouted = native;
        public bool TryCapIsa(string isa) => Capped = CanCap && isa == "SSE41";
    }

    private static readonly ConvCase Bad = ConvCase.Square(2, 24, 16, 3);

    private static (EngineStatus Status, List<string> Notices) Run(GuardMode mode, FakeEngine engine, VerdictStore store)
    {
        var notices = new List<string>();
        return (EngineGuard.Apply(mode, engine, store, notices.Add), notices);
    }

    [Fact]
    public void ASoundEngineIsLeftAloneAndItsVerdictCached()
    {
        using var dir = new TempDir();
        var store = new VerdictStore(dir.Path);
        var engine = new FakeEngine(true);
        var (status, notices) = Run(GuardMode.Auto, engine, store);
        Assert.Equal(ConvVerdict.Sound, status.Verdict);
        Assert.Null(status.Workaround);
        Assert.False(engine.Rerouted);
        Assert.Empty(notices);
        Assert.Equal("check", status.Source);
        Assert.Equal(ConvVerdict.Sound, store.TryRead(Fp)!.Verdict);
    }

    [Fact]
    public void ADefectiveEngineIsReroutedProvedExactAndSaidOnce()
    {
        using var dir = new TempDir();
        var store = new VerdictStore(dir.Path);
        var engine = new FakeEngine(false, true);
        var (status, notices) = Run(GuardMode.Auto, engine, store);
        Assert.Equal(ConvVerdict.Defective, status.Verdict);
        Assert.Equal(EngineStatus.NativeConvolutions, status.Workaround);
        Assert.True(engine.Rerouted);
        Assert.Equal(2, engine.ChecksRun);                       // the verdict, then the proof of the workaround
        var notice = Assert.Single(notices);
        Assert.Contains("conv 3x3 batch 2 in 24 out 16", notice);
        var cached = store.TryRead(Fp)!;
        Assert.Equal(ConvVerdict.Defective, cached.Verdict);
        Assert.True(cached.WorkaroundExact);
        Assert.Single(cached.Failures);
    }

    [Fact]
    public void ACachedVerdictCostsNoCheck()
    {
        using var dir = new TempDir();
        var store = new VerdictStore(dir.Path);
        Run(GuardMode.Auto, new FakeEngine(false, true), store);
        var engine = new FakeEngine();                           // any check would throw: none is expected
        var (status, _) = Run(GuardMode.Auto, engine, store);
        Assert.Equal("cache", status.Source);
        Assert.Equal(ConvVerdict.Defective, status.Verdict);
        Assert.True(engine.Rerouted);
        Assert.Equal(0, engine.ChecksRun);

        var sound = new VerdictStore(dir.Combine("sound"));
        Run(GuardMode.Auto, new FakeEngine(true), sound);
        var again = new FakeEngine();
        Assert.Equal("cache", Run(GuardMode.Auto, again, sound).Status.Source);
        Assert.False(again.Rerouted);
    }

    [Fact]
    public void ALaterProcessCapsOneDnnAtSse41ProvesItOnceThenWithOneCase()
    {
        using var dir = new TempDir();
        var store = new VerdictStore(dir.Path);
        var first = new FakeEngine(false, true) { CanCap = true };
        Assert.Equal(EngineStatus.NativeConvolutions, Run(GuardMode.Auto, first, store).Status.Workaround);
        Assert.False(first.Capped);                              // oneDNN already ran at full ISA in the checking process

        var second = new FakeEngine(true) { CanCap = true };
        var (status, notices) = Run(GuardMode.Auto, second, store);
        Assert.Equal((EngineStatus.IsaCap, true, false, 1), (status.Workaround, second.Capped, second.Rerouted, second.ChecksRun));
        Assert.Contains("SSE41", Assert.Single(notices));
        Assert.True(store.TryRead(Fp)!.IsaCapExact);

        var third = new FakeEngine(true) { CanCap = true };
        Assert.Equal(EngineStatus.IsaCap, Run(GuardMode.Auto, third, store).Status.Workaround);
        Assert.Equal((0, 1, false), (third.ChecksRun, third.Measured, third.Rerouted));
    }

    [Fact]
    public void ACapThatFailsFallsBackToNativeConvolutionsWithoutBeingRecordedAsBad()
    {
        using var dir = new TempDir();
        var store = new VerdictStore(dir.Path);
        Run(GuardMode.Auto, new FakeEngine(false, true), store);
        var late = new FakeEngine(false) { CanCap = true };     // e.g. oneDNN had already run in this process
        Assert.Equal(EngineStatus.NativeConvolutions, Run(GuardMode.Auto, late, store).Status.Workaround);
        Assert.True(late.Rerouted);
        Assert.Null(store.TryRead(Fp)!.IsaCapExact);

        var userIsa = new FakeEngine() { CanCap = false };      // DNNL_MAX_CPU_ISA set by the user: never overridden
        Assert.Equal(EngineStatus.NativeConvolutions, Run(GuardMode.Auto, userIsa, store).Status.Workaround);
        Assert.Equal((false, 0), (userIsa.Capped, userIsa.ChecksRun));
    }

    [Fact]
    public void AnotherCpuOrLibTorchIsCheckedAfresh()
    {
        using var dir = new TempDir();
        var store = new VerdictStore(dir.Path);
        Run(GuardMode.Auto, new FakeEngine(false, true), store);
        foreach (var other in new[] { Fp with { LibTorchVersion = "2.11.0" }, Fp with { CpuFlags = "avx2" }, Fp with { Cpu = "Other" },
                     Fp with { OneDnnMaxIsa = "AVX2" } })
        {
            Assert.NotEqual(Fp.Key, other.Key);
            var engine = new FakeEngine(true) { Print = other };
            var (status, _) = Run(GuardMode.Auto, engine, store);
            Assert.Equal(("check", ConvVerdict.Sound), (status.Source, status.Verdict));
            Assert.False(engine.Rerouted);
        }
    }

    [Fact]
    public void ACorruptOrForeignCacheFileIsCheckedAgainAndReplaced()
    {
        using var dir = new TempDir();
        var store = new VerdictStore(dir.Path);
        File.WriteAllText(store.PathOf(Fp.Key), "{ not json");
        Assert.Equal("check", Run(GuardMode.Auto, new FakeEngine(true), store).Status.Source);
        Assert.Equal(ConvVerdict.Sound, store.TryRead(Fp)!.Verdict);

        // A file under this key that describes another fingerprint is not trusted.
        var foreign = new VerdictStore(dir.Combine("foreign"));
        Run(GuardMode.Auto, new FakeEngine(false, true) { Print = Fp with { Cpu = "Other" } }, foreign);
        File.Copy(foreign.PathOf((Fp with { Cpu = "Other" }).Key), store.PathOf(Fp.Key), overwrite: true);
        Assert.Null(store.TryRead(Fp));
        var engine = new FakeEngine(true);
        Assert.Equal(("check", ConvVerdict.Sound), (Run(GuardMode.Auto, engine, store).Status is var s ? (s.Source, s.Verdict) : default));
        Assert.False(engine.Rerouted);
    }

    [Fact]
    public void RecheckIgnoresTheCacheAndForceReroutesASoundEngine()
    {
        using var dir = new TempDir();
        var store = new VerdictStore(dir.Path);
        Run(GuardMode.Auto, new FakeEngine(false, true), store);
        var recheck = new FakeEngine(true);
        var (status, _) = Run(GuardMode.Recheck, recheck, store);
        Assert.Equal(("check", ConvVerdict.Sound), (status.Source, status.Verdict));
        Assert.False(recheck.Rerouted);
        Assert.Equal(ConvVerdict.Sound, store.TryRead(Fp)!.Verdict);

        var force = new FakeEngine(true);
        var (forced, notices) = Run(GuardMode.Force, force, store);
        Assert.True(force.Rerouted);
        Assert.Equal(EngineStatus.NativeConvolutions, forced.Workaround);
        Assert.Equal(ConvVerdict.Sound, forced.Verdict);
        Assert.Single(notices);
        Assert.Equal(1, force.ChecksRun);                        // cached verdict; the rerouted engine still proved
    }

    [Fact]
    public void OffRunsNothingAndWarns()
    {
        using var dir = new TempDir();
        var engine = new FakeEngine();
        var (status, notices) = Run(GuardMode.Off, engine, new VerdictStore(dir.Path));
        Assert.Null(status.Verdict);
        Assert.False(engine.Rerouted);
        Assert.Contains("not checked", status.Summary);
        Assert.Contains("HEADSTART_ENGINE_GUARD=off", Assert.Single(notices));
    }

    [Fact]
    public void AWorkaroundThatIsStillWrongOrUnavailableRefusesToRun()
    {
        using var dir = new TempDir();
        var store = new VerdictStore(dir.Path);
        var ex = Assert.Throws<HeadstartException>(() => Run(GuardMode.Auto, new FakeEngine(false, false), store));
        Assert.Contains("still wrong", ex.Message);
        Assert.False(store.TryRead(Fp)!.WorkaroundExact);
        // The cached "still wrong" refuses at once, without running the check.
        Assert.Contains("doctor --recheck", Assert.Throws<HeadstartException>(() => Run(GuardMode.Auto, new FakeEngine(), store)).Message);

        using var other = new TempDir();
        var noSwitch = new FakeEngine(false) { CanReroute = false };
        Assert.Contains("HEADSTART_ENGINE_GUARD=off",
            Assert.Throws<HeadstartException>(() => Run(GuardMode.Auto, noSwitch, new VerdictStore(other.Path))).Message);
    }

    [Fact]
    public void AnUnwritableCacheOnlyCostsTheCheckAgain()
    {
        using var dir = new TempDir();
        string file = dir.Combine("not-a-dir");
        File.WriteAllText(file, "");
        var store = new VerdictStore(Path.Combine(file, "engine"));   // a directory under a file cannot be created
        var engine = new FakeEngine(false, true);
        var (status, _) = Run(GuardMode.Auto, engine, store);
        Assert.True(engine.Rerouted);
        Assert.Equal(ConvVerdict.Defective, status.Verdict);
    }

    [Theory]
    [InlineData(null, GuardMode.Auto)]
    [InlineData("", GuardMode.Auto)]
    [InlineData("off", GuardMode.Off)]
    [InlineData("FORCE", GuardMode.Force)]
    [InlineData(" recheck ", GuardMode.Recheck)]
    public void TheModeIsParsedStrictly(string? value, GuardMode expected)
    {
        Assert.Equal(expected, EngineGuard.ParseMode(value));
        foreach (var bad in new[] { "sometimes", "1", "no" })
            Assert.Contains("auto, recheck, force, off", Assert.Throws<HeadstartException>(() => EngineGuard.ParseMode(bad)).Message);
    }

    [Fact]
    public void ThisProcessRunsOnAnEngineThatPassesTheCheck()
    {
        // Whatever this CPU is: after Ensure, the check passes in the configuration in force, and a defective verdict
        // always comes with the workaround.
        var status = EngineGuard.Ensure();
        Assert.NotNull(status.Verdict);
        if (status.Verdict == ConvVerdict.Defective) Assert.Contains(status.Workaround, new[] { EngineStatus.NativeConvolutions, EngineStatus.IsaCap });
        var now = ConvSelfCheck.Run();
        Assert.True(now.Exact, string.Join("; ", now.Failures.Select(f => $"{f.Case}: {f.ForwardError:G3}/{f.GradientError:G3}")));
    }
}
