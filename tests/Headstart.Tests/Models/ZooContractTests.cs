using Headstart.Models;
using Xunit;

namespace Headstart.Tests.Models;

/// <summary>
/// Registry records of the zoo families (SqueezeNet, DenseNet, EfficientNet, ConvNeXt, ShuffleNet V2, MNASNet).
/// Keys, shapes, layer groups and heads are checked for every registry model by <see cref="RegistryContractTests"/>.
/// </summary>
public class ZooContractTests
{
    public static TheoryData<string> ZooModels =>
    [
        "squeezenet1_0", "squeezenet1_1", "densenet121", "densenet161", "densenet169", "densenet201",
        "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
        "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
        "convnext_tiny", "convnext_small", "convnext_base",
        "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
        "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
    ];

    [Theory]
    [MemberData(nameof(ZooModels))]
    public void IsRegisteredAndIsATorchvisionModel(string name)
    {
        Assert.True(ModelRegistry.TryGet(name, out _), $"{name} is not registered");
        Assert.Contains(name, TorchvisionManifest.Models.Keys);
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
    [InlineData("convnext_small", 224, 230)]
    [InlineData("convnext_base", 224, 232)]
    [InlineData("shufflenet_v2_x2_0", 224, 232)]
    [InlineData("mnasnet1_3", 224, 232)]
    [InlineData("densenet121", 224, 256)]
    [InlineData("squeezenet1_1", 224, 256)]
    public void PreprocessingFollowsTorchvisionWeightTransforms(string name, int crop, int resize)
    {
        var p = ModelRegistry.Get(name).Preprocessing;
        Assert.Equal((crop, resize), (p.InputSize, p.ResizeSize));
        Assert.Equal(Preprocessing.ImageNet.Mean, p.Mean);
        Assert.Equal(Preprocessing.ImageNet.Std, p.Std);
    }

    [Fact]
    public void EfficientNetB1DefaultsToTorchvisionsV2Weights()
    {
        var sources = ModelRegistry.Get("efficientnet_b1").WeightSources;
        Assert.Equal(["IMAGENET1K_V2", "IMAGENET1K_V1"], sources.Select(s => s.Id));
        Assert.Equal("efficientnet_b1-c27df63c.pth", sources[0].FileName);
    }
}
