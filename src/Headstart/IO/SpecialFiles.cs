namespace Headstart.IO;

/// <summary>Tells files that must not be opened from ones that can, using stat only.</summary>
internal static class SpecialFiles
{
    /// <summary>
    /// True for an empty file, and for what stat reports as empty: a named pipe (opening it blocks until a writer
    /// comes), a device such as /dev/zero or /dev/urandom (reading never ends), a socket. Symlinks are followed
    /// (FileInfo.Length of a link is the length of its target's name).
    /// </summary>
    public static bool IsEmptyOrSpecial(string path)
    {
        try
        {
            FileSystemInfo info = new FileInfo(path);
            if (info.LinkTarget is not null) info = info.ResolveLinkTarget(returnFinalTarget: true) ?? info;
            return info is FileInfo { Exists: true, Length: 0 };
        }
        catch (IOException) { return false; }                // a link loop: opening fails cleanly with ELOOP
        catch (UnauthorizedAccessException) { return false; } // opening reports it
    }
}
