using System.Buffers.Binary;
using System.IO.Hashing;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using Headstart.Data;
using Headstart.IO;

namespace Headstart.Training;

/// <summary>
/// On-disk cache of backbone features, one namespace per (model, weights hash, preprocessing, view): a second run on
/// the same data skips extraction. Rows live in append-only segment files (raw float32, memory-mapped on read) indexed
/// by a per-image key (path + size + mtime for files, the id for in-memory sources). Every row carries a CRC32: a
/// corrupt or truncated entry is detected and recomputed. Segments are written to a temp file and renamed; the index
/// is append-only and a torn last line is ignored, so a killed run never poisons the cache.
/// </summary>
public sealed class FeatureCache : IDisposable
{
    private const string IndexFile = "index.tsv";
    /// <summary>Widest feature row accepted from an index (a corrupt width must not size an allocation).</summary>
    private const int MaxDim = 1 << 20;
    private readonly string dir;
    private readonly Dictionary<string, Entry> index = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (MemoryMappedFile Map, MemoryMappedViewAccessor View)> views = new(StringComparer.Ordinal);
    private int dim;

    private sealed record Entry(string Segment, long Row, uint Crc, string? SkipReason);

    /// <summary>Opens (or creates) the namespace <paramref name="ns"/> under <paramref name="root"/>.</summary>
    public FeatureCache(string root, string ns)
    {
        dir = Path.Combine(root, ns);
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.EnumerateFiles(dir, "*.tmp-*")) TryDelete(f);
        LoadIndex();
    }

    /// <summary>The cache root a --cache-dir value names: null for "none"/"off", the default root when unset.</summary>
    public static string? Root(string? cacheDir) => cacheDir is "none" or "off" ? null : cacheDir ?? DefaultRoot;

    /// <summary><see cref="CacheDirs.Root"/>/features.</summary>
    public static string DefaultRoot => Path.Combine(CacheDirs.Root, "features");

    /// <summary>A namespace id from everything that changes features: model, weights hash, preprocessing, view.</summary>
    public static string Namespace(params string[] parts) => Hash(string.Join("\u001f", parts))[..24];

    /// <summary>The per-image key: path + size + mtime for files, the sample id for in-memory sources.</summary>
    public static string KeyOf(ImageSample s)
    {
        var fi = new FileInfo(s.Path);
        return fi.Exists ? FileId(fi) : Hash("id:" + s.Path);
    }

    /// <summary>Feature width of the rows, or 0 when the cache is empty.</summary>
    public int Dim => dim;

    public int Count => index.Count;

    /// <summary>True when the index has an entry for <paramref name="key"/> (a row or a cached decode failure). The row
    /// itself is only checked when read (<see cref="TryRead"/>).</summary>
    public bool Contains(string key) => index.ContainsKey(key);

    /// <summary>Reads a cached row into <paramref name="destination"/>; false when absent or corrupt (then dropped).
    /// A cached decode failure returns true with <paramref name="skipReason"/> set.</summary>
    public bool TryRead(string key, Span<float> destination, out string? skipReason)
    {
        skipReason = null;
        if (!index.TryGetValue(key, out var e)) return false;
        if (e.SkipReason is not null) { skipReason = e.SkipReason; return true; }
        try
        {
            // Straight from the mapped segment into the caller's buffer: one view per segment, no per-row copies.
            var bytes = MemoryMarshal.AsBytes(destination[..dim]);
            View(e.Segment).SafeMemoryMappedViewHandle.ReadSpan(checked((ulong)(e.Row * dim * 4L)), bytes);
            if (Crc32.HashToUInt32(bytes) != e.Crc) { index.Remove(key); return false; }
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            index.Remove(key);   // missing or truncated segment: recompute
            return false;
        }
    }

    /// <summary>Appends rows (N, Dim) for <paramref name="keys"/> in one new segment, plus cached decode failures.</summary>
    public void Append(IReadOnlyList<string> keys, ReadOnlySpan<float> rows, int rowDim, IReadOnlyList<(string Key, string Reason)>? skips = null)
    {
        if (keys.Count > 0 && dim == 0) dim = rowDim;
        if (keys.Count > 0 && rowDim != dim) throw new InvalidOperationException($"feature width changed from {dim} to {rowDim} within one cache namespace");
        if (rows.Length != keys.Count * dim) throw new ArgumentException("rows do not match keys x dim");
        var lines = new StringBuilder();
        if (keys.Count > 0)
        {
            string segment = $"seg-{DateTime.UtcNow.Ticks:x}-{Guid.NewGuid():N}.f32";
            byte[] bytes = MemoryMarshal.AsBytes(rows).ToArray();
            AtomicFiles.WriteFile(Path.Combine(dir, segment), s => s.Write(bytes));
            for (int i = 0; i < keys.Count; i++)
            {
                uint crc = Crc32.HashToUInt32(bytes.AsSpan(i * dim * 4, dim * 4));
                index[keys[i]] = new Entry(segment, i, crc, null);
                lines.Append($"{keys[i]}\t{segment}\t{i}\t{crc}\t{dim}\n");
            }
        }
        foreach (var (key, reason) in skips ?? [])
        {
            string clean = reason.Replace('\t', ' ').Replace('\n', ' ');
            index[key] = new Entry("", 0, 0, clean);
            lines.Append($"{key}\t-\t0\t0\t0\t{clean}\n");
        }
        string indexPath = Path.Combine(dir, IndexFile);
        // After a torn write the file ends mid-line: start on a fresh line so the new entries stay readable.
        if (EndsMidLine(indexPath)) lines.Insert(0, '\n');
        File.AppendAllText(indexPath, lines.ToString());
    }

    private static bool EndsMidLine(string path)
    {
        using var fs = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite);
        if (fs.Length == 0) return false;
        fs.Position = fs.Length - 1;
        return fs.ReadByte() != '\n';
    }

    private void LoadIndex()
    {
        string path = Path.Combine(dir, IndexFile);
        if (!File.Exists(path)) return;
        string text = File.ReadAllText(path);
        var lines = text.Split('\n');
        // The last element is "" after a complete file, or the torn tail of a killed append: never trust it.
        var rows = new List<(string Key, Entry Entry, int Dim)>();
        foreach (var line in lines.AsSpan(0, lines.Length - 1))
        {
            var f = line.Split('\t');
            // A torn or foreign line is ignored: the row is simply recomputed.
            if (f.Length < 5 || !long.TryParse(f[2], out long row) || !uint.TryParse(f[3], out uint crc) || !int.TryParse(f[4], out int d)) continue;
            if (row < 0 || d is < 0 or > MaxDim) continue;
            if (f[1] == "-") { index[f[0]] = new Entry("", 0, 0, f.Length > 5 ? f[5] : "undecodable"); continue; }
            if (d > 0) rows.Add((f[0], new Entry(f[1], row, crc, null), d));
        }
        // One namespace has one width. A formerly torn line (since terminated by a later append) can still parse with a
        // cut width, e.g. 5 for 512: the width most rows agree on wins (on a tie, the latest), other widths are dropped.
        if (rows.Count == 0) return;
        dim = rows.Select((r, i) => (r.Dim, Line: i)).GroupBy(r => r.Dim).MaxBy(g => (g.Count(), g.Max(r => r.Line)))!.Key;
        foreach (var (key, entry, d) in rows)
            if (d == dim) index[key] = entry;
    }

    /// <summary>A read-only view of a whole segment, opened once. A truncated segment makes reads past its end throw
    /// (or read zeros inside the last page), and either way the row's CRC check fails.</summary>
    private MemoryMappedViewAccessor View(string segment)
    {
        if (!views.TryGetValue(segment, out var v))
        {
            var map = MemoryMappedFile.CreateFromFile(Path.Combine(dir, segment), FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            v = (map, map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read));
            views[segment] = v;
        }
        return v.View;
    }

    /// <summary>SHA-256 (hex) of a weights file, memoised under <paramref name="root"/> by path + size + mtime so
    /// that large files are hashed once.</summary>
    public static string WeightsFingerprint(string weightsPath, string root)
    {
        var fi = new FileInfo(weightsPath);
        string id = FileId(fi);
        string memo = Path.Combine(root, "weights-sha256", id);
        if (File.Exists(memo))
        {
            string cached = File.ReadAllText(memo).Trim();
            if (cached.Length == 64) return cached;
        }
        string sha = FileHashes.Sha256(weightsPath);
        AtomicFiles.WriteAllText(memo, sha);
        return sha;
    }

    private static string Hash(string s) => FileHashes.OfText(s);

    /// <summary>A file's identity without reading it: full path, size and modification time.</summary>
    private static string FileId(FileInfo fi) => Hash($"{fi.FullName}\u001f{fi.Length}\u001f{fi.LastWriteTimeUtc.Ticks}");

    private static void TryDelete(string f)
    {
        try { File.Delete(f); } catch (IOException) { }
    }

    public void Dispose()
    {
        foreach (var (map, view) in views.Values) { view.Dispose(); map.Dispose(); }
        views.Clear();
    }
}
