using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Headstart.Data;

public enum CheckSeverity { Info, Warning, Fatal }

/// <summary>Ok: train as is. Warnings: training works but results may mislead. Fatal: training would be meaningless.</summary>
public enum DatasetVerdict { Ok, Warnings, Fatal }

public enum IssueKind
{
    Undecodable, NonImage, Unlisted, Tiny, Huge, Grayscale, Cmyk, Alpha, Animated,
    Duplicate, DuplicateAcrossSplits, ConflictingLabels, ClassImbalance, TooFewImages, EmptyClass, MissingFromSplit,
    NoValidation, TooFewClasses,
}

/// <summary>One finding. <see cref="Paths"/> lists the files involved (all members of a duplicate group).</summary>
public sealed record DatasetIssue(CheckSeverity Severity, IssueKind Kind, string Message, IReadOnlyList<string> Paths);

/// <summary>Readable images per class and split.</summary>
public sealed record ClassSummary(string Name, int Train, int Val);

public sealed record DatasetReport(string Root, string Layout, IReadOnlyList<ClassSummary> Classes, int Files, int Images,
    IReadOnlyList<DatasetIssue> Issues, DatasetVerdict Verdict)
{
    public int Count(CheckSeverity severity) => Issues.Count(i => i.Severity == severity);
}

public sealed record DatasetCheckOptions
{
    /// <summary>Refuse (report as undecodable) images declaring more pixels; the training loader uses the same limit.</summary>
    public long MaxPixels { get; init; } = 100_000_000;
    /// <summary>Warn above this many pixels: legal, but slow to decode every epoch.</summary>
    public long HugePixels { get; init; } = 40_000_000;
    /// <summary>Warn when the shorter side is below this (upscaled to 224, such images are mostly blur).</summary>
    public int TinySide { get; init; } = 32;
    /// <summary>Warn when the largest class has more than this many times the images of the smallest.</summary>
    public double ImbalanceRatio { get; init; } = 3;
    /// <summary>Decoding threads; 0 = one per core.</summary>
    public int Workers { get; init; }
    /// <summary>True: fully decode every image (finds truncated files; about as slow as one epoch of decoding).
    /// False: read, hash and probe the header only, which is what <c>train</c> runs first; files that turn out to be
    /// undecodable are then skipped by the loader.</summary>
    public bool DecodeImages { get; init; } = true;
    /// <summary>With <see cref="DecodeImages"/> false: a cache directory where each file's hash and header are
    /// remembered (by path, size and mtime), so checking the same data again only stats it. Null: no memo.</summary>
    public string? MemoCacheRoot { get; init; }
}

/// <summary>
/// Checks an ImageFolder dataset without training (headstart check): every file is read once, hashed and fully
/// decoded (or only probed, see <see cref="DatasetCheckOptions.DecodeImages"/>). Read-only: nothing is ever written
/// under the dataset folder.
/// </summary>
public static class DatasetChecker
{
    private sealed record FileResult(ImageSample Sample, string Split, string? Error, ImageHeader? Header, string? Hash);

    public static DatasetReport Check(string root, DatasetCheckOptions? options = null)
    {
        options ??= new DatasetCheckOptions();
        if (!Directory.Exists(root)) throw new HeadstartException($"dataset folder '{root}' does not exist");
        root = Path.GetFullPath(root);
        var layout = DatasetLayout.Detect(root);
        var issues = new List<DatasetIssue>();
        var decode = new DecodeOptions { MaxPixels = options.MaxPixels };

        var files = layout.TrainFiles.Select(f => (f, Split: layout.HasSplitFolders ? "train" : ""))
            .Concat(layout.ValFiles.Select(f => (f, Split: "val"))).ToList();
        foreach (var u in layout.Unlisted) issues.Add(new(CheckSeverity.Warning, IssueKind.Unlisted, u.Reason, [u.Path]));

        var results = new ConcurrentBag<FileResult>();
        var images = files.Where(f => ImageDecoder.HasImageExtension(f.f.Path)).ToList();
        foreach (var (f, _) in files.Where(f => !ImageDecoder.HasImageExtension(f.f.Path)))
            issues.Add(new(CheckSeverity.Warning, IssueKind.NonImage,
                $"not an image file (extension '{Path.GetExtension(f.Path)}'); it will be ignored", [f.Path]));
        int workers = options.Workers > 0 ? options.Workers : Environment.ProcessorCount;
        var memo = options.DecodeImages || options.MemoCacheRoot is null ? null : FileCheckMemo.Open(options.MemoCacheRoot, root);
        Parallel.ForEach(images, new ParallelOptions { MaxDegreeOfParallelism = workers },
            item => results.Add(Inspect(item.f, item.Split, decode, options.DecodeImages, memo)));
        memo?.Save(images.Select(i => i.f.Path));
        var ok = results.Where(r => r.Error is null).OrderBy(r => r.Sample.Path, StringComparer.Ordinal).ToList();

        foreach (var r in results.Where(r => r.Error is not null).OrderBy(r => r.Sample.Path, StringComparer.Ordinal))
            issues.Add(new(CheckSeverity.Warning, IssueKind.Undecodable, $"cannot decode: {r.Error}; it will be skipped", [r.Sample.Path]));
        PerImage(ok, options, issues);
        Duplicates(ok, layout, issues);
        var classes = Classes(layout, ok, options, issues);

        var verdict = issues.Any(i => i.Severity == CheckSeverity.Fatal) ? DatasetVerdict.Fatal
            : issues.Any(i => i.Severity == CheckSeverity.Warning) ? DatasetVerdict.Warnings
            : DatasetVerdict.Ok;
        return new DatasetReport(root, layout.HasSplitFolders ? "folders" : "stratified", classes, files.Count, ok.Count,
            issues, verdict);
    }

    private static FileResult Inspect(ImageSample sample, string split, DecodeOptions decode, bool fullDecode, FileCheckMemo? memo)
    {
        try
        {
            var info = new FileInfo(sample.Path);
            if (IO.SpecialFiles.IsEmptyOrSpecial(sample.Path)) return new(sample, split, EncodedBytes.EmptyOrSpecial, null, null); // never open a pipe or device
            if (info.Exists && info.Length > decode.MaxFileBytes)
                return new(sample, split, $"file is {info.Length / 1e6:F0} MB, over the {decode.MaxFileBytes / 1e6:F0} MB limit", null, null);
            byte[]? bytes = null;
            if (memo is null || !memo.TryGet(sample.Path, info, out string hash, out var header))
            {
                bytes = File.ReadAllBytes(sample.Path);
                hash = Convert.ToHexString(SHA256.HashData(bytes));
                header = ImageDecoder.Probe(bytes);
                memo?.Set(sample.Path, info, hash, header);
            }
            if (header.Pixels > decode.MaxPixels)
                return new(sample, split, $"{header.Width}x{header.Height} is over the {decode.MaxPixels / 1e6:F0} MP pixel limit", null, null);
            // A full decode (every scanline, so truncation shows) at reduced scale: integrity, not pixels, matters here.
            if (fullDecode) ImageDecoder.Decode(bytes ?? File.ReadAllBytes(sample.Path), decode, minShortSide: 64);
            return new(sample, split, null, header, hash);
        }
        catch (ImageDecodeException ex) { return new(sample, split, ex.Reason, null, null); }
        catch (UnauthorizedAccessException) { return new(sample, split, "permission denied (check the file's read permission)", null, null); }
        catch (IOException ex) { return new(sample, split, $"cannot read file: {ex.Message}", null, null); }
    }

    private static void PerImage(List<FileResult> ok, DatasetCheckOptions options, List<DatasetIssue> issues)
    {
        foreach (var r in ok)
        {
            var h = r.Header!;
            if (Math.Min(h.Width, h.Height) < options.TinySide)
                issues.Add(new(CheckSeverity.Warning, IssueKind.Tiny,
                    $"tiny image {h.Width}x{h.Height} (under {options.TinySide} px); it carries little information once resized", [r.Sample.Path]));
            if (h.Pixels > options.HugePixels)
                issues.Add(new(CheckSeverity.Warning, IssueKind.Huge,
                    $"huge image {h.Width}x{h.Height} ({h.Pixels / 1e6:F0} MP); slow to decode, consider downsizing", [r.Sample.Path]));
        }
        void Group(Func<ImageHeader, bool> predicate, IssueKind kind, string what)
        {
            var paths = ok.Where(r => predicate(r.Header!)).Select(r => r.Sample.Path).ToList();
            if (paths.Count > 0) issues.Add(new(CheckSeverity.Info, kind, $"{paths.Count} {what}", paths));
        }
        Group(h => h.IsGrayscale, IssueKind.Grayscale, "grayscale image(s), converted to RGB");
        Group(h => h.IsCmyk, IssueKind.Cmyk, "CMYK JPEG(s), converted to RGB");
        Group(h => h.HasAlpha, IssueKind.Alpha, "image(s) with an alpha channel, dropped (colour kept, as PIL's convert('RGB'))");
        Group(h => h.FrameCount > 1, IssueKind.Animated, "animated image(s); only the first frame is used");
    }

    private static void Duplicates(List<FileResult> ok, DatasetLayout layout, List<DatasetIssue> issues)
    {
        foreach (var group in ok.GroupBy(r => r.Hash).Where(g => g.Count() > 1))
        {
            var paths = group.Select(r => r.Sample.Path).ToList();
            bool crossSplit = group.Select(r => r.Split).Distinct().Count() > 1;
            var labels = group.Select(r => r.Sample.Label).Distinct().ToList();
            if (labels.Count > 1)
                issues.Add(new(CheckSeverity.Warning, IssueKind.ConflictingLabels,
                    $"identical files labelled {string.Join(" and ", labels.Select(l => $"'{layout.Classes[l]}'"))}", paths));
            if (crossSplit)
                issues.Add(new(CheckSeverity.Warning, IssueKind.DuplicateAcrossSplits,
                    $"{paths.Count} identical files in both train and val: val accuracy is inflated (leak)", paths));
            else
                issues.Add(new(CheckSeverity.Warning, IssueKind.Duplicate, $"{paths.Count} identical files", paths));
        }
    }

    private static List<ClassSummary> Classes(DatasetLayout layout, List<FileResult> ok, DatasetCheckOptions options,
        List<DatasetIssue> issues)
    {
        var summaries = layout.Classes.Select((name, c) => new ClassSummary(name,
            ok.Count(r => r.Sample.Label == c && r.Split != "val"), ok.Count(r => r.Sample.Label == c && r.Split == "val"))).ToList();
        foreach (var dir in layout.EmptyClassDirs)
            issues.Add(new(CheckSeverity.Warning, IssueKind.EmptyClass, "empty class folder", [dir]));

        var usable = summaries.Where(s => s.Train > 0).ToList();
        if (usable.Count < 2)
            issues.Add(new(CheckSeverity.Fatal, IssueKind.TooFewClasses,
                $"{usable.Count} class(es) with readable training images; a classifier needs at least 2 " +
                "(one subfolder per class, optionally under train/ and val/)", []));
        foreach (var s in summaries)
        {
            if (s.Train + s.Val is > 0 and < 2)
                issues.Add(new(CheckSeverity.Warning, IssueKind.TooFewImages,
                    $"class '{s.Name}' has {s.Train + s.Val} readable image; it cannot be both trained and validated", []));
            if (layout.HasSplitFolders && s.Train == 0 && s.Val > 0)
                issues.Add(new(CheckSeverity.Warning, IssueKind.MissingFromSplit, $"class '{s.Name}' has val images but no training images", []));
            if (layout.HasSplitFolders && s.Val == 0 && s.Train > 0)
                issues.Add(new(CheckSeverity.Warning, IssueKind.MissingFromSplit, $"class '{s.Name}' has no val images", []));
        }
        if (layout.HasSplitFolders && summaries.Sum(s => s.Val) == 0 && usable.Count >= 2)
            issues.Add(new(CheckSeverity.Warning, IssueKind.NoValidation, "val/ holds no readable images: accuracy cannot be measured", []));

        var counts = usable.Select(s => s.Train + s.Val).ToList();
        if (counts.Count >= 2 && counts.Max() > options.ImbalanceRatio * counts.Min())
        {
            var most = usable.MaxBy(s => s.Train + s.Val)!;
            var least = usable.MinBy(s => s.Train + s.Val)!;
            issues.Add(new(CheckSeverity.Warning, IssueKind.ClassImbalance,
                $"class imbalance: '{most.Name}' has {most.Train + most.Val} images, '{least.Name}' {least.Train + least.Val} " +
                $"(over {options.ImbalanceRatio:0.#}x); accuracy will favour the large classes", []));
        }
        return summaries;
    }
}
