using System.Security.Cryptography;

namespace Headstart.IO;

public static class FileHashes
{
    /// <summary>A short id for a text (the first 32 hex digits of its UTF-8 SHA-256): cache keys and file names.</summary>
    public static string OfText(string text) => Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..32];

    /// <summary>The file's SHA-256 as lower-case hex.</summary>
    public static string Sha256(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }
}
