using System.IO.Compression;
using System.Text.Json;

namespace Headstart.Tests.Models;

/// <summary>
/// torchvision 0.14.1's state_dict layout (key order, names, shapes; 1000 classes) for every classification model,
/// from the embedded torchvision_state_dicts.json.gz (see generate_torchvision_state_dicts.py).
/// </summary>
internal static class TorchvisionManifest
{
    private sealed record Document(string Torchvision, Dictionary<string, JsonElement[][]> Models);

    private static readonly Lazy<(string Version, IReadOnlyDictionary<string, IReadOnlyList<(string Key, long[] Shape)>> Models)> data = new(Load);

    public static string Version => data.Value.Version;

    public static IReadOnlyDictionary<string, IReadOnlyList<(string Key, long[] Shape)>> Models => data.Value.Models;

    /// <summary>Reads an embedded test resource fully.</summary>
    public static byte[] Resource(string name)
    {
        using var stream = typeof(TorchvisionManifest).Assembly.GetManifestResourceStream(name)
            ?? throw new FileNotFoundException($"embedded test resource '{name}' is missing");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    private static (string, IReadOnlyDictionary<string, IReadOnlyList<(string, long[])>>) Load()
    {
        using var gzip = new GZipStream(new MemoryStream(Resource("torchvision_state_dicts.json.gz")), CompressionMode.Decompress);
        var doc = JsonSerializer.Deserialize<Document>(gzip, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })
            ?? throw new InvalidDataException("empty torchvision manifest");
        var models = doc.Models.ToDictionary(
            kv => kv.Key,
            kv => (IReadOnlyList<(string, long[])>)kv.Value
                .Select(e => (e[0].GetString()!, e[1].EnumerateArray().Select(d => d.GetInt64()).ToArray()))
                .ToList());
        return (doc.Torchvision, models);
    }
}
