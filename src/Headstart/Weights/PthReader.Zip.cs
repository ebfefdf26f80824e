using System.IO.Compression;
using Headstart.Weights.Pickle;
using static TorchSharp.torch;

namespace Headstart.Weights;

public static partial class PthReader
{
    /// <summary>
    /// The zip container: <c>&lt;prefix&gt;/data.pkl</c> names storages by key, each stored in
    /// <c>&lt;prefix&gt;/data/&lt;key&gt;</c>. Sizes declared by the archive are checked against the pickle and the file
    /// before anything is allocated, and entries are read to their declared length only (zip bombs fail cleanly).
    /// </summary>
    private static StateDict ReadZip(FileStream stream, string source, WeightReadLimits limits)
    {
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException ex)
        {
            throw new WeightFileException($"{source}: corrupt zip archive: {ex.Message}", ex);
        }
        using (zip)
        {
            try
            {
                return ReadArchive(zip, stream.Length, source, limits);
            }
            catch (InvalidDataException ex)
            {
                throw new WeightFileException($"{source}: corrupt zip archive: {ex.Message}", ex);
            }
        }
    }

    private static StateDict ReadArchive(ZipArchive zip, long fileLength, string source, WeightReadLimits limits)
    {
        var pickles = zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal)
                                             && e.FullName.Count(c => c == '/') == 1).ToList();
        if (pickles.Count != 1)
        {
            bool script = zip.Entries.Any(e => e.FullName.EndsWith("/constants.pkl", StringComparison.Ordinal));
            throw new WeightFileException(script
                ? $"{source}: this is a TorchScript archive (torch.jit.save), not a state_dict; save model.state_dict() with torch.save"
                : $"{source}: zip archive without exactly one '<prefix>/data.pkl' ({pickles.Count} found): not a PyTorch checkpoint");
        }
        string prefix = pickles[0].FullName[..^"data.pkl".Length];

        if (zip.GetEntry(prefix + "byteorder") is { } order)
        {
            var text = ReadSmallEntry(order, 16, fileLength, source, limits).Trim();
            if (text != "little") throw new WeightFileException($"{source}: byte order '{text}' is not supported (little only)");
        }

        var pickleBytes = ReadSmallBytes(pickles[0], limits.MaxPickleBytes, fileLength, source, limits);
        var refs = new Dictionary<string, StorageRef>(StringComparer.Ordinal);
        object? root;
        using (var ms = new MemoryStream(pickleBytes, writable: false))
            root = PickleReader.Load(ms, $"{source}:{pickles[0].FullName}", limits, pid => ZipPersistentLoad(pid, refs, source));

        return Build(root, source, "pth-zip", limits, roots =>
        {
            var loaded = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            try
            {
                foreach (var storage in roots)
                {
                    var entry = zip.GetEntry($"{prefix}data/{storage.Key}")
                                ?? throw new WeightFileException($"{source}: storage '{storage.Key}' is missing from the archive ({prefix}data/{storage.Key})");
                    long nbytes = checked(storage.Numel * DTypes.ElementSize(storage.DType));
                    if (entry.Length != nbytes)
                        throw new WeightFileException($"{source}: entry {entry.FullName} holds {entry.Length} bytes but the pickle " +
                                                      $"declares {storage.Numel} x {DTypes.Name(storage.DType)} = {nbytes} bytes");
                    CheckEntry(entry, fileLength, source, limits);
                    using var data = entry.Open();
                    loaded.Add(storage.Key, TensorIO.ReadNew(data, storage.DType, storage.Numel, $"{source}:{entry.FullName}"));
                    if (data.ReadByte() >= 0)
                        throw new WeightFileException($"{source}: entry {entry.FullName} inflates past its declared size (zip bomb?)");
                }
                return loaded;
            }
            catch
            {
                foreach (var t in loaded.Values) t.Dispose();
                throw;
            }
        });
    }

    /// <summary>Zip persistent ids: ('storage', storage_type, key, location, numel).</summary>
    private static StorageRef ZipPersistentLoad(object? pid, Dictionary<string, StorageRef> refs, string source)
    {
        if (pid is not object?[] { Length: 5 } t || t[0] is not "storage")
            throw new WeightFileException($"{source}: unexpected persistent id {PickleReader.Describe(pid)} (expected a storage)");
        var (dtype, key, numel) = StorageFields(t[1], t[2], t[4], source);
        if (refs.TryGetValue(key, out var existing))
        {
            if (existing.DType != dtype || existing.Numel != numel)
                throw new WeightFileException($"{source}: storage '{key}' is referenced with two different dtypes or sizes");
            return existing;
        }
        return refs[key] = new StorageRef(key, dtype, numel);
    }

    /// <summary>Refuses entries whose declared sizes do not fit the file or inflate suspiciously.</summary>
    private static void CheckEntry(ZipArchiveEntry entry, long fileLength, string source, WeightReadLimits limits)
    {
        if (entry.CompressedLength > fileLength)
            throw new WeightFileException($"{source}: entry {entry.FullName} claims {entry.CompressedLength} compressed bytes, more than the file holds");
        if (entry.Length > limits.MaxTotalBytes)
            throw new WeightFileException($"{source}: entry {entry.FullName} declares {entry.Length} bytes, over the {limits.MaxTotalBytes} byte limit");
        if (entry.Length > 1 << 20 && entry.Length > entry.CompressedLength * limits.MaxCompressionRatio)
            throw new WeightFileException($"{source}: entry {entry.FullName} inflates {entry.CompressedLength} bytes to {entry.Length} " +
                                          $"(ratio over {limits.MaxCompressionRatio}): refused as a likely zip bomb");
    }

    private static byte[] ReadSmallBytes(ZipArchiveEntry entry, long max, long fileLength, string source, WeightReadLimits limits)
    {
        if (entry.Length > max)
            throw new WeightFileException($"{source}: {entry.FullName} declares {entry.Length} bytes, over the {max} byte limit");
        CheckEntry(entry, fileLength, source, limits);
        var bytes = new byte[entry.Length];
        using var s = entry.Open();
        try
        {
            s.ReadExactly(bytes);
        }
        catch (EndOfStreamException ex)
        {
            throw new WeightFileException($"{source}: {entry.FullName} is shorter than declared (corrupt archive)", ex);
        }
        if (s.ReadByte() >= 0) throw new WeightFileException($"{source}: {entry.FullName} inflates past its declared size (zip bomb?)");
        return bytes;
    }

    private static string ReadSmallEntry(ZipArchiveEntry entry, long max, long fileLength, string source, WeightReadLimits limits) =>
        System.Text.Encoding.ASCII.GetString(ReadSmallBytes(entry, max, fileLength, source, limits));
}
