using System.IO.Compression;
using System.Reflection;
using System.Text.Json;
using Headstart.Models;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Models;

/// <summary>
/// The zoo families against torchvision 0.14.1's own state_dicts (keys, order and shapes, from zoo_keys.json.gz written
/// by Models/Zoo/make_zoo_keys.py), plus the registry records' layer groups and heads.
/// </summary>
public class ZooContractTests
{
    private static readonly Lazy<Dictionary<string, (string Key, long[] Shape)[]>> Torchvision = new(Load);

    public static TheoryData<string> ZooModels() => [.. Torchvision.Value.Keys];

    private static Dictionary<string, (string, long[])[]> Load()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("zoo_keys.json.gz")
            ?? throw new InvalidOperationException("zoo_keys.json.gz is not embedded in the test assembly");
        using var gz = new GZipStream(stream, CompressionMode.Decompress);
        using var doc = JsonDocument.Parse(gz);
        return doc.RootElement.GetProperty("models").EnumerateObject().ToDictionary(
            m => m.Name,
            m => m.Value.EnumerateArray()
                .Select(e => (e[0].GetString()!, e[1].EnumerateArray().Select(d => d.GetInt64()).ToArray()))
                .ToArray());
    }

    [Fact]
    public void EveryZooVariantIsRegistered()
    {
        Assert.Equal(25, Torchvision.Value.Count);
        foreach (var name in Torchvision.Value.Keys) Assert.True(ModelRegistry.TryGet(name, out _), $"{name} is not registered");
    }

    [Theory]
    [MemberData(nameof(ZooModels))]
    public void StateDictEqualsTorchvisionInKeysOrderAndShapes(string name)
    {
        var expected = Torchvision.Value[name];
        using var model = ModelRegistry.Get(name).Create();
        var actual = model.state_dict().Select(kv => (kv.Key, kv.Value.shape)).ToArray();
        for (int i = 0; i < Math.Min(expected.Length, actual.Length); i++)
        {
            Assert.True(expected[i].Key == actual[i].Key, $"{name}: key #{i} is '{actual[i].Key}', torchvision has '{expected[i].Key}'");
            Assert.True(expected[i].Shape.SequenceEqual(actual[i].shape),
                $"{name}: '{actual[i].Key}' has shape [{string.Join(", ", actual[i].shape)}], torchvision [{string.Join(", ", expected[i].Shape)}]");
        }
        Assert.Equal(expected.Length, actual.Length);
    }

    [Theory]
    [MemberData(nameof(ZooModels))]
    public void LayerGroupsPartitionTheStateDictAndTheHeadIsLast(string name)
    {
        var spec = ModelRegistry.Get(name);
        var keys = Torchvision.Value[name].Select(k => k.Key).ToArray();
        static bool Under(string key, string prefix) => key == prefix || key.StartsWith(prefix + ".", StringComparison.Ordinal);

        foreach (var key in keys)
        {
            var owners = spec.LayerGroups.Where(g => g.Prefixes.Any(p => Under(key, p))).Select(g => g.Name).ToArray();
            Assert.True(owners.Length == 1, $"{name}: '{key}' is in groups [{string.Join(", ", owners)}], expected exactly one");
        }
        foreach (var prefix in spec.LayerGroups.SelectMany(g => g.Prefixes))
            Assert.True(keys.Any(k => Under(k, prefix)), $"{name}: group prefix '{prefix}' matches no key");

        Assert.Equal([spec.ClassifierPrefix], spec.LayerGroups[^1].Prefixes);
        Assert.True(Under(spec.HeadPrefix, spec.ClassifierPrefix) || spec.HeadPrefix == spec.ClassifierPrefix);
        // The head is re-created for a new class count: its weight's first dimension is the class count.
        var headWeight = Torchvision.Value[name].Single(k => k.Key == spec.HeadPrefix + ".weight");
        Assert.Equal(1000, headWeight.Shape[0]);
    }

    [Theory]
    [MemberData(nameof(ZooModels))]
    public void WeightSourcesNameTorchvisionFilesWithTheirHashPrefix(string name)
    {
        var spec = ModelRegistry.Get(name);
        Assert.NotEmpty(spec.WeightSources);
        foreach (var w in spec.WeightSources)
        {
            Assert.Equal("https://download.pytorch.org/models/" + w.FileName, w.Url);
            Assert.Matches("^[0-9a-f]{8,10}$", w.Sha256Prefix);
            Assert.EndsWith($"-{w.Sha256Prefix}.pth", w.FileName);
            Assert.False(w.Embedded);
        }
    }

    [Theory]
    [InlineData("efficientnet_b0", 224, 256)]
    [InlineData("efficientnet_b1", 240, 255)]
    [InlineData("efficientnet_b2", 288, 288)]
    [InlineData("efficientnet_b3", 300, 320)]
    [InlineData("efficientnet_b4", 380, 384)]
    [InlineData("efficientnet_b5", 456, 456)]
    [InlineData("efficientnet_b6", 528, 528)]
    [InlineData("efficientnet_b7", 600, 600)]
    [InlineData("convnext_tiny", 224, 236)]
    [InlineData("densenet121", 224, 256)]
    public void PreprocessingFollowsTorchvisionWeightTransforms(string name, int crop, int resize)
    {
        var p = ModelRegistry.Get(name).Preprocessing;
        Assert.Equal((crop, resize), (p.InputSize, p.ResizeSize));
        Assert.Equal(Preprocessing.ImageNet.Mean, p.Mean);
        Assert.Equal(Preprocessing.ImageNet.Std, p.Std);
    }
}
