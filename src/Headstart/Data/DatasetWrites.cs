namespace Headstart.Data;

/// <summary>
/// Headstart never writes under a dataset folder: a bundle, cache or report there would also be scanned as a class
/// folder by the next run, and a bundle folder that holds the dataset would take it with it when it is replaced. The one
/// rule for the library (ModelBundle.Save) and the CLI's pre-flight checks.
/// </summary>
public static class DatasetWrites
{
    /// <summary>Why writing <paramref name="path"/> would touch the dataset at <paramref name="datasetRoot"/>, or null
    /// when it would not. <paramref name="replacesFolder"/>: the write replaces the whole folder (a bundle).</summary>
    public static string? Conflict(string datasetRoot, string path, bool replacesFolder = false)
    {
        if (!Directory.Exists(datasetRoot)) return null;
        string root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(datasetRoot)) + Path.DirectorySeparatorChar;
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)) + Path.DirectorySeparatorChar;
        if (full.StartsWith(root, StringComparison.Ordinal))
            return $"{Path.GetFullPath(path)} is inside the dataset folder {root}; Headstart never writes there";
        if (replacesFolder && root.StartsWith(full, StringComparison.Ordinal))
            return $"{Path.GetFullPath(path)} contains the dataset folder {root}; saving would replace it";
        return null;
    }

    /// <summary>Throws a <see cref="HeadstartException"/> naming the conflict, if there is one.</summary>
    public static void Refuse(string datasetRoot, string path, string what, bool replacesFolder = false)
    {
        if (Conflict(datasetRoot, path, replacesFolder) is { } why)
            throw new HeadstartException($"{what} {why}: choose a path outside the dataset");
    }
}
