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
        var spec = ModelRegistry.Get(name);
        var p = spec.PreprocessingFor(spec.WeightSources[0]);   // the default weights'
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
        // Each source carries its own preprocessing: V2 crops 240 from 255, V1 from 256.
        var spec = ModelRegistry.Get("efficientnet_b1");
        Assert.Equal((240, 255), (spec.PreprocessingFor(sources[0]).InputSize, spec.PreprocessingFor(sources[0]).ResizeSize));
        Assert.Equal((240, 256), (spec.PreprocessingFor(sources[1]).InputSize, spec.PreprocessingFor(sources[1]).ResizeSize));
        // A user's file named like V1's gets V1's record.
        Assert.Same(sources[1], spec.SourceOf("/somewhere/efficientnet_b1_rwightman-533bc792.pth"));
    }

    /// <summary>The weights records, not the model names, say what a file is: the CNTK export has no head, its own
    /// preprocessing and runs on ONNX Runtime; torchvision files have a 1000-class head and run on TorchSharp only.</summary>
    [Fact]
    public void WeightRecordsCarryPreprocessingHeadAndEngines()
    {
        var cntk = ModelRegistry.Get("resnet18-cntk").WeightSources.Single();
        Assert.Null(cntk.HeadClasses);
        Assert.True(cntk.RunsOnOnnxRuntime);
        Assert.Equal((ChannelOrder.Bgr, 255f, "resnet18-cntk"), (cntk.Preprocessing!.ChannelOrder, cntk.Preprocessing.ValueScale, cntk.Preprocessing.MeanImage));
        Assert.Contains("Microsoft.ML.DnnImageFeaturizer.ResNet18", cntk.Origin);
        foreach (var spec in ModelRegistry.All.Where(s => s.Name != "resnet18-cntk"))
            foreach (var source in spec.WeightSources)
            {
                Assert.Equal(1000, source.HeadClasses);
                Assert.False(source.RunsOnOnnxRuntime, spec.Name);
                Assert.Equal("torchvision", source.Origin);
                Assert.NotNull(source.Sha256Prefix);
            }
        // A file the registry doesn't know takes the default source's record (preprocessing, head, engines): another
        // .onnx file given to resnet18-cntk runs on ONNX Runtime as its own embedded file does.
        var unknown = ModelRegistry.Get("resnet18-cntk").SourceOf("/tmp/my-finetuned.onnx");
        Assert.Equal(("file", WeightFormat.Onnx, true), (unknown.Id, unknown.Format, unknown.RunsOnOnnxRuntime));
        var unknownPth = ModelRegistry.Get("resnet18").SourceOf("/tmp/my-finetuned.pth");
        Assert.Equal((WeightFormat.PthZip, WeightEngines.TorchSharp, 1000), (unknownPth.Format, unknownPth.Engines, unknownPth.HeadClasses));
        Assert.Equal(cntk.Preprocessing, unknown.Preprocessing);
        Assert.Null(unknown.HeadClasses);
    }
}
