namespace Headstart.IO;

/// <summary>
/// Atomic outputs: write into a temp sibling, then rename into place. A run killed at any moment leaves the previous
/// good output intact, plus at most a temp leftover that <see cref="CleanLeftovers"/> removes on the next run.
/// </summary>
public static class AtomicFiles
{
    private const string TmpMarker = ".tmp-", OldMarker = ".old-";

    /// <summary>Writes a file atomically: <paramref name="write"/> fills a temp file that is then renamed over the target.</summary>
    public static void WriteFile(string path, Action<Stream> write)
    {
        path = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string tmp = $"{path}{TmpMarker}{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public static void WriteAllText(string path, string text) =>
        WriteFile(path, s => { using var w = new StreamWriter(s, leaveOpen: true); w.Write(text); });

    /// <summary>
    /// Builds a directory atomically: <paramref name="build"/> fills a temp sibling directory, which then replaces
    /// <paramref name="dir"/> (the old one is moved aside first and deleted last).
    /// </summary>
    public static void WriteDirectory(string dir, Action<string> build)
    {
        dir = Path.GetFullPath(dir.TrimEnd(Path.DirectorySeparatorChar));
        string parent = Path.GetDirectoryName(dir)!;
        Directory.CreateDirectory(parent);
        CleanLeftovers(dir);
        string tmp = $"{dir}{TmpMarker}{Environment.ProcessId}-{Guid.NewGuid():N}";
        Directory.CreateDirectory(tmp);
        try
        {
            build(tmp);
            string? old = null;
            if (Directory.Exists(dir))
            {
                old = $"{dir}{OldMarker}{Environment.ProcessId}-{Guid.NewGuid():N}";
                Directory.Move(dir, old);
            }
            Directory.Move(tmp, dir);
            if (old is not null) Directory.Delete(old, recursive: true);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
    }

    /// <summary>
    /// Removes temp leftovers of killed runs next to <paramref name="target"/>. If the target itself is missing but an
    /// ".old-" copy exists (killed between the two renames), that copy is restored first.
    /// </summary>
    public static void CleanLeftovers(string target)
    {
        target = Path.GetFullPath(target.TrimEnd(Path.DirectorySeparatorChar));
        string parent = Path.GetDirectoryName(target)!;
        if (!Directory.Exists(parent)) return;
        string name = Path.GetFileName(target);
        foreach (var entry in Directory.EnumerateFileSystemEntries(parent, name + ".*"))
        {
            string rest = Path.GetFileName(entry)[name.Length..];
            if (rest.StartsWith(OldMarker, StringComparison.Ordinal) && !Path.Exists(target) && Directory.Exists(entry))
            {
                Directory.Move(entry, target);
                continue;
            }
            if (!rest.StartsWith(TmpMarker, StringComparison.Ordinal) && !rest.StartsWith(OldMarker, StringComparison.Ordinal)) continue;
            try
            {
                if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
            }
            catch (IOException) { /* another run may own it; leave it */ }
        }
    }
}
