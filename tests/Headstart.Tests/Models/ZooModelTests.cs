using System.Text.RegularExpressions;
using Headstart.Models;
using Headstart.Weights;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Models;

/// <summary>Forward shapes, the features/classifier split, and train-versus-eval behaviour of the zoo families.</summary>
public class ZooModelTests
{
    [Theory]
    [InlineData("squeezenet1_0", 224, new long[] { 2, 512, 13, 13 })]
    [InlineData("squeezenet1_1", 224, new long[] { 2, 512, 13, 13 })]
    [InlineData("densenet121", 64, new long[] { 2, 1024 })]
    [InlineData("efficientnet_b0", 64, new long[] { 2, 1280 })]
    [InlineData("convnext_tiny", 64, new long[] { 2, 768 })]
    [InlineData("shufflenet_v2_x0_5", 64, new long[] { 2, 1024 })]
    [InlineData("mnasnet0_5", 64, new long[] { 2, 1280 })]
    public void SplitForwardEqualsForwardWithTheRequestedClassCount(string name, int size, long[] featureShape)
    {
        using var model = ModelRegistry.Get(name).Create(numClasses: 7);
        model.eval();
        using var _ = no_grad();
        using var x = randn(2, 3, size, size, generator: new Generator(0));
        using var features = model.ForwardFeatures(x);
        Assert.Equal(featureShape, features.shape);
        using var logits = model.ForwardClassifier(features);
        using var direct = model.call(x);
        Assert.Equal([2L, 7L], logits.shape);
        Assert.Equal(7, model.NumClasses);
        Assert.True(direct.allclose(logits), $"{name}: forward differs from ForwardClassifier(ForwardFeatures)");
    }

    [Theory]
    [InlineData("squeezenet1_1", new long[] { 4, 512, 3, 3 })]
    [InlineData("densenet121", new long[] { 4, 1024 })]
    [InlineData("efficientnet_b0", new long[] { 4, 1280 })]
    [InlineData("convnext_tiny", new long[] { 4, 768 })]
    [InlineData("shufflenet_v2_x0_5", new long[] { 4, 1024 })]
    [InlineData("mnasnet0_5", new long[] { 4, 1280 })]
    public void TrainingTheClassifierLeavesCachedFeaturesIntact(string name, long[] featureShape)
    {
        using var model = ModelRegistry.Get(name).Create(numClasses: 3);
        model.train();   // dropout active
        using var _ = no_grad();
        using var features = rand(featureShape, generator: new Generator(4));
        using var copy = features.clone();
        using var logits = model.ForwardClassifier(features);
        Assert.True(features.allclose(copy, rtol: 0, atol: 0), $"{name}: ForwardClassifier modified its input");
    }

    [Fact]
    public void ConvNeXtStochasticDepthDropsWholeBlocksInTrainingOnly()
    {
        // Two one-block stages: drop probability rises linearly from 0 (first block) to 1 (last block).
        using var model = new ConvNeXt("tiny-test", [8, 16], [1, 1], stochasticDepthProb: 1.0, numClasses: 3);
        using var _ = no_grad();
        using var x = randn(2, 3, 32, 32, generator: new Generator(1));
        var lastBlock = model.state_dict()["features.3.0.block.0.weight"];
        model.state_dict()["features.3.0.layer_scale"].fill_(1.0);   // make the block's branch count (init is 1e-6)

        model.train();
        using var trainBefore = model.call(x);
        lastBlock.add_(1.0);
        using var trainAfter = model.call(x);
        Assert.True(trainBefore.allclose(trainAfter, rtol: 0, atol: 0), "a block with drop probability 1 must be skipped in training");

        model.eval();
        using var evalAfter = model.call(x);
        lastBlock.sub_(1.0);
        using var evalBefore = model.call(x);
        Assert.False(evalBefore.allclose(evalAfter), "stochastic depth must be off in eval: the last block counts");
    }

    [Fact]
    public void EfficientNetStochasticDepthIsRandomInTrainingAndOffInEval()
    {
        using var model = ModelRegistry.Get("efficientnet_b0").Create(numClasses: 3);
        using var _ = no_grad();
        using var x = randn(4, 3, 32, 32, generator: new Generator(2));

        model.train();   // BatchNorm uses batch statistics, deterministic; only stochastic depth draws.
        using var a = model.ForwardFeatures(x);
        using var b = model.ForwardFeatures(x);
        Assert.False(a.allclose(b), "stochastic depth must drop residual branches at random in training");

        model.eval();
        using var c = model.ForwardFeatures(x);
        using var d = model.ForwardFeatures(x);
        Assert.True(c.allclose(d, rtol: 0, atol: 0));
    }

    [Theory]
    [InlineData("features.denseblock1.denselayer1.norm.1.weight", "features.denseblock1.denselayer1.norm1.weight")]
    [InlineData("features.denseblock4.denselayer16.conv.2.weight", "features.denseblock4.denselayer16.conv2.weight")]
    [InlineData("features.denseblock2.denselayer3.norm.2.running_var", "features.denseblock2.denselayer3.norm2.running_var")]
    [InlineData("features.denseblock1.denselayer1.norm1.weight", "features.denseblock1.denselayer1.norm1.weight")]
    [InlineData("features.transition1.norm.weight", "features.transition1.norm.weight")]
    [InlineData("classifier.weight", "classifier.weight")]
    public void DenseNetLegacyKeysAreRenamedAsTorchvisionDoes(string published, string expected) =>
        Assert.Equal(expected, DenseNet.RemapLegacyKey(published));

    [Fact]
    public void DenseNetFileWithPublishedKeyNamesLoadsThroughWeightLoader()
    {
        // torchvision's published DenseNet files: "norm.1"-style names and no num_batches_tracked (pre-0.4.1).
        using var source = new DenseNet("src", 8, [1, 2], 16, numClasses: 5);
        using var target = new DenseNet("dst", 8, [1, 2], 16, numClasses: 5);
        using var published = new StateDict();
        foreach (var (key, t) in source.state_dict().Where(kv => !kv.Key.EndsWith("num_batches_tracked")))
            published.Add(Regex.Replace(key, @"(denselayer\d+\.(?:norm|conv))([12])\.", "$1.$2."), t.detach().clone());
        Assert.Contains("features.denseblock2.denselayer2.norm.2.running_var", published.Keys);

        // The upgrade is the DenseNet records' own (ModelSpec.LegacyKeyUpgrade), not a rule run for every model.
        var upgrade = ModelRegistry.Get("densenet121").LegacyKeyUpgrade;
        Assert.NotNull(upgrade);
        Assert.All(ModelRegistry.All.Where(s => s.Family != "densenet"), s => Assert.Null(s.LegacyKeyUpgrade));
        var report = WeightLoader.Load(target, published, "densenet-test", "classifier", legacyKeyUpgrade: upgrade);

        Assert.Equal(3 * 10, report.Renamed.Count);   // 3 dense layers x (norm1 4 + conv1 1 + norm2 4 + conv2 1)
        Assert.All(report.Renamed, kv => Assert.Equal(DenseNet.RemapLegacyKey(kv.Key), kv.Value));
        target.eval(); source.eval();
        using var _ = no_grad();
        using var x = randn(1, 3, 32, 32, generator: new Generator(3));
        using var a = source.call(x);
        using var b = target.call(x);
        Assert.True(a.allclose(b, rtol: 0, atol: 0));
    }

    [Fact]
    public void MNASNetLegacyStemHasTheFixedVersion1Widths()
    {
        using var current = new MNASNet("m", 0.5);
        using var legacy = new MNASNet("m", 0.5, legacyStem: true);
        Assert.Equal([16L, 3, 3, 3], current.state_dict()["layers.0.weight"].shape);
        Assert.Equal([32L, 3, 3, 3], legacy.state_dict()["layers.0.weight"].shape);
        Assert.Equal([16L, 32, 1, 1], legacy.state_dict()["layers.6.weight"].shape);
        Assert.Equal([48L, 16, 1, 1], legacy.state_dict()["layers.8.0.layers.0.weight"].shape);
    }
}

/// <summary>Weights start from torchvision's initialisation, not TorchSharp's module defaults.</summary>
public class ZooInitTests
{
    private static (double Mean, double Std, double MaxAbs) Stats(Tensor t)
    {
        using var d = t.detach().to(ScalarType.Float64);
        return (d.mean().item<double>(), d.std().item<double>(), d.abs().max().item<double>());
    }

    [Fact]
    public void ConvNeXtConvAndLinearWeightsAreNormalWithStd002AndZeroBias()
    {
        using var model = ModelRegistry.Get("convnext_tiny").Create();
        var sd = model.state_dict();
        var (mean, std, _) = Stats(sd["features.5.0.block.3.weight"]);   // Linear(384, 1536): 590k draws
        Assert.InRange(std, 0.0198, 0.0202);
        Assert.InRange(mean, -1e-3, 1e-3);
        Assert.Equal(0.0, Stats(sd["features.5.0.block.3.bias"]).MaxAbs);
        Assert.Equal(1e-6, sd["features.1.0.layer_scale"].max().item<float>(), 1e-12);
    }

    [Fact]
    public void EfficientNetConvsAreKaimingFanOutAndLinearIsUniformInverseSqrtOut()
    {
        using var model = ModelRegistry.Get("efficientnet_b0").Create();
        var sd = model.state_dict();
        // features.8.0: 1x1 conv 320 -> 1280, fan_out 1280: std sqrt(2 / 1280).
        Assert.InRange(Stats(sd["features.8.0.weight"]).Std, 0.97 * Math.Sqrt(2.0 / 1280), 1.03 * Math.Sqrt(2.0 / 1280));
        var (_, std, maxAbs) = Stats(sd["classifier.1.weight"]);
        Assert.True(maxAbs <= 1 / Math.Sqrt(1000));
        Assert.InRange(std, 0.97 / Math.Sqrt(3000), 1.03 / Math.Sqrt(3000));   // U(-r, r) has std r / sqrt 3
        Assert.Equal(0.0, Stats(sd["features.1.0.block.1.fc1.bias"]).MaxAbs);
    }

    [Fact]
    public void MNASNetAndDenseNetAndSqueezeNetFollowTorchvisionInit()
    {
        using (var mnas = ModelRegistry.Get("mnasnet1_0").Create())
        {
            var sd = mnas.state_dict();
            // 1x1 conv 320 -> 1280 with relu gain: std sqrt(2 / 1280); Linear: kaiming_uniform fan_out 1000, gain 1.
            Assert.InRange(Stats(sd["layers.14.weight"]).Std, 0.97 * Math.Sqrt(2.0 / 1280), 1.03 * Math.Sqrt(2.0 / 1280));
            Assert.True(Stats(sd["classifier.1.weight"]).MaxAbs <= Math.Sqrt(3.0 / 1000));
            Assert.InRange(Stats(sd["classifier.1.weight"]).Std, 0.97 / Math.Sqrt(1000), 1.03 / Math.Sqrt(1000));
        }
        using (var dense = ModelRegistry.Get("densenet121").Create())
        {
            var sd = dense.state_dict();
            // transition3.conv: 1x1, 1024 -> 512, kaiming_normal fan_in 1024: std sqrt(2 / 1024).
            Assert.InRange(Stats(sd["features.transition3.conv.weight"]).Std, 0.97 * Math.Sqrt(2.0 / 1024), 1.03 * Math.Sqrt(2.0 / 1024));
            Assert.Equal(0.0, Stats(sd["classifier.bias"]).MaxAbs);
        }
        using (var squeeze = ModelRegistry.Get("squeezenet1_1").Create())
        {
            var sd = squeeze.state_dict();
            Assert.InRange(Stats(sd["classifier.1.weight"]).Std, 0.0097, 0.0103);   // N(0, 0.01), 512k draws
            Assert.Equal(0.0, Stats(sd["features.12.expand3x3.bias"]).MaxAbs);
        }
    }
}
