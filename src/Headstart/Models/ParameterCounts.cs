using System.Collections.Concurrent;
using System.Text.Json;
using Headstart.IO;

namespace Headstart.Models;

/// <summary>
/// Parameter counts computed from the models themselves: each is built at 1000 classes (weights random) and its
/// parameters summed, so no table can drift from the code. Building the whole zoo takes tens of seconds, so counts are
/// kept in the process and on disk at <c>&lt;cache root&gt;/models/parameter-counts.json</c>, keyed by the build of
/// Headstart.dll (its module version id): another build recomputes them; a missing, stale or unreadable file costs only
/// the time.
/// </summary>
public static class ParameterCounts
{
    private static readonly ConcurrentDictionary<string, long> counts = new(StringComparer.Ordinal);
    /// <summary>The registry's counts, written to disk (a brought ONNX backbone's depend on a user's file).</summary>
    private static readonly ConcurrentDictionary<string, long> persisted = new(StringComparer.Ordinal);
    private static readonly object fileLock = new();
    private static bool loaded;

    private static string Build => typeof(ParameterCounts).Module.ModuleVersionId.ToString("N");

    /// <summary>The cache file (under <see cref="CacheDirs.Root"/> as it is now).</summary>
    public static string FilePath => Path.Combine(CacheDirs.Root, "models", "parameter-counts.json");

    /// <summary>True when <see cref="Of"/> answers without building the model.</summary>
    public static bool IsKnown(ModelSpec spec)
    {
        LoadOnce();
        return counts.ContainsKey(spec.Name);
    }

    /// <summary>Parameters of <paramref name="spec"/>'s model at 1000 classes; builds it the first time on this build.</summary>
    public static long Of(ModelSpec spec)
    {
        LoadOnce();
        if (counts.TryGetValue(spec.Name, out long n)) return n;
        using (var model = spec.Create())
            n = model.parameters().Sum(p => p.numel());
        counts[spec.Name] = n;
        if (spec.BackboneTrainable)
        {
            persisted[spec.Name] = n;
            Save();
        }
        return n;
    }

    private sealed record CacheFile(string Build, Dictionary<string, long> Counts);

    private static void LoadOnce()
    {
        lock (fileLock)
        {
            if (loaded) return;
            loaded = true;
            try
            {
                if (!File.Exists(FilePath)) return;
                var file = JsonSerializer.Deserialize<CacheFile>(File.ReadAllText(FilePath));
                if (file?.Build != Build) return;
                foreach (var (name, count) in file.Counts)
                {
                    counts.TryAdd(name, count);
                    persisted.TryAdd(name, count);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
            {
                // An unreadable cache is recomputed, never an error.
            }
        }
    }

    private static void Save()
    {
        lock (fileLock)
        {
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
                var known = persisted.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary();
                AtomicFiles.WriteAllText(FilePath, JsonSerializer.Serialize(new CacheFile(Build, known)));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A read-only cache only costs the time next run.
            }
        }
    }
}
