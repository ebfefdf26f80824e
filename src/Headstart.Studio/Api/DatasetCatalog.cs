using Headstart.Data;
using Headstart.Studio.Security;

namespace Headstart.Studio.Api;

/// <summary>A dataset folder under the data root, as the Data page lists it.</summary>
public sealed record DatasetInfo(string Name, string Layout, IReadOnlyList<DatasetClass> Classes, int Images);

/// <summary>One class of a dataset: its images in train/ and val/ (or in its one folder).</summary>
public sealed record DatasetClass(string Name, int Train, int Val);

/// <summary>
/// The datasets under the data root: each subfolder that looks like an ImageFolder (train/ + val/ with class folders,
/// or class folders). Listing counts files by extension only (cheap); the check report reads every file.
/// </summary>
public sealed class DatasetCatalog(StudioOptions options)
{
    private string Root => Path.GetFullPath(options.DataRoot);

    public IReadOnlyList<DatasetInfo> List()
    {
        if (!Directory.Exists(Root)) return [];
        var list = new List<DatasetInfo>();
        foreach (var dir in new DirectoryInfo(Root).EnumerateDirectories().Where(d => !d.Name.StartsWith('.') && d.LinkTarget is null)
                     .OrderBy(d => d.Name, StringComparer.Ordinal))
            if (Describe(dir.FullName) is { Classes.Count: >= 2 } info) list.Add(info);
        return list;
    }

    /// <summary>The folder of dataset <paramref name="name"/>; a name that is not a dataset under the root is refused.</summary>
    public string Resolve(string name)
    {
        string path = SafePaths.Resolve(Root, SafePaths.Name(name, "dataset"));
        if (!Directory.Exists(path)) throw new HeadstartException($"no dataset named '{name}' under the data root");
        return path;
    }

    public DatasetInfo? Describe(string dir)
    {
        string train = Path.Combine(dir, "train"), val = Path.Combine(dir, "val");
        bool split = Directory.Exists(train) && Directory.Exists(val);
        var classes = split
            ? Subfolders(train).Union(Subfolders(val)).Order(StringComparer.Ordinal).ToList()
            : Subfolders(dir);
        if (classes.Count == 0) return null;
        var counted = classes.Select(c => split
            ? new DatasetClass(c, Count(Path.Combine(train, c)), Count(Path.Combine(val, c)))
            : new DatasetClass(c, Count(Path.Combine(dir, c)), 0)).ToList();
        return new DatasetInfo(Path.GetFileName(dir), split ? "folders" : "classes", counted, counted.Sum(c => c.Train + c.Val));
    }

    /// <summary>Up to <paramref name="max"/> images of one class (train first, then val), as paths relative to the dataset.</summary>
    public IReadOnlyList<string> Images(string name, string className, int max)
    {
        string dir = Resolve(name);
        SafePaths.Name(className.Replace(' ', '_'), "class");
        var folders = Directory.Exists(Path.Combine(dir, "train")) && Directory.Exists(Path.Combine(dir, "val"))
            ? new[] { Path.Combine(dir, "train", className), Path.Combine(dir, "val", className) }
            : [Path.Combine(dir, className)];
        return folders.Where(Directory.Exists)
            .SelectMany(f => Directory.EnumerateFiles(f, "*", SearchOption.AllDirectories).Where(ImageDecoder.HasImageExtension).Order(StringComparer.Ordinal))
            .Take(Math.Clamp(max, 1, 500))
            .Select(f => Path.GetRelativePath(dir, f).Replace('\\', '/'))
            .ToList();
    }

    private static List<string> Subfolders(string dir) =>
        [.. new DirectoryInfo(dir).EnumerateDirectories().Where(d => !d.Name.StartsWith('.')).Select(d => d.Name).Order(StringComparer.Ordinal)];

    private static int Count(string dir) =>
        Directory.Exists(dir) ? Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Count(ImageDecoder.HasImageExtension) : 0;
}
