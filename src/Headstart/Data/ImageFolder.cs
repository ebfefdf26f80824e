namespace Headstart.Data;

/// <summary>A labelled image dataset split into train and val, as every loader returns it.</summary>
public sealed class ImageDataset
{
    public ImageDataset(string root, string splitKind, IReadOnlyList<string> classes, IReadOnlyList<ImageSample> train,
        IReadOnlyList<ImageSample> val, IReadOnlyList<SkippedFile> skipped, IImageSource source, string? decisionsNote = null)
    {
        DecisionsNote = decisionsNote;
        Root = root;
        SplitKind = splitKind;
        Classes = classes;
        Train = train;
        Val = val;
        Skipped = skipped;
        Source = source;
    }

    public IReadOnlyList<string> Classes { get; }
    public IReadOnlyList<ImageSample> Train { get; }
    public IReadOnlyList<ImageSample> Val { get; }
    /// <summary>Files left out when the dataset was listed (non-images, failed header probes, loose files, symlinked
    /// folders that were not followed).</summary>
    public IReadOnlyList<SkippedFile> Skipped { get; }
    public IImageSource Source { get; }
    public string Root { get; }
    /// <summary>"folders" (root/train + root/val), "stratified" (split here) or "idx" (Fashion-MNIST subset).</summary>
    public string SplitKind { get; }
    /// <summary>What the dataset's label decisions sidecar changed (<see cref="LabelDecisions"/>), for the user to see;
    /// null when there is none.</summary>
    public string? DecisionsNote { get; }
}

/// <summary>Options for <see cref="ImageFolder.Load"/>.</summary>
public sealed record ImageFolderOptions
{
    /// <summary>Fraction of each class held out for validation when the folder has no train/val split.</summary>
    public double ValSplit { get; init; } = 0.2;
    public int Seed { get; init; } = 42;
    /// <summary>Decompression-bomb guard, see <see cref="DecodeOptions.MaxPixels"/>.</summary>
    public long MaxPixels { get; init; } = 100_000_000;
}

/// <summary>
/// torchvision-style ImageFolder: root/&lt;class&gt;/**/*.jpg, or root/train/&lt;class&gt; + root/val/&lt;class&gt;.
/// Class names are subfolder names sorted ordinally. Never writes anything under the root.
/// </summary>
public static class ImageFolder
{
    public static ImageDataset Load(string root, ImageFolderOptions? options = null)
    {
        options ??= new ImageFolderOptions();
        CheckValSplit(options.ValSplit);
        if (!Directory.Exists(root)) throw new HeadstartException($"dataset folder '{root}' does not exist");
        root = Path.GetFullPath(root);
        var decode = new DecodeOptions { MaxPixels = options.MaxPixels };
        var skipped = new List<SkippedFile>();

        var layout = DatasetLayout.Detect(root);
        skipped.AddRange(layout.Unlisted);
        List<ImageSample> train, val;
        IReadOnlyList<string> classes;
        if (layout.HasSplitFolders)
        {
            classes = layout.Classes;
            train = Screen(layout.TrainFiles, decode, skipped);
            val = Screen(layout.ValFiles, decode, skipped);
        }
        else
        {
            classes = layout.Classes;
            (train, val) = StratifiedSplit(Screen(layout.TrainFiles, decode, skipped), options.ValSplit, options.Seed);
        }

        if (classes.Count < 2)
            throw new HeadstartException(
                $"'{root}' has {classes.Count} class folder(s); a classifier needs at least 2 (one subfolder per class, " +
                "or train/ and val/ folders that each hold one subfolder per class)");
        if (train.Count == 0) throw new HeadstartException($"no readable training images under '{root}'");
        var data = new ImageDataset(root, layout.HasSplitFolders ? "folders" : "stratified", classes, train, val, skipped,
            new FileImageSource(decode));
        // Relabel/exclude decisions live beside the folder, never in it; applied after the split, so a relabelled file
        // stays in the split it was in and the other files' split does not move.
        if (LabelDecisions.Load(root) is not { } decisions) return data;
        data = decisions.Apply(data, out _);
        if (data.Train.Count == 0) throw new HeadstartException($"no training images left under '{root}' after {data.DecisionsNote}");
        return data;
    }

    /// <summary>Splits each class separately so val keeps the class proportions; deterministic for a seed.
    /// Classes with a single image stay in train.</summary>
    public static (List<ImageSample> Train, List<ImageSample> Val) StratifiedSplit(IReadOnlyList<ImageSample> samples,
        double valSplit, int seed)
    {
        var train = new List<ImageSample>();
        var val = new List<ImageSample>();
        var rng = new Random(seed);
        foreach (var group in samples.GroupBy(s => s.Label).OrderBy(g => g.Key))
        {
            var items = group.OrderBy(s => s.Path, StringComparer.Ordinal).ToArray();
            rng.Shuffle(items);
            int nVal = (int)Math.Round(items.Length * valSplit, MidpointRounding.AwayFromZero);
            if (valSplit > 0 && items.Length >= 2) nVal = Math.Clamp(nVal, 1, items.Length - 1);
            val.AddRange(items.Take(nVal));
            train.AddRange(items.Skip(nVal));
        }
        train.Sort(BySample);
        val.Sort(BySample);
        return (train, val);
    }

    internal static void CheckValSplit(double valSplit)
    {
        if (valSplit is < 0 or >= 1 || double.IsNaN(valSplit))
            throw new HeadstartException($"--val-split must be in [0, 1), got {valSplit}");
    }

    /// <summary>The order of a split: by class, then by path (ordinal).</summary>
    internal static int BySample(ImageSample a, ImageSample b) =>
        a.Label != b.Label ? a.Label.CompareTo(b.Label) : string.CompareOrdinal(a.Path, b.Path);

    /// <summary>Keeps files with an image extension whose header parses; records the rest with a reason.</summary>
    private static List<ImageSample> Screen(IEnumerable<ImageSample> files, DecodeOptions decode, List<SkippedFile> skipped)
    {
        var kept = new List<ImageSample>();
        foreach (var sample in files)
        {
            if (!ImageDecoder.HasImageExtension(sample.Path))
            {
                skipped.Add(new SkippedFile(sample.Path, $"not an image file (extension '{Path.GetExtension(sample.Path)}')"));
                continue;
            }
            try
            {
                var header = ImageDecoder.Probe(sample.Path, decode);
                if (header.Pixels > decode.MaxPixels)
                {
                    skipped.Add(new SkippedFile(sample.Path,
                        $"{header.Width}x{header.Height} is over the {decode.MaxPixels / 1e6:F0} MP pixel limit"));
                    continue;
                }
                kept.Add(sample);
            }
            catch (ImageDecodeException ex)
            {
                skipped.Add(new SkippedFile(sample.Path, ex.Reason));
            }
        }
        return kept;
    }
}

/// <summary>The folder structure of an ImageFolder dataset, shared by the loader and the checker.</summary>
internal sealed class DatasetLayout
{
    public required bool HasSplitFolders { get; init; }
    public required IReadOnlyList<string> Classes { get; init; }
    /// <summary>Every file (image or not) under the class folders; all files when there is no split.</summary>
    public required IReadOnlyList<ImageSample> TrainFiles { get; init; }
    public required IReadOnlyList<ImageSample> ValFiles { get; init; }
    /// <summary>Class folders (with their split) that hold no files at all.</summary>
    public required IReadOnlyList<string> EmptyClassDirs { get; init; }
    /// <summary>Things not followed or not listed: symlinked folders, unreadable folders, loose files at class level.</summary>
    public required IReadOnlyList<SkippedFile> Unlisted { get; init; }

    public static DatasetLayout Detect(string root)
    {
        string trainDir = Path.Combine(root, "train"), valDir = Path.Combine(root, "val");
        bool split = Directory.Exists(trainDir) && Directory.Exists(valDir);
        var unlisted = new List<SkippedFile>();
        var empty = new List<string>();
        if (!split)
        {
            var classes = ClassDirs(root, unlisted);
            return new DatasetLayout
            {
                HasSplitFolders = false, Classes = classes, TrainFiles = List(root, classes, unlisted, empty),
                ValFiles = [], EmptyClassDirs = empty, Unlisted = unlisted,
            };
        }
        // Class list = union of train and val folders, so a class missing from one split keeps its index.
        var union = ClassDirs(trainDir, unlisted).Union(ClassDirs(valDir, unlisted)).Order(StringComparer.Ordinal).ToList();
        return new DatasetLayout
        {
            HasSplitFolders = true, Classes = union, TrainFiles = List(trainDir, union, unlisted, empty),
            ValFiles = List(valDir, union, unlisted, empty), EmptyClassDirs = empty, Unlisted = unlisted,
        };
    }

    private static List<string> ClassDirs(string dir, List<SkippedFile> unlisted)
    {
        var names = new List<string>();
        foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos())
        {
            if (entry.Name.StartsWith('.')) continue; // .git, .DS_Store, editor folders
            // A symlinked class folder is listed (one level of indirection), but Walk never follows links below it.
            if (entry is DirectoryInfo) names.Add(entry.Name);
            else unlisted.Add(new SkippedFile(entry.FullName, "file outside any class folder"));
        }
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    private static List<ImageSample> List(string dir, IReadOnlyList<string> classes, List<SkippedFile> unlisted, List<string> empty)
    {
        var files = new List<ImageSample>();
        for (int label = 0; label < classes.Count; label++)
        {
            string classDir = Path.Combine(dir, classes[label]);
            if (!Directory.Exists(classDir)) continue;
            int before = files.Count;
            Walk(classDir, label, files, unlisted);
            if (files.Count == before) empty.Add(classDir);
        }
        return files;
    }

    /// <summary>Recursive listing that never follows symlinked subfolders (a link back up would loop forever).</summary>
    private static void Walk(string dir, int label, List<ImageSample> files, List<SkippedFile> unlisted)
    {
        IEnumerable<FileSystemInfo> entries;
        try
        {
            entries = new DirectoryInfo(dir).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            unlisted.Add(new SkippedFile(dir, $"cannot list folder: {ex.Message}"));
            return;
        }
        foreach (var entry in entries)
        {
            if (entry.Name.StartsWith('.')) continue;
            if (entry is DirectoryInfo sub)
            {
                if (sub.LinkTarget is not null) unlisted.Add(new SkippedFile(sub.FullName, "symlinked folder not followed"));
                else Walk(sub.FullName, label, files, unlisted);
            }
            else
            {
                files.Add(new ImageSample(entry.FullName, label));
            }
        }
    }
}
