using Google.Protobuf;
using Headstart.Onnx;
using Headstart.Weights;
using Xunit;

namespace Headstart.Tests.Weights;

/// <summary>The importer's checks: a graph that would compute something else than torchvision's ResNet is refused.</summary>
public sealed class OnnxResNetImporterTests
{
    private static readonly Lazy<byte[]> cntkBytes = new(() => File.ReadAllBytes(EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNet18)));

    private static ModelProto Cntk() => ModelProto.Parser.ParseFrom(cntkBytes.Value);

    private static string Import(ModelProto model)
    {
        var e = Assert.Throws<FormatException>(() => OnnxResNetImporter.Import(model, "."));
        return e.Message;
    }

    [Fact]
    public void AsymmetricCntkPads_AreAccepted_AsTorchvisionWindows()
    {
        var model = Cntk();
        Assert.Equal([3L, 3, 2, 2], model.Graph.Node.First(n => n.OpType == "Conv").Ints("pads", []));
        using var result = OnnxResNetImporter.Import(model, ".").State;
        // conv1 + bn1 (1 + 5), 9 blocks x (2 convs + 2 BNs) = 9 x 12, 3 downsamples x (1 + 5).
        Assert.Equal(6 + 9 * 12 + 3 * 6, result.Count);
    }

    [Fact]
    public void APadThatShiftsTheWindows_IsRefused()
    {
        var model = Cntk();
        var conv1 = model.Graph.Node.First(n => n.OpType == "Conv");
        var pads = conv1.Attribute.Single(a => a.Name == "pads");
        pads.Ints.Clear();
        pads.Ints.Add([2, 2, 3, 3]);   // same output size, windows shifted by one pixel
        Assert.Contains("sample other windows", Import(model));
    }

    [Fact]
    public void ANonTorchvisionEpsilon_IsRefused()
    {
        var model = Cntk();
        model.Graph.Node.Last(n => n.OpType == "BatchNormalization").Attribute.Single(a => a.Name == "epsilon").F = 1e-3f;
        Assert.Contains("epsilon", Import(model));
    }

    [Fact]
    public void ImportFollowsTopology_NotInitializerNames()
    {
        // Renaming every initializer (and its uses) must not change the import.
        var model = Cntk();
        var rename = model.Graph.Initializer.Select((t, i) => (t.Name, New: $"w{model.Graph.Initializer.Count - i}"))
            .ToDictionary(p => p.Name, p => p.New);
        foreach (var t in model.Graph.Initializer) t.Name = rename[t.Name];
        foreach (var v in model.Graph.Input.Where(v => rename.ContainsKey(v.Name))) v.Name = rename[v.Name];
        foreach (var n in model.Graph.Node)
            for (int i = 0; i < n.Input.Count; i++)
                if (rename.TryGetValue(n.Input[i], out var name)) n.Input[i] = name;
        var reversed = model.Graph.Initializer.Reverse().ToList();
        model.Graph.Initializer.Clear();
        model.Graph.Initializer.Add(reversed);

        using var original = OnnxResNetImporter.Import(Cntk(), ".").State;
        using var renamed = OnnxResNetImporter.Import(model, ".").State;
        Assert.Equal(original.Keys, renamed.Keys);
        foreach (var key in original.Keys) Assert.True(original[key].equal(renamed[key]).all().item<bool>(), key);
    }
}
