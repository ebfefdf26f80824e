using System.Buffers.Binary;
using System.Numerics;
using Headstart.Weights.Pickle;
using static TorchSharp.torch;

namespace Headstart.Weights;

public static partial class PthReader
{
    /// <summary>torch/serialization.py's MAGIC_NUMBER, the first pickle of a legacy file.</summary>
    private static readonly BigInteger LegacyMagic = BigInteger.Parse("119547037146038801333356");
    private const long LegacyProtocol = 1001;

    /// <summary>
    /// The legacy container (torch.save before 1.6): five things back to back in one file.
    /// 1. magic number pickle; 2. protocol version pickle (1001); 3. sys_info pickle (endianness, type sizes);
    /// 4. the main pickle, whose persistent ids ('storage', type, key, location, numel, view) name storages;
    /// 5. the pickled list of storage keys, then per key an int64 element count followed by the raw bytes.
    /// </summary>
    private static StateDict ReadLegacy(FileStream stream, string source, WeightReadLimits limits)
    {
        var magic = PickleReader.Load(stream, source, limits);
        if (!(magic is BigInteger m && m == LegacyMagic))
            throw new WeightFileException($"{source}: a pickle, but not a torch.save file (magic number missing); " +
                                          "plain pickles of tensors are not supported");
        if (PickleReader.Load(stream, source, limits) is not LegacyProtocol)
            throw new WeightFileException($"{source}: unsupported legacy protocol version (expected {LegacyProtocol})");
        if (PickleReader.Load(stream, source, limits) is PickleDict sysInfo && sysInfo.Get("little_endian") is false)
            throw new WeightFileException($"{source}: saved on a big-endian machine; only little-endian files are supported");

        var refs = new Dictionary<string, StorageRef>(StringComparer.Ordinal);
        var root = PickleReader.Load(stream, source, limits, pid => LegacyPersistentLoad(pid, refs, source));
        if (PickleReader.Load(stream, source, limits) is not List<object?> keyList)
            throw new WeightFileException($"{source}: the storage key list is missing or malformed");
        var keys = keyList.Select(k => k as string ?? throw new WeightFileException($"{source}: storage key is not a string")).ToList();
        long dataStart = stream.Position;

        return Build(root, source, "pth-legacy", limits, roots =>
        {
            var wanted = roots.ToDictionary(r => r.Key, StringComparer.Ordinal);
            var loaded = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            try
            {
                stream.Position = dataStart;
                Span<byte> countBytes = stackalloc byte[8];
                foreach (var key in keys)
                {
                    if (!refs.TryGetValue(key, out var storage))
                        throw new WeightFileException($"{source}: storage '{key}' is listed but never referenced by the pickle");
                    try
                    {
                        stream.ReadExactly(countBytes);
                    }
                    catch (EndOfStreamException ex)
                    {
                        throw new WeightFileException($"{source}: storage data ends early (the file is truncated)", ex);
                    }
                    long count = BinaryPrimitives.ReadInt64LittleEndian(countBytes);
                    if (count != storage.Numel)
                        throw new WeightFileException($"{source}: storage '{key}' holds {count} elements but the pickle declares {storage.Numel}");
                    long nbytes = checked(count * DTypes.ElementSize(storage.DType));
                    if (nbytes > stream.Length - stream.Position)
                        throw new WeightFileException($"{source}: storage '{key}' needs {nbytes} bytes but only " +
                                                      $"{stream.Length - stream.Position} remain (the file is truncated)");
                    if (wanted.ContainsKey(key) && !loaded.ContainsKey(key))
                        loaded.Add(key, TensorIO.ReadNew(stream, storage.DType, count, source));
                    else
                        stream.Seek(nbytes, SeekOrigin.Current); // not part of the state_dict (e.g. optimizer state)
                }
                var absent = wanted.Keys.FirstOrDefault(k => !loaded.ContainsKey(k));
                if (absent is not null) throw new WeightFileException($"{source}: storage '{absent}' has no data in the file");
                return loaded;
            }
            catch
            {
                foreach (var t in loaded.Values) t.Dispose();
                throw;
            }
        });
    }

    /// <summary>
    /// Legacy persistent ids: ('storage', storage_type, root_key, location, numel, view_metadata) where view_metadata is
    /// None or (view_key, element_offset, view_numel); ('module', ...) marks a pickled nn.Module.
    /// </summary>
    private static StorageRef LegacyPersistentLoad(object? pid, Dictionary<string, StorageRef> refs, string source)
    {
        if (pid is object?[] { Length: > 0 } t && t[0] is "module")
            throw new WeightFileException($"{source}: the file is a whole pickled model (torch.save(model)), not a state_dict; " +
                                          "re-save it with torch.save(model.state_dict())");
        if (pid is not object?[] { Length: 6 } p || p[0] is not "storage")
            throw new WeightFileException($"{source}: unexpected persistent id {PickleReader.Describe(pid)} (expected a storage)");
        var (dtype, key, numel) = StorageFields(p[1], p[2], p[4], source);
        if (refs.TryGetValue(key, out var root))
        {
            if (root.DType != dtype || root.Numel != numel)
                throw new WeightFileException($"{source}: storage '{key}' is referenced with two different dtypes or sizes");
        }
        else refs[key] = root = new StorageRef(key, dtype, numel);

        if (p[5] is null) return root;
        if (p[5] is not object?[] { Length: 3 } view || view[0] is not string viewKey || view[1] is not long offset || view[2] is not long size
            || offset < 0 || size < 0 || offset > numel - size)
            throw new WeightFileException($"{source}: malformed storage view of '{key}'");
        return new StorageRef(viewKey, dtype, size, root, offset);
    }
}
