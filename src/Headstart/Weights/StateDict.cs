using System.Collections;
using static TorchSharp.torch;

namespace Headstart.Weights;

/// <summary>
/// An ordered state_dict: parameter/buffer names (torchvision keys) to tensors, in file order.
/// Owns its tensors: disposing the StateDict disposes them.
/// </summary>
public sealed class StateDict : IReadOnlyCollection<KeyValuePair<string, Tensor>>, IDisposable
{
    private readonly List<string> order = [];
    private readonly Dictionary<string, Tensor> tensors = new(StringComparer.Ordinal);

    /// <summary>Free-form metadata: "container" (pth-zip, pth-legacy, safetensors), "source" (the file) and a safetensors file's __metadata__.</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    public int Count => order.Count;
    public IReadOnlyList<string> Keys => order;
    public Tensor this[string key] => tensors[key];
    public bool ContainsKey(string key) => tensors.ContainsKey(key);
    public bool TryGetValue(string key, out Tensor tensor) => tensors.TryGetValue(key, out tensor!);

    /// <summary>Adds a tensor; a duplicate name is an error (a well-formed state_dict has unique keys).</summary>
    public void Add(string key, Tensor tensor)
    {
        if (!tensors.TryAdd(key, tensor)) throw new WeightFileException($"duplicate state_dict key '{key}'");
        order.Add(key);
    }

    /// <summary>Removes and returns a tensor (ownership passes to the caller).</summary>
    public bool Remove(string key, out Tensor tensor)
    {
        if (!tensors.Remove(key, out tensor!)) return false;
        order.Remove(key);
        return true;
    }

    public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator()
    {
        foreach (var k in order) yield return new(k, tensors[k]);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public void Dispose()
    {
        foreach (var t in tensors.Values) t.Dispose();
        tensors.Clear();
        order.Clear();
    }
}
