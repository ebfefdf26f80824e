using System.Security.Cryptography;

namespace Headstart.Tests.TestSupport;

/// <summary>
/// Everything a run could change under a folder: the tree (files, folders, symlinks), and for each file its size,
/// SHA-256 and mtime. Two snapshots compare equal only if nothing was added, removed, rewritten or touched.
/// </summary>
public static class TreeSnapshot
{
    public static SortedDictionary<string, string> Take(string root)
    {
        var entries = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false };
        foreach (var info in new DirectoryInfo(root).EnumerateFileSystemInfos("*", options))
        {
            string rel = Path.GetRelativePath(root, info.FullName);
            entries[rel] = info switch
            {
                _ when info.LinkTarget is not null => $"link -> {info.LinkTarget}",
                DirectoryInfo => "dir",
                FileInfo f => $"{f.Length} bytes, sha256 {Hash(f)}, mtime {f.LastWriteTimeUtc.Ticks}",
                _ => "other",
            };
        }
        return entries;
    }

    private static string Hash(FileInfo f)
    {
        try { return Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f.FullName))); }
        catch (UnauthorizedAccessException) { return "unreadable"; }
    }
}
