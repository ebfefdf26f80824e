using Headstart.Bundles;
using Headstart.Data;
using Headstart.Inference;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Headstart.Weights;
using Xunit;

namespace Headstart.Tests.Bundles;

/// <summary>
/// A frozen run's bundle keeps the pretrained weights file as it is plus the trained head, instead of rewriting the
/// 64 MB backbone: it must predict exactly like a bundle holding the whole network, and refuse a missing or swapped
/// backbone file.
/// </summary>
[Collection(GlobalRngCollection.Name)]
public class FrozenBackboneBundleTests : IClassFixture<FrozenBackboneBundleTests.Trained>
{
    public sealed class Trained : IDisposable
    {
        public readonly TempDir Dir = new("frozen-bundle");
        public readonly string Split, Full, Data;

        public Trained()
        {
            Data = Dir.Combine("data");
            SyntheticImages.WriteImageFolder(Data, classes: 2, trainPerClass: 6, valPerClass: 3);
            var data = ImageFolder.Load(Data);
            using var result = new TransferTrainer().Train(data, new TrainOptions { Epochs = 3, CacheDir = Dir.Combine("cache") });
            Assert.NotNull(result.Backbone);
            Split = Dir.Combine("split");
            ModelBundle.Save(Split, result);                                  // backbone file + head
            Full = Dir.Combine("full");
            ModelBundle.Save(Full, result.Model, result.Manifest);           // the whole network (imports the backbone)
        }

        public void Dispose() => Dir.Dispose();
    }

    private readonly Trained fx;
    public FrozenBackboneBundleTests(Trained fx) => this.fx = fx;

    [Fact]
    public void SplitBundleHoldsTheBackboneFileAndOnlyTheHead()
    {
        var m = ModelBundle.ReadManifest(fx.Split);
        Assert.Equal("backbone.onnx", m.BackboneFile);
        Assert.Equal(5, m.FrozenGroups);
        using var head = Safetensors.Read(Path.Combine(fx.Split, m.WeightsFile));
        Assert.Equal(["fc.bias", "fc.weight"], head.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(File.ReadAllBytes(EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNet18)), File.ReadAllBytes(Path.Combine(fx.Split, "backbone.onnx")));
        Assert.Null(ModelBundle.ReadManifest(fx.Full).BackboneFile);
    }

    [Fact]
    public void SplitAndFullBundlesLoadTheSameWeights()
    {
        var (_, _, split) = ModelBundle.Load(fx.Split);
        var (_, _, full) = ModelBundle.Load(fx.Full);
        using (split)
        using (full)
        {
            var a = split.state_dict();
            var b = full.state_dict();
            Assert.Equal(b.Keys.Order(), a.Keys.Order());
            foreach (var (k, t) in b) Assert.True(t.allclose(a[k], rtol: 0, atol: 0), $"{k} differs");
        }
        using var clf = Classifier.Load(fx.Split);
        using var reference = Classifier.Load(fx.Full);
        foreach (var image in Directory.EnumerateFiles(Path.Combine(fx.Data, "val"), "*.jpg", SearchOption.AllDirectories))
            Assert.Equal(reference.PredictFile(image).Probability, clf.PredictFile(image).Probability);
    }

    [Fact]
    public void MissingOrSwappedBackboneIsRefused()
    {
        using var tmp = new TempDir("frozen-bundle-broken");
        string missing = tmp.Combine("missing"), swapped = tmp.Combine("swapped");
        foreach (var d in new[] { missing, swapped })
        {
            Directory.CreateDirectory(d);
            foreach (var f in Directory.GetFiles(fx.Split)) File.Copy(f, Path.Combine(d, Path.GetFileName(f)));
        }
        File.Delete(Path.Combine(missing, "backbone.onnx"));
        var e1 = Assert.Throws<HeadstartException>(() => ModelBundle.Load(missing));
        Assert.Contains("missing its backbone weights file backbone.onnx", e1.Message);

        var bytes = File.ReadAllBytes(Path.Combine(swapped, "backbone.onnx"));
        bytes[^100] ^= 0x40;                                                 // one bit of one weight
        File.WriteAllBytes(Path.Combine(swapped, "backbone.onnx"), bytes);
        var e2 = Assert.Throws<HeadstartException>(() => ModelBundle.Load(swapped));
        Assert.Contains("SHA-256 differs", e2.Message);
    }

    [SharedFact("fixtures/torchvision/mobilenet_v2.legacy.pth")]
    public void TorchvisionPthBackboneWithItsOwnHeadMakesASplitBundleToo()
    {
        // A legacy-format torchvision file run by TorchSharp: the file's 1000-class classifier is skipped on load, the
        // bundle's 2-class head comes from model.safetensors.
        using var tmp = new TempDir("frozen-bundle-pth");
        SyntheticImages.WriteImageFolder(tmp.Combine("data"), classes: 2, trainPerClass: 4, valPerClass: 2);
        var data = ImageFolder.Load(tmp.Combine("data"));
        string weights = SharedData.PathTo("fixtures/torchvision/mobilenet_v2.legacy.pth");
        using var result = new TransferTrainer().Train(data, new TrainOptions
        {
            Model = "mobilenet_v2", WeightsPath = weights, Epochs = 2, CacheDir = "none",
        });
        ModelBundle.Save(tmp.Combine("split"), result);
        var m = ModelBundle.ReadManifest(tmp.Combine("split"));
        Assert.Equal("backbone.pth", m.BackboneFile);
        var (_, _, loaded) = ModelBundle.Load(tmp.Combine("split"));
        using (loaded)
        {
            var expected = result.Model.state_dict();
            foreach (var (k, t) in loaded.state_dict()) Assert.True(t.allclose(expected[k], rtol: 0, atol: 0), $"{k} differs");
        }
    }

    [Fact]
    public void BackboneFileGoneBeforeSavingIsAnErrorNotARandomBackbone()
    {
        // ONNX Runtime ran the backbone, so TorchSharp never imported it: without the file there is nothing true to save.
        using var tmp = new TempDir("frozen-bundle-gone");
        SyntheticImages.WriteImageFolder(tmp.Combine("data"), classes: 2, trainPerClass: 4, valPerClass: 2);
        string weights = tmp.Combine("resnet18.onnx");
        File.Copy(EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNet18), weights);
        using var result = new TransferTrainer().Train(ImageFolder.Load(tmp.Combine("data")),
            new TrainOptions { WeightsPath = weights, Epochs = 1, CacheDir = "none" });
        File.Delete(weights);
        var e = Assert.Throws<HeadstartException>(() => ModelBundle.Save(tmp.Combine("bundle"), result));
        Assert.Contains("is gone", e.Message);
        Assert.False(Directory.Exists(tmp.Combine("bundle")));
    }
}
