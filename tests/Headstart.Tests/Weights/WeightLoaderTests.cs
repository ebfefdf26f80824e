using Headstart.Models;
using Headstart.Tests.TestSupport;
using Headstart.Weights;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Headstart.Tests.Weights;

public class WeightLoaderTests(ITestOutputHelper log)
{
    private const string Fixtures = "fixtures/torchvision";

    private static Tensor ReadF32(string relative, params long[] shape)
    {
        var bytes = File.ReadAllBytes(SharedData.PathTo(relative));
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return tensor(values, shape);
    }

    private double MaxAbsLogitDiff(nn.Module<Tensor, Tensor> model, string logitsFile)
    {
        model.eval();
        using var input = ReadF32($"{Fixtures}/input.f32", 2, 3, 224, 224);
        using var expected = ReadF32($"{Fixtures}/{logitsFile}", 2, 1000);
        using var _ = no_grad();
        using var logits = model.call(input);
        double diff = (logits - expected).abs().max().item<float>();
        log.WriteLine($"{logitsFile}: max |logits - PyTorch| = {diff:E2}");
        return diff;
    }

    [SharedFact(Fixtures + "/resnet18.zip.pth")]
    public void Resnet18ZipMatchesPyTorchLogits()
    {
        var spec = ModelRegistry.Get("resnet18");
        using var model = spec.Create();
        using var sd = WeightFile.Read(SharedData.PathTo($"{Fixtures}/resnet18.zip.pth"));
        var report = WeightLoader.Load(model, sd, spec);
        Assert.Equal(122, report.Loaded.Count);
        Assert.Empty(report.SkippedHead);
        Assert.True(MaxAbsLogitDiff(model, "resnet18.logits.f32") <= 1e-4);
    }

    /// <summary>The legacy format through mobilenet_v2: Headstart's when registered, else TorchVision for .NET's.</summary>
    [SharedFact(Fixtures + "/mobilenet_v2.legacy.pth")]
    public void MobileNetV2LegacyMatchesPyTorchLogits()
    {
        using var sd = WeightFile.Read(SharedData.PathTo($"{Fixtures}/mobilenet_v2.legacy.pth"));
        Assert.Equal("pth-legacy", sd.Metadata["container"]);
        Assert.Equal(314, sd.Count);
        if (ModelRegistry.TryGet("mobilenet_v2", out var spec))
        {
            using var model = spec.Create();
            Assert.Equal(314, WeightLoader.Load(model, sd, spec).Loaded.Count);
            Assert.True(MaxAbsLogitDiff(model, "mobilenet_v2.logits.f32") <= 1e-4);
        }
        else
        {
            using var model = torchvision.models.mobilenet_v2(1000);
            Assert.Equal(314, WeightLoader.Load(model, sd, "mobilenet_v2", "classifier.1").Loaded.Count);
            Assert.True(MaxAbsLogitDiff(model, "mobilenet_v2.logits.f32") <= 1e-4);
        }
    }

    [SharedFact(Fixtures + "/resnet18.zip.pth")]
    public void HeadIsSkippedWhenTheClassCountDiffers()
    {
        var spec = ModelRegistry.Get("resnet18");
        using var model = spec.Create(5);
        using var sd = WeightFile.Read(SharedData.PathTo($"{Fixtures}/resnet18.zip.pth"));
        using var before = model.state_dict()["fc.weight"].clone();
        var report = WeightLoader.Load(model, sd, spec);
        Assert.Equal(["fc.bias", "fc.weight"], report.SkippedHead.Order());
        Assert.Equal(120, report.Loaded.Count);
        Assert.True(model.state_dict()["fc.weight"].eq(before).all().item<bool>());
        Assert.True(model.state_dict()["conv1.weight"].eq(sd["conv1.weight"]).all().item<bool>());
    }

    [SharedFact(Fixtures + "/resnet18.zip.pth")]
    public void MismatchesAreReportedByNameAndNothingIsCopied()
    {
        var spec = ModelRegistry.Get("resnet18");
        using var model = spec.Create();
        using var sd = WeightFile.Read(SharedData.PathTo($"{Fixtures}/resnet18.zip.pth"));
        sd.Remove("layer1.0.conv1.weight", out var removed);
        removed.Dispose();
        sd.Add("extra.weight", zeros(3));
        sd.Remove("layer4.1.bn2.bias", out var bias);
        sd.Add("layer4.1.bn2.bias", zeros(7));
        bias.Dispose();
        using var before = model.state_dict()["conv1.weight"].clone();

        var ex = Assert.Throws<HeadstartException>(() => WeightLoader.Load(model, sd, spec));
        Assert.Contains("missing key(s): layer1.0.conv1.weight", ex.Message);
        Assert.Contains("unexpected key(s): extra.weight", ex.Message);
        Assert.Contains("layer4.1.bn2.bias: file [7] vs model [512]", ex.Message);
        Assert.True(model.state_dict()["conv1.weight"].eq(before).all().item<bool>());

        // Non-strict: missing/unexpected are reported, the shape mismatch still refuses.
        Assert.Throws<HeadstartException>(() => WeightLoader.Load(model, sd, spec, new LoadOptions { Strict = false }));
    }

    [SharedFact(Fixtures + "/resnet18.zip.pth")]
    public void Float16IsWidenedIntoFloat32Parameters()
    {
        var spec = ModelRegistry.Get("resnet18");
        using var model = spec.Create();
        using var sd32 = WeightFile.Read(SharedData.PathTo($"{Fixtures}/resnet18.zip.pth"));
        using var sd = new StateDict();
        foreach (var (k, v) in sd32) sd.Add(k, v.is_floating_point() ? v.to_type(ScalarType.Float16) : v.clone());
        var report = WeightLoader.Load(model, sd, spec);
        Assert.Equal(122, report.Loaded.Count);
        Assert.Equal(102, report.Widened.Count); // every tensor but the 20 int64 num_batches_tracked
        var w = model.state_dict()["conv1.weight"];
        Assert.Equal(ScalarType.Float32, w.dtype);
        Assert.True(w.eq(sd["conv1.weight"].to_type(ScalarType.Float32)).all().item<bool>());
    }

    [Fact]
    public void MissingBatchCounterIsNotAnError()
    {
        var spec = ModelRegistry.Get("resnet18");
        using var model = spec.Create();
        using var sd = new StateDict();
        foreach (var (k, v) in model.state_dict())
            if (!k.EndsWith("num_batches_tracked")) sd.Add(k, v.detach().clone());
        var report = WeightLoader.Load(model, sd, spec);
        Assert.Equal(20, report.Missing.Count);
        Assert.All(report.Missing, k => Assert.EndsWith("num_batches_tracked", k));
    }

    [Fact]
    public void PreTorchvision03DenseNetKeysAreUpgraded()
    {
        using var model = new DenseLike();
        using var sd = new StateDict();
        foreach (var (k, v) in model.state_dict())
            sd.Add(k.Replace("norm1.", "norm.1."), v.detach().clone().fill_(0.5));
        // Without the record's upgrade the old names are just unexpected keys: nothing is renamed behind a model's back.
        Assert.Throws<HeadstartException>(() => WeightLoader.Load(model, sd, "denselike"));
        var report = WeightLoader.Load(model, sd, "denselike", legacyKeyUpgrade: DenseNet.RemapLegacyKey);
        Assert.Equal("denselayer1.norm1.weight", report.Renamed["denselayer1.norm.1.weight"]);
        Assert.Equal(0.5f, model.state_dict()["denselayer1.norm1.weight"][0].item<float>());
    }

    /// <summary>Mimics torchvision DenseNet naming: denselayer1.norm1 (old files say denselayer1.norm.1).</summary>
    private sealed class DenseLike : nn.Module
    {
        public DenseLike() : base("denselike")
        {
            register_module("denselayer1", new Layer());
        }

        private sealed class Layer : nn.Module
        {
            public Layer() : base("layer")
            {
                register_module("norm1", nn.BatchNorm2d(2));
            }
        }
    }
}
