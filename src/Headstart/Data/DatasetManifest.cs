using System.Text;
using System.Text.Json;

namespace Headstart.Data;

/// <summary>Options for <see cref="DatasetManifest.Load"/>.</summary>
public sealed record ManifestOptions
{
    /// <summary>The folder that relative paths start from (default: the manifest's own folder).</summary>
    public string? Root { get; init; }
    /// <summary>Accept paths that resolve outside <see cref="Root"/> (absolute paths, "..", symlinks out).</summary>
    public bool AllowOutsideRoot { get; init; }
    /// <summary>Validation fraction of each class when no row names a split.</summary>
    public double ValSplit { get; init; } = 0.2;
    public int Seed { get; init; } = 42;
    public long MaxPixels { get; init; } = 100_000_000;
}

/// <summary>
/// A dataset listed in a file rather than a folder tree, the way big collections come: CSV (<c>path,label[,split]</c>,
/// an optional header line naming the columns in any order, RFC 4180 quoting) or JSON Lines (<c>{"path", "label",
/// "split"?}</c>). Paths are relative to a root. A bad row (missing field, unknown split, missing file, a file listed
/// twice, not an image) is skipped and reported with its line number, like an undecodable image; images are not
/// opened here (a million header reads would dominate), so a corrupt one is found, skipped and reported where it is
/// decoded. Classes are the distinct labels, sorted ordinally. Rows either all name a split (train/val) or none do;
/// with none, each class is split here (stratified, as for a folder without train/ and val/).
/// </summary>
public static class DatasetManifest
{
    /// <summary>True when <paramref name="path"/> is a manifest file (.csv, .jsonl or .ndjson) rather than a folder.</summary>
    public static bool Names(string path) =>
        File.Exists(path) && Path.GetExtension(path).ToLowerInvariant() is ".csv" or ".jsonl" or ".ndjson";

    private sealed record Row(int Line, string Path, string Label, string? Split);

    public static ImageDataset Load(string manifestPath, ManifestOptions? options = null)
    {
        options ??= new ManifestOptions();
        ImageFolder.CheckValSplit(options.ValSplit);
        if (!File.Exists(manifestPath)) throw new HeadstartException($"manifest '{manifestPath}' does not exist");
        manifestPath = Path.GetFullPath(manifestPath);
        string root = Path.GetFullPath(options.Root ?? Path.GetDirectoryName(manifestPath)!);
        if (!Directory.Exists(root)) throw new HeadstartException($"manifest root '{root}' does not exist");
        bool json = Path.GetExtension(manifestPath).ToLowerInvariant() is ".jsonl" or ".ndjson";
        var skipped = new List<SkippedFile>();
        string Where(int line) => $"{manifestPath}:{line}";
        var rows = new List<Row>();
        int lineNo = 0;
        int[]? columns = null;   // positions of path, label, split (-1: absent), and the field count
        foreach (string raw in File.ReadLines(manifestPath))
        {
            lineNo++;
            string line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0 || line.StartsWith('#')) continue;
            try
            {
                if (json) rows.Add(JsonRow(line, lineNo));
                else
                {
                    var fields = CsvFields(line);
                    if (columns is null && rows.Count == 0 && skipped.Count == 0 && IsHeader(fields, out columns)) continue;
                    columns ??= [0, 1, 2, 3];
                    rows.Add(CsvRow(fields, columns, lineNo));
                }
            }
            catch (FormatException ex)
            {
                skipped.Add(new SkippedFile(Where(lineNo), ex.Message));
            }
        }

        // Paths: resolved under the root, refused outside it unless allowed (a manifest must not read /etc by accident).
        var outside = new List<string>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var kept = new List<(Row Row, string Full)>();
        foreach (var row in rows)
        {
            string full = Path.GetFullPath(Path.Combine(root, row.Path));
            if (!options.AllowOutsideRoot && !Inside(root, full))
            {
                outside.Add($"line {row.Line}: {row.Path}");
                continue;
            }
            if (!ImageDecoder.HasImageExtension(full)) skipped.Add(new SkippedFile(Where(row.Line), $"not an image file: {row.Path}"));
            else if (!File.Exists(full)) skipped.Add(new SkippedFile(Where(row.Line), $"file not found: {row.Path}"));
            else if (!options.AllowOutsideRoot && LinkTarget(full) is { } target && !Inside(root, target))
                outside.Add($"line {row.Line}: {row.Path} (a symlink to {target})");
            else if (seen.TryGetValue(full, out int first)) skipped.Add(new SkippedFile(Where(row.Line), $"{row.Path} is listed twice (first on line {first})"));
            else
            {
                seen[full] = row.Line;
                kept.Add((row, full));
            }
        }
        if (outside.Count > 0)
            throw new HeadstartException($"manifest '{manifestPath}' lists {outside.Count} path(s) outside its root {root} " +
                                         $"({string.Join("; ", outside.Take(3))}{(outside.Count > 3 ? "; ..." : "")}); " +
                                         "pass --allow-outside-root if that is intended, or --root to set another root");

        bool anySplit = kept.Any(k => k.Row.Split is not null);
        if (anySplit)
            foreach (var k in kept.Where(k => k.Row.Split is null).ToList())
            {
                skipped.Add(new SkippedFile(Where(k.Row.Line), "no split on this row, while other rows name one (train or val)"));
                kept.Remove(k);
            }
        var classes = kept.Select(k => k.Row.Label).Distinct().Order(StringComparer.Ordinal).ToList();
        if (classes.Count < 2)
            throw new HeadstartException($"manifest '{manifestPath}' has {classes.Count} class(es) among its valid rows; a classifier needs at least 2" +
                                         (skipped.Count > 0 ? $" ({skipped.Count} row(s) skipped, first: {skipped[0].Path}: {skipped[0].Reason})" : ""));
        var labelOf = classes.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i, StringComparer.Ordinal);
        ImageSample Sample((Row Row, string Full) k) => new(k.Full, labelOf[k.Row.Label]);
        List<ImageSample> train, val;
        if (anySplit)
        {
            train = [.. kept.Where(k => k.Row.Split == "train").Select(Sample)];
            val = [.. kept.Where(k => k.Row.Split == "val").Select(Sample)];
            train.Sort(ImageFolder.BySample);
            val.Sort(ImageFolder.BySample);
        }
        else (train, val) = ImageFolder.StratifiedSplit(kept.Select(Sample).ToList(), options.ValSplit, options.Seed);
        if (train.Count == 0) throw new HeadstartException($"manifest '{manifestPath}' has no usable training rows");
        return new ImageDataset(root, anySplit ? "manifest" : "manifest-stratified", classes, train, val, skipped,
            new FileImageSource(new DecodeOptions { MaxPixels = options.MaxPixels }));
    }

    private static bool Inside(string root, string full)
    {
        string prefix = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        return full.StartsWith(prefix, StringComparison.Ordinal);
    }

    /// <summary>The final target of a symlinked file, or null when it is not a link.</summary>
    private static string? LinkTarget(string full)
    {
        var fi = new FileInfo(full);
        return fi.LinkTarget is null ? null : fi.ResolveLinkTarget(returnFinalTarget: true)?.FullName;
    }

    private static string? Split(string? s) => s?.Trim().ToLowerInvariant() switch
    {
        null or "" => null,
        "train" or "training" => "train",
        "val" or "valid" or "validation" => "val",
        var other => throw new FormatException($"split '{other}' is neither train nor val"),
    };

    private static Row JsonRow(string line, int lineNo)
    {
        JsonElement e;
        try { e = JsonDocument.Parse(line).RootElement; }
        catch (JsonException ex) { throw new FormatException($"not a JSON object: {ex.Message}"); }
        if (e.ValueKind != JsonValueKind.Object) throw new FormatException("not a JSON object");
        string? Field(string name) => e.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number => v.GetRawText(),
            JsonValueKind.Null => null,
            _ => throw new FormatException($"\"{name}\" is a {v.ValueKind}, not a string"),
        } : null;
        return Make(Field("path"), Field("label"), Field("split"), lineNo);
    }

    private static Row CsvRow(List<string> f, int[] columns, int lineNo)
    {
        if (f.Count > columns[3]) throw new FormatException($"{f.Count} fields; expected at most {columns[3]} (path,label[,split])");
        string? Get(int c) => c >= 0 && c < f.Count ? f[c] : null;
        return Make(Get(columns[0]), Get(columns[1]), Get(columns[2]), lineNo);
    }

    private static Row Make(string? path, string? label, string? split, int lineNo)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new FormatException("no path");
        if (string.IsNullOrWhiteSpace(label)) throw new FormatException("no label");
        if (path.Contains('\0')) throw new FormatException("the path holds a NUL character");
        return new Row(lineNo, path.Trim(), label.Trim(), Split(split));
    }

    /// <summary>A header line names the columns (path and label required, split optional), in any order.</summary>
    private static bool IsHeader(List<string> f, out int[]? columns)
    {
        var names = f.Select(x => x.Trim().ToLowerInvariant()).ToList();
        columns = null;
        if (!names.Contains("path") || !names.Contains("label")) return false;
        columns = [names.IndexOf("path"), names.IndexOf("label"), names.IndexOf("split"), names.Count];
        return true;
    }

    /// <summary>One CSV line's fields (RFC 4180: quoted fields may hold commas, "" is a quote; no line breaks inside).</summary>
    private static List<string> CsvFields(string line)
    {
        var fields = new List<string>();
        var sb = new StringBuilder();
        bool quoted = false, wasQuoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else sb.Append(c);
            }
            else if (c == '"' && sb.Length == 0 && !wasQuoted) { quoted = wasQuoted = true; }
            else if (c == ',') { fields.Add(sb.ToString()); sb.Clear(); wasQuoted = false; }
            else sb.Append(c);
        }
        if (quoted) throw new FormatException("unterminated quoted field");
        fields.Add(sb.ToString());
        return fields;
    }
}

/// <summary>Opens a dataset from either kind of source: a manifest file (<see cref="DatasetManifest"/>) or an
/// ImageFolder tree (<see cref="ImageFolder"/>).</summary>
public static class ImageDatasets
{
    public static ImageDataset Open(string path, double valSplit, int seed, string? manifestRoot = null, bool allowOutsideRoot = false) =>
        DatasetManifest.Names(path)
            ? DatasetManifest.Load(path, new ManifestOptions { Root = manifestRoot, AllowOutsideRoot = allowOutsideRoot, ValSplit = valSplit, Seed = seed })
            : ImageFolder.Load(path, new ImageFolderOptions { ValSplit = valSplit, Seed = seed });
}
