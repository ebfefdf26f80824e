using System.Text.Json;
using System.Text.Json.Serialization;
using Headstart.IO;

namespace Headstart.Runtime;

/// <summary>Whether libtorch's convolutions passed the self-check on this machine.</summary>
public enum ConvVerdict { Sound, Defective }

/// <summary>One case the check found wrong, with its relative errors (NaN when the output held NaN).</summary>
public sealed record ConvFailure(string Case, double ForwardError, double GradientError);

/// <summary>The self-check's verdict for one <see cref="EngineFingerprint"/>, as cached on disk.</summary>
public sealed record EngineVerdict
{
    public required EngineFingerprint Fingerprint { get; init; }
    public required ConvVerdict Verdict { get; init; }
    /// <summary>How many cases the check ran.</summary>
    public required int Cases { get; init; }
    public IReadOnlyList<ConvFailure> Failures { get; init; } = [];
    public required DateTimeOffset CheckedAt { get; init; }
    public double CheckMilliseconds { get; init; }
    /// <summary>For a defective engine: whether the same check passed with convolutions rerouted (null: not run).</summary>
    public bool? WorkaroundExact { get; init; }
    /// <summary>For a defective engine: true once a later process proved oneDNN capped at SSE4.1 exact (null: not yet).</summary>
    public bool? IsaCapExact { get; init; }

    public static EngineVerdict From(EngineFingerprint fingerprint, ConvCheckReport report) => new()
    {
        Fingerprint = fingerprint,
        Verdict = report.Exact ? ConvVerdict.Sound : ConvVerdict.Defective,
        Cases = report.Results.Count,
        Failures = report.Failures.Select(f => new ConvFailure(f.Case.ToString(), f.ForwardError, f.GradientError)).ToList(),
        CheckedAt = DateTimeOffset.UtcNow,
        CheckMilliseconds = report.Elapsed.TotalMilliseconds,
    };
}

/// <summary>
/// Verdicts cached per machine, one JSON file per fingerprint key under <c>CacheDirs.Root/engine</c>. A file that is
/// unreadable, corrupt or written for another fingerprint counts as absent; a cache that cannot be written only costs
/// the check again next time.
/// </summary>
public sealed class VerdictStore(string dir)
{
    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public string Directory { get; } = dir;

    public static VerdictStore Default => new(Path.Combine(CacheDirs.Root, "engine"));

    public string PathOf(string key) => Path.Combine(Directory, $"{key}.json");

    public EngineVerdict? TryRead(EngineFingerprint fingerprint)
    {
        try
        {
            var v = JsonSerializer.Deserialize<EngineVerdict>(File.ReadAllText(PathOf(fingerprint.Key)), Json);
            return v is not null && v.Fingerprint == fingerprint ? v : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>Writes atomically; returns false when the cache directory cannot be written.</summary>
    public bool TryWrite(EngineVerdict verdict)
    {
        try
        {
            AtomicFiles.WriteAllText(PathOf(verdict.Fingerprint.Key), JsonSerializer.Serialize(verdict, Json));
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
