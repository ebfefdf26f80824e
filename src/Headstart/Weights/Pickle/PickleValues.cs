using static TorchSharp.torch;

namespace Headstart.Weights.Pickle;

// The values the unpickler builds. Python tuples are object?[], lists List<object?>, dicts PickleDict, ints long or
// BigInteger, floats double, str string, bytes byte[], None null. Nothing here executes code: the only callables are
// the allowlisted globals of TorchGlobals, which build the records below.

/// <summary>An allowlisted global, as pushed by GLOBAL/STACK_GLOBAL.</summary>
internal sealed record PickleGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
    public override string ToString() => FullName;
}

/// <summary>A Python dict or OrderedDict, in insertion order. Keys are compared by value for str and int.</summary>
internal sealed class PickleDict
{
    private readonly List<KeyValuePair<object?, object?>> items = [];
    private readonly Dictionary<object, int> index = [];

    public IReadOnlyList<KeyValuePair<object?, object?>> Items => items;
    public int Count => items.Count;

    /// <summary>Instance state set by BUILD (e.g. a state_dict's <c>_metadata</c>); kept, never interpreted.</summary>
    public object? State { get; set; }

    public void Set(object? key, object? value)
    {
        if (key is string or long && index.TryGetValue(key, out int i)) items[i] = new(key, value);
        else
        {
            if (key is string or long) index[key] = items.Count;
            items.Add(new(key, value));
        }
    }

    public object? Get(string key) => index.TryGetValue(key, out int i) ? items[i].Value : null;
}

/// <summary>A storage named by a persistent id: where its bytes live and how many elements it holds.</summary>
/// <param name="Key">Archive entry name (zip) or object key (legacy).</param>
/// <param name="DType">Element type from the storage class (torch.FloatStorage -> Float32).</param>
/// <param name="Numel">Element count declared by the pickle.</param>
/// <param name="Root">For a legacy storage view, the storage it slices; null otherwise.</param>
/// <param name="ViewOffset">Element offset of a view inside <paramref name="Root"/>.</param>
internal sealed record StorageRef(string Key, ScalarType DType, long Numel, StorageRef? Root = null, long ViewOffset = 0);

/// <summary>A tensor to be rebuilt as a strided view of a storage (torch._utils._rebuild_tensor_v2).</summary>
internal sealed record TensorRef(StorageRef Storage, long StorageOffset, long[] Size, long[] Stride);
