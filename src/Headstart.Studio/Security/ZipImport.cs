using System.IO.Compression;

namespace Headstart.Studio.Security;

/// <summary>An upload that is refused: too big, too many files, a zip bomb, an entry that would land outside its folder.</summary>
public sealed class UploadRefusedException(string message) : Exception(message);

/// <summary>
/// Unpacks an uploaded zip of an ImageFolder into a new folder, refusing before anything is written when an entry's
/// name leaves the folder (zip-slip: "..", absolute, backslashes, drive letters) or names a link, when there are too many
/// entries, or when the declared sizes add up to too much or an entry expands beyond the compression-ratio limit (a
/// zip bomb). Sizes are checked again while writing, since a forged header can understate them. On any failure the
/// half-written folder is removed.
/// </summary>
public static class ZipImport
{
    public static int Unpack(Stream zip, string target, StudioOptions limits)
    {
        if (Directory.Exists(target) || File.Exists(target)) throw new UploadRefusedException($"a dataset named '{Path.GetFileName(target)}' already exists");
        ZipArchive archive;
        try { archive = new ZipArchive(zip, ZipArchiveMode.Read, leaveOpen: true); }
        catch (InvalidDataException ex) { throw new UploadRefusedException($"not a readable zip file: {ex.Message}"); }
        using (archive)
        {
            var files = archive.Entries.Where(e => !e.FullName.EndsWith('/')).ToList();
            if (files.Count > limits.MaxUploadFiles)
                throw new UploadRefusedException($"the zip holds {files.Count} files; at most {limits.MaxUploadFiles} are accepted");
            long declared = 0;
            foreach (var e in archive.Entries)
            {
                CheckName(e.FullName);
                // Unix mode bits in the high word of the external attributes: S_IFLNK (0o120000) is a symbolic link.
                if (((e.ExternalAttributes >> 16) & 0xF000) == 0xA000)
                    throw new UploadRefusedException($"'{e.FullName}' is a symbolic link; links are not accepted");
                declared += e.Length;
                if (e.CompressedLength > 0 && e.Length / e.CompressedLength > limits.MaxCompressionRatio && e.Length > 1 << 20)
                    throw new UploadRefusedException($"'{e.FullName}' would expand {e.Length / e.CompressedLength}x ({e.Length:N0} bytes): refused as a zip bomb");
            }
            if (declared > limits.MaxUnpackedBytes)
                throw new UploadRefusedException($"the zip unpacks to {declared:N0} bytes; at most {limits.MaxUnpackedBytes:N0} are accepted");

            string tmp = target + ".uploading-" + Guid.NewGuid().ToString("N")[..8];
            Directory.CreateDirectory(tmp);
            try
            {
                long written = 0;
                var buffer = new byte[81920];
                foreach (var e in files)
                {
                    string path = SafePaths.Resolve(tmp, e.FullName.TrimStart('/'));
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    using var input = e.Open();
                    using var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
                    long entryBytes = 0;
                    int n;
                    while ((n = input.Read(buffer)) > 0)
                    {
                        entryBytes += n;
                        written += n;
                        // The header's sizes can lie: the bytes actually unpacked are what count.
                        if (written > limits.MaxUnpackedBytes || entryBytes > e.Length + (1 << 16))
                            throw new UploadRefusedException($"'{e.FullName}' unpacks to more than its header declares: refused as a zip bomb");
                        output.Write(buffer, 0, n);
                    }
                }
                Directory.Move(tmp, target);
                return files.Count;
            }
            catch
            {
                Directory.Delete(tmp, recursive: true);
                throw;
            }
        }
    }

    private static void CheckName(string name)
    {
        if (name.Contains('\\') || name.Contains('\0') || name.Contains(':') || name.StartsWith('/') ||
            name.Split('/').Any(p => p == ".."))
            throw new UploadRefusedException($"the zip entry '{name}' would be written outside the dataset's folder (zip-slip): refused");
    }
}
