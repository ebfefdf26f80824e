using System.Security.Cryptography;

namespace Headstart.IO;

public static class FileHashes
{
    /// <summary>The file's SHA-256 as lower-case hex.</summary>
    public static string Sha256(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }
}
