using Headstart.Weights.Pickle;
using TorchSharp;
using static TorchSharp.torch;

namespace Headstart.Weights;

/// <summary>
/// Reads PyTorch <c>torch.save</c> files of both vintages into a <see cref="StateDict"/>, without Python:
/// the zip format (PyTorch >= 1.6: <c>&lt;prefix&gt;/data.pkl</c> + <c>&lt;prefix&gt;/data/&lt;key&gt;</c>) and the legacy
/// pre-1.6 format (magic number, protocol and sys_info pickles, the main pickle, the storage key list, then raw
/// storages), which torchvision's AlexNet and VGG files still use.
/// Dtypes, shapes, strides, storage offsets and storage sharing are kept; a float16 file stays float16.
/// A checkpoint wrapping the state_dict (<c>{"state_dict": ...}</c>, <c>{"model": ...}</c>) is unwrapped and a
/// DataParallel <c>module.</c> prefix is stripped.
/// </summary>
public static partial class PthReader
{
    /// <summary>Checkpoint keys that may hold the state_dict, in the order they are tried.</summary>
    private static readonly string[] wrapperKeys =
        ["state_dict", "model_state_dict", "model", "state_dict_ema", "model_ema", "net", "network", "weights", "params"];

    private const string DataParallelPrefix = "module.";

    /// <summary>Reads a .pth/.pt file of either container format.</summary>
    /// <exception cref="WeightFileException">The file is not a readable state_dict; the message says why.</exception>
    public static StateDict Read(string path, WeightReadLimits? limits = null)
    {
        limits ??= WeightReadLimits.Default;
        using var stream = OpenRead(path);
        Span<byte> head = stackalloc byte[4];
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        if (n >= 4 && IsZip(head)) return ReadZip(stream, path, limits);
        if (n >= 2 && IsPickle(head)) return ReadLegacy(stream, path, limits);
        throw new WeightFileException($"{path}: not a PyTorch file (neither a zip archive nor a pickle)");
    }

    internal static bool IsZip(ReadOnlySpan<byte> head) => head is [(byte)'P', (byte)'K', 3, 4, ..];

    internal static bool IsPickle(ReadOnlySpan<byte> head) => head is [0x80, >= 2 and <= 5, ..];

    internal static FileStream OpenRead(string path)
    {
        // stat before open: opening a named pipe blocks until a writer comes, and a device (/dev/zero) never ends.
        if (Directory.Exists(path)) throw new WeightFileException($"{path} is a folder, not a weight file");
        if (IO.SpecialFiles.IsEmptyOrSpecial(path))
            throw new WeightFileException($"{path}: empty file (0 bytes), or not a regular file (pipe, device)");
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new WeightFileException($"weight file not found: {path}", ex);
        }
    }

    /// <summary>Finds the state_dict in the unpickled object and materialises its tensors.</summary>
    private static StateDict Build(object? root, string source, string format, WeightReadLimits limits,
        Func<IReadOnlyCollection<StorageRef>, Dictionary<string, Tensor>> loadStorages)
    {
        var (entries, wrapper) = Select(root, source);
        var prefix = entries.Count > 0 && entries.All(e => e.Key.StartsWith(DataParallelPrefix, StringComparison.Ordinal))
            ? DataParallelPrefix : null;

        long total = 0;
        foreach (var (key, t) in entries) total = CheckTensor(key, t, total, source, limits);

        var roots = entries.Select(e => e.Value.Storage.Root ?? e.Value.Storage).DistinctBy(s => s.Key).ToList();
        var storages = loadStorages(roots);
        var dict = new StateDict();
        try
        {
            foreach (var (key, t) in entries)
            {
                var owner = t.Storage.Root ?? t.Storage;
                long offset = t.Storage.ViewOffset + t.StorageOffset; // a legacy storage view starts inside its root
                // A strided view of the shared storage: tensors that shared memory in PyTorch still do.
                dict.Add(prefix is null ? key : key[prefix.Length..], storages[owner.Key].as_strided(t.Size, t.Stride, offset));
            }
        }
        catch
        {
            dict.Dispose();
            throw;
        }
        finally
        {
            foreach (var s in storages.Values) s.Dispose(); // the views keep the memory alive
        }
        dict.Metadata["container"] = format;
        dict.Metadata["source"] = source;
        if (wrapper is not null) dict.Metadata["checkpoint_key"] = wrapper;
        if (prefix is not null) dict.Metadata["stripped_prefix"] = prefix;
        return dict;
    }

    /// <summary>The (name, tensor) entries of the state_dict, unwrapping a checkpoint dict when needed.</summary>
    private static (List<KeyValuePair<string, TensorRef>> Entries, string? Wrapper) Select(object? root, string source)
    {
        if (root is TensorRef)
            throw new WeightFileException($"{source}: the file holds a single tensor, not a state_dict");
        if (root is not PickleDict dict)
            throw new WeightFileException($"{source}: the file holds a {PickleReader.Describe(root)}, not a state_dict (a dict of tensors)");
        if (HasTensors(dict)) return (Entries(dict, source), null);
        foreach (var key in wrapperKeys)
            if (dict.Get(key) is PickleDict inner && HasTensors(inner)) return (Entries(inner, source), key);
        var keys = string.Join(", ", dict.Items.Select(kv => $"'{kv.Key}'").Take(10));
        throw new WeightFileException(
            $"{source}: no tensors found. The top-level dict has keys [{keys}] and none of them is a state_dict " +
            $"(tried {string.Join(", ", wrapperKeys)})");
    }

    private static bool HasTensors(PickleDict dict) => dict.Items.Any(kv => kv.Value is TensorRef);

    private static List<KeyValuePair<string, TensorRef>> Entries(PickleDict dict, string source)
    {
        var list = new List<KeyValuePair<string, TensorRef>>(dict.Count);
        foreach (var (key, value) in dict.Items)
        {
            if (value is not TensorRef t) continue; // e.g. a stray int; torch's load_state_dict would choke on it too
            if (key is not string name) throw new WeightFileException($"{source}: state_dict key {PickleReader.Describe(key)} is not a string");
            list.Add(new(name, t));
        }
        return list;
    }

    /// <summary>Checks a tensor's view fits its storage and its size is sane; returns the running byte total.</summary>
    private static long CheckTensor(string key, TensorRef t, long total, string source, WeightReadLimits limits)
    {
        try
        {
            if (t.Size.Length != t.Stride.Length) throw Bad("size and stride have different lengths");
            if (t.StorageOffset < 0 || t.Size.Any(s => s < 0) || t.Stride.Any(s => s < 0)) throw Bad("negative size, stride or offset");
            long numel = 1, extent = t.StorageOffset + 1;
            for (int i = 0; i < t.Size.Length; i++)
            {
                numel = checked(numel * t.Size[i]);
                if (t.Size[i] > 0) extent = checked(extent + (t.Size[i] - 1) * t.Stride[i]);
            }
            if (numel > 0 && extent > t.Storage.Numel)
                throw Bad($"view needs {extent} elements but its storage holds {t.Storage.Numel}");
            long bytes = checked(numel * DTypes.ElementSize(t.Storage.DType));
            total = checked(total + bytes);
            if (total > limits.MaxTotalBytes) throw Bad($"tensors exceed the {limits.MaxTotalBytes} byte limit");
            return total;
        }
        catch (OverflowException)
        {
            throw Bad("absurd size (arithmetic overflow)");
        }

        WeightFileException Bad(string what) => new($"{source}: tensor '{key}' (size [{string.Join(", ", t.Size)}], " +
            $"stride [{string.Join(", ", t.Stride)}], offset {t.StorageOffset}): {what}");
    }

    /// <summary>Decodes a storage's persistent-id fields shared by both formats.</summary>
    private static (ScalarType DType, string Key, long Numel) StorageFields(object? type, object? key, object? numel, string source)
    {
        if (type is not PickleGlobal { Module: "torch" } g || !DTypes.StorageTypes.TryGetValue(g.Name, out var dtype))
            throw new WeightFileException($"{source}: unknown storage type {PickleReader.Describe(type)}");
        var name = key switch
        {
            string s => s,
            byte[] b => System.Text.Encoding.ASCII.GetString(b),
            _ => throw new WeightFileException($"{source}: storage key is a {PickleReader.Describe(key)}, not a string"),
        };
        if (name.Length is 0 or > 256 || name.Contains('/') || name.Contains('\\') || name.Contains(".."))
            throw new WeightFileException($"{source}: invalid storage key '{name[..Math.Min(name.Length, 40)]}'");
        if (numel is not long count || count < 0)
            throw new WeightFileException($"{source}: storage '{name}' has an invalid element count");
        return (dtype, name, count);
    }
}
