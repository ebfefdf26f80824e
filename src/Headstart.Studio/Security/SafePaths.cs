namespace Headstart.Studio.Security;

/// <summary>A request named a path outside the folders the server may touch.</summary>
public sealed class PathRefusedException(string message) : Exception(message);

/// <summary>
/// Resolves a relative path from a request under one root, refusing anything that leaves it: absolute paths, "..",
/// NUL, backslashes and percent-encoded separators (a path arrives decoded once; a second encoding is an attack), and
/// symlinks (of the file or of any folder on the way) that point outside the root.
/// </summary>
public static class SafePaths
{
    public static string Resolve(string root, string? relative)
    {
        root = Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar);
        if (string.IsNullOrEmpty(relative)) return root;
        if (relative.Contains('\0') || relative.Contains('\\') || relative.Contains('%'))
            throw new PathRefusedException("the path holds a character that is not allowed (NUL, backslash or %)");
        if (Path.IsPathRooted(relative) || relative.StartsWith('~'))
            throw new PathRefusedException("absolute paths are not allowed; paths are relative to the server's root");
        var parts = relative.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Any(p => p is ".." or "."))
            throw new PathRefusedException("'..' and '.' are not allowed in paths");
        string full = Path.GetFullPath(Path.Combine([root, .. parts]));
        if (!Inside(root, full)) throw new PathRefusedException("the path leaves the server's root");
        // Every existing component on the way must stay inside once its links are followed.
        string current = root;
        foreach (var part in parts)
        {
            current = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (!info.Exists || info.LinkTarget is null) continue;
            var target = info.ResolveLinkTarget(returnFinalTarget: true)?.FullName;
            if (target is null || !Inside(root, Path.GetFullPath(target)))
                throw new PathRefusedException("the path goes through a symbolic link that leads outside the server's root");
        }
        return full;
    }

    public static bool Inside(string root, string full) =>
        full == root || full.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>A single name (a dataset, a job): letters, digits, '-', '_', '.', not starting with '.'.</summary>
    public static string Name(string? name, string what)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 100 || name.StartsWith('.') ||
            !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new PathRefusedException($"'{name}' is not a valid {what} name (letters, digits, '-', '_', '.')");
        return name;
    }
}
