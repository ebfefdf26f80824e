using System.Collections.Concurrent;
using System.Text.Json;
using Headstart.IO;

namespace Headstart.Data;

/// <summary>
/// What a header-level dataset check learned about each file (its SHA-256 and image header), remembered per dataset
/// under the cache directory and keyed by path, size and modification time, so a second <c>train</c> on the same data
/// stats its files instead of reading and hashing every one. A changed file (size or mtime) is read again.
/// </summary>
public sealed class FileCheckMemo
{
    private sealed record Entry(long Size, long MtimeTicks, string Hash, ImageHeader Header);

    private readonly string path;
    private readonly ConcurrentDictionary<string, Entry> entries;
    private int changes;

    private FileCheckMemo(string path, ConcurrentDictionary<string, Entry> entries)
    {
        this.path = path;
        this.entries = entries;
    }

    /// <summary>The memo of dataset <paramref name="datasetRoot"/> under <paramref name="cacheRoot"/>; an unreadable or
    /// corrupt memo file counts as empty (it only saves time).</summary>
    public static FileCheckMemo Open(string cacheRoot, string datasetRoot)
    {
        string id = FileHashes.OfText(Path.GetFullPath(datasetRoot));
        string file = Path.Combine(cacheRoot, "file-checks", id + ".json");
        var entries = new ConcurrentDictionary<string, Entry>(StringComparer.Ordinal);
        try
        {
            if (File.Exists(file))
                foreach (var (k, v) in JsonSerializer.Deserialize<Dictionary<string, Entry>>(File.ReadAllBytes(file)) ?? [])
                    if (v?.Header is not null && v.Hash is { Length: 64 }) entries[k] = v;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException) { entries.Clear(); }
        return new FileCheckMemo(file, entries);
    }

    /// <summary>The remembered hash and header of <paramref name="file"/>, if it has not changed since.</summary>
    public bool TryGet(string file, FileInfo info, out string hash, out ImageHeader header)
    {
        if (entries.TryGetValue(file, out var e) && e.Size == info.Length && e.MtimeTicks == info.LastWriteTimeUtc.Ticks)
        {
            (hash, header) = (e.Hash, e.Header);
            return true;
        }
        (hash, header) = ("", null!);
        return false;
    }

    public void Set(string file, FileInfo info, string hash, ImageHeader header)
    {
        entries[file] = new Entry(info.Length, info.LastWriteTimeUtc.Ticks, hash, header);
        Interlocked.Increment(ref changes);
    }

    /// <summary>Writes the memo back (atomically) when anything was added; files no longer in the dataset are dropped.</summary>
    public void Save(IEnumerable<string> present)
    {
        var keep = present.ToHashSet(StringComparer.Ordinal);
        bool dropped = entries.Keys.Any(k => !keep.Contains(k));
        if (changes == 0 && !dropped) return;
        var live = entries.Where(kv => keep.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        try { AtomicFiles.WriteFile(path, s => JsonSerializer.Serialize(s, live)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* only a speed-up: never fail a run */ }
    }
}
