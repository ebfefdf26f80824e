using System.Text.Json;
using System.Text.Json.Serialization;
using Headstart.IO;

namespace Headstart.Data;

/// <summary>One person's decision about one image after a label audit.</summary>
/// <param name="Path">The file, relative to the dataset root, with '/' separators ("train/square/img_003.jpg").</param>
/// <param name="Action"><see cref="LabelDecisions.Exclude"/> or <see cref="LabelDecisions.Relabel"/>.</param>
/// <param name="Label">The class the file belongs to, for a relabel; null for an exclusion.</param>
public sealed record LabelDecision(string Path, string Action, string? Label = null);

/// <summary>
/// Relabel and exclude decisions for a dataset, kept in a sidecar FILE next to the dataset folder
/// (<see cref="SidecarPath"/>): the dataset's own files are never moved, renamed or rewritten, and a re-train honours
/// the decisions because <see cref="ImageFolder.Load"/> applies them after the split. One decision per file: a later
/// entry for the same path replaces an earlier one.
/// </summary>
public sealed class LabelDecisions
{
    public const string Exclude = "exclude", Relabel = "relabel";

    private const int FormatVersion = 1;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
        // Class names and file names stay readable in the file (it is not embedded in HTML).
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private readonly List<LabelDecision> entries = [];

    /// <param name="datasetRoot">The dataset folder (an ImageFolder root).</param>
    public LabelDecisions(string datasetRoot, IEnumerable<LabelDecision>? decisions = null)
    {
        DatasetRoot = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(datasetRoot));
        foreach (var d in decisions ?? []) Set(d);
    }

    /// <summary>The dataset folder, absolute, without a trailing separator.</summary>
    public string DatasetRoot { get; }

    /// <summary>The decisions, one per file, in the order they were first made.</summary>
    public IReadOnlyList<LabelDecision> Decisions => entries;

    /// <summary>The sidecar of <paramref name="datasetRoot"/>: "DATA.headstart-labels.json" beside the folder DATA,
    /// never inside it (a file inside would be listed as data, and the folder may be read-only or shared).</summary>
    public static string SidecarPath(string datasetRoot) =>
        System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(datasetRoot)) + ".headstart-labels.json";

    /// <summary>Adds a decision, replacing any earlier one for the same file. Checks its form (a relative path inside
    /// the dataset, a known action, a label for a relabel); whether the label is a class is checked by
    /// <see cref="Apply"/>, which knows the classes.</summary>
    public void Set(LabelDecision decision)
    {
        var d = Check(decision);
        int at = entries.FindIndex(x => x.Path == d.Path);
        if (at >= 0) entries[at] = d;
        else entries.Add(d);
    }

    /// <summary>Drops the decision for <paramref name="path"/> (relative, '/' separators); false if there was none.</summary>
    public bool Remove(string path) => entries.RemoveAll(x => x.Path == Normalise(path)) > 0;

    /// <summary>The decisions saved for <paramref name="datasetRoot"/>, or null when it has no sidecar.</summary>
    public static LabelDecisions? Load(string datasetRoot)
    {
        string path = SidecarPath(datasetRoot);
        if (!File.Exists(path)) return null;
        SidecarFile? file;
        try
        {
            file = JsonSerializer.Deserialize<SidecarFile>(File.ReadAllText(path), Json);
        }
        catch (JsonException ex)
        {
            throw new HeadstartException($"label decisions file '{path}' is not valid JSON ({ex.Message}); fix or delete it");
        }
        if (file is null) throw new HeadstartException($"label decisions file '{path}' is empty; fix or delete it");
        if (file.Version > FormatVersion)
            throw new HeadstartException($"label decisions file '{path}' has format version {file.Version}; this Headstart reads version {FormatVersion}");
        try
        {
            return new LabelDecisions(datasetRoot, file.Decisions ?? []);
        }
        catch (HeadstartException ex)
        {
            throw new HeadstartException($"label decisions file '{path}': {ex.Message}");
        }
    }

    /// <summary>Writes the sidecar atomically (a killed write leaves the previous file whole).</summary>
    public void Save() =>
        AtomicFiles.WriteAllText(SidecarPath(DatasetRoot), JsonSerializer.Serialize(new SidecarFile(FormatVersion, entries), Json) + "\n");

    /// <summary>
    /// The dataset with the decisions applied: excluded files leave train and val, relabelled ones take their new
    /// class's index and stay in the split they were in. Root, split kind, classes, source and the scan's skipped files
    /// are <paramref name="data"/>'s. Decisions naming a file the dataset no longer lists are ignored and counted in
    /// <paramref name="summary"/>; a relabel to a class the dataset lacks is an error naming the file and the label.
    /// </summary>
    public ImageDataset Apply(ImageDataset data, out string summary)
    {
        var byPath = entries.ToDictionary(d => d.Path, StringComparer.Ordinal);
        var classIndex = data.Classes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i, StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal);
        int excluded = 0, relabelled = 0;

        List<ImageSample> Rewrite(IReadOnlyList<ImageSample> split)
        {
            var kept = new List<ImageSample>(split.Count);
            foreach (var s in split)
            {
                string rel = Normalise(System.IO.Path.GetRelativePath(data.Root, s.Path));
                if (!byPath.TryGetValue(rel, out var d))
                {
                    kept.Add(s);
                    continue;
                }
                used.Add(rel);
                if (d.Action == Exclude)
                {
                    excluded++;
                    continue;
                }
                if (!classIndex.TryGetValue(d.Label!, out int label))
                    throw new HeadstartException($"label decisions file '{SidecarPath(DatasetRoot)}' relabels '{rel}' as '{d.Label}', which is not one of " +
                                                 $"the dataset's classes ({string.Join(", ", data.Classes)})");
                if (label != s.Label) relabelled++;
                kept.Add(s with { Label = label });
            }
            return kept;
        }

        var train = Rewrite(data.Train);
        var val = Rewrite(data.Val);
        int missing = entries.Count(d => !used.Contains(d.Path));
        summary = $"label decisions from {SidecarPath(DatasetRoot)}: {excluded} file(s) excluded, {relabelled} relabelled" +
                  (missing > 0 ? $"; {missing} decision(s) name files no longer in the dataset (ignored)" : "");
        return new ImageDataset(data.Root, data.SplitKind, data.Classes, train, val, data.Skipped, data.Source, summary);
    }

    private static LabelDecision Check(LabelDecision d)
    {
        if (string.IsNullOrWhiteSpace(d.Path)) throw new HeadstartException("a label decision has no path");
        string path = Normalise(d.Path);
        if (System.IO.Path.IsPathRooted(path) || path.Split('/').Any(p => p is ".." or "." or ""))
            throw new HeadstartException($"label decision path '{d.Path}' must be relative to the dataset folder and stay inside it");
        return d.Action switch
        {
            Exclude => new LabelDecision(path, Exclude),
            Relabel when !string.IsNullOrEmpty(d.Label) => new LabelDecision(path, Relabel, d.Label),
            Relabel => throw new HeadstartException($"the relabel decision for '{path}' names no label"),
            _ => throw new HeadstartException($"label decision for '{path}' has action '{d.Action}'; expected '{Exclude}' or '{Relabel}'"),
        };
    }

    private static string Normalise(string path) => path.Replace('\\', '/');

    /// <summary>The sidecar's JSON: {"version": 1, "decisions": [{"path", "action", "label"}, ...]}.</summary>
    private sealed record SidecarFile(int Version, IReadOnlyList<LabelDecision>? Decisions);
}
