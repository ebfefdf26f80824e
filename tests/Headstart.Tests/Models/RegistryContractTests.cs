using System.Collections.Concurrent;
using Headstart.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Models;

/// <summary>
/// What the contract tests need to know about one registry model, measured on one instance built with
/// <see cref="RegistryContractTests.Classes"/> classes (each model is built once per test run, then disposed).
/// </summary>
public sealed record ModelFacts(
    IReadOnlyList<(string Key, long[] Shape)> StateDict,
    long[] OutputShape,
    long[] FeatureShape,
    double SplitMaxAbsDiff,
    double OutputMaxAbs,
    IReadOnlyList<(string Key, long[] Shape)> Parameters);

/// <summary>Builds each registry model at most once and keeps only its <see cref="ModelFacts"/>.</summary>
public sealed class ModelFactsCache
{
    private readonly ConcurrentDictionary<string, Lazy<ModelFacts>> facts = new();

    public ModelFacts Get(string name) => facts.GetOrAdd(name, n => new Lazy<ModelFacts>(() => Measure(n))).Value;

    private static ModelFacts Measure(string name)
    {
        var spec = ModelRegistry.Get(name);
        // Seeded before the weights are drawn: a random SqueezeNet ends in a ReLU, and some draws give all-zero logits,
        // so an unseeded build made the facts depend on whichever test used the global generator before.
        torch.manual_seed(0);
        using var model = spec.Create(RegistryContractTests.Classes);
        model.eval();
        using var noGrad = torch.no_grad();
        using var scope = NewDisposeScope();
        var stateDict = model.state_dict().Select(kv => (kv.Key, kv.Value.shape)).ToList();
        torch.manual_seed(0);
        var input = torch.randn(2, 3, RegistryContractTests.TestInputSize(spec), RegistryContractTests.TestInputSize(spec));
        var output = model.call(input);
        var features = model.ForwardFeatures(input);
        var split = model.ForwardClassifier(features);
        var parameters = model.named_parameters().Select(np => (np.name, np.parameter.shape)).ToList();
        return new ModelFacts(stateDict, output.shape, features.shape,
            (output - split).abs().max().item<float>(), output.abs().max().item<float>(), parameters);
    }
}

/// <summary>
/// Registry-wide contracts: every model in <see cref="ModelRegistry.All"/> is checked, so families added later join
/// automatically.
/// </summary>
[Collection(TestSupport.GlobalRngCollection.Name)]
public sealed class RegistryContractTests(ModelFactsCache cache) : IClassFixture<ModelFactsCache>
{
    /// <summary>Class count the models are built with: anything but 1000 exercises head replacement.</summary>
    public const int Classes = 3;

    /// <summary>Registry models that are not torchvision models, so have no entry in the manifest.</summary>
    private static readonly HashSet<string> NotInTorchvision = ["resnet18-cntk", "small_cnn"];

    /// <summary>Registry models meant for training from scratch only: no pretrained weights exist for them.</summary>
    private static readonly HashSet<string> ScratchOnly = ["small_cnn"];

    /// <summary>A quarter of the native input size, at least 64 px: fast, and above every CNN's minimum (inception: 75).</summary>
    public static int TestInputSize(ModelSpec spec) => Math.Max(64, (spec.Preprocessing.InputSize + 3) / 4);

    public static TheoryData<string> Names => [.. ModelRegistry.All.Select(s => s.Name)];

    /// <summary>PyTorch's prefix rule: "features.1" owns "features.1.weight", not "features.10.weight".</summary>
    private static bool IsUnder(string key, string prefix) =>
        key == prefix || key.StartsWith(prefix + ".", StringComparison.Ordinal);

    [Theory, MemberData(nameof(Names))]
    public void OutputHasOneLogitPerClass(string name)
    {
        var facts = cache.Get(name);
        Assert.Equal([2L, Classes], facts.OutputShape);
        Assert.True(facts.OutputMaxAbs > 0, "logits are all zero");
    }

    [Theory, MemberData(nameof(Names))]
    public void ForwardEqualsClassifierOfFeatures(string name)
    {
        var facts = cache.Get(name);
        Assert.Equal(2L, facts.FeatureShape[0]);
        Assert.True(facts.SplitMaxAbsDiff <= 1e-6 * Math.Max(1, facts.OutputMaxAbs),
            $"forward(x) differs from ForwardClassifier(ForwardFeatures(x)) by {facts.SplitMaxAbsDiff}");
    }

    [Theory, MemberData(nameof(Names))]
    public void HeadLiesInClassifierSectionAndMapsToClasses(string name)
    {
        var spec = ModelRegistry.Get(name);
        var keys = cache.Get(name).StateDict;
        Assert.True(IsUnder(spec.HeadPrefix, spec.ClassifierPrefix), $"head '{spec.HeadPrefix}' is outside '{spec.ClassifierPrefix}'");
        var head = keys.Where(k => IsUnder(k.Key, spec.HeadPrefix)).ToList();
        Assert.Contains(head, k => k.Key == spec.HeadPrefix + ".weight");
        Assert.All(head, k => Assert.Equal(Classes, k.Shape[0]));
        Assert.Contains(keys, k => IsUnder(k.Key, spec.ClassifierPrefix));
    }

    [Theory, MemberData(nameof(Names))]
    public void LayerGroupsPartitionTheStateDictAndEndWithTheClassifier(string name)
    {
        var spec = ModelRegistry.Get(name);
        var keys = cache.Get(name).StateDict.Select(k => k.Key).ToList();
        Assert.True(spec.LayerGroups.Count >= 2, "need at least a backbone group and the classifier group");
        Assert.Equal("stem", spec.LayerGroups[0].Name);
        Assert.Equal("head", spec.LayerGroups[^1].Name);
        foreach (var group in spec.LayerGroups)
            foreach (var prefix in group.Prefixes)
                Assert.True(keys.Any(k => IsUnder(k, prefix)), $"group '{group.Name}': prefix '{prefix}' matches no state_dict key");
        foreach (var key in keys)
        {
            var owners = spec.LayerGroups.Where(g => g.Prefixes.Any(p => IsUnder(key, p))).Select(g => g.Name).ToList();
            Assert.True(owners.Count == 1, $"'{key}' belongs to {owners.Count} groups ({string.Join(", ", owners)}); expected exactly one");
        }
        var last = spec.LayerGroups[^1];
        Assert.Equal(
            keys.Where(k => IsUnder(k, spec.ClassifierPrefix)),
            keys.Where(k => last.Prefixes.Any(p => IsUnder(k, p))));
        Assert.Equal(spec.LayerGroups.Count, spec.LayerGroups.Select(g => g.Name).Distinct().Count());
    }

    [Theory, MemberData(nameof(Names))]
    public void StateDictMatchesTorchvision(string name)
    {
        var spec = ModelRegistry.Get(name);
        var ours = cache.Get(name).StateDict;
        if (!TorchvisionManifest.Models.TryGetValue(name, out var reference))
        {
            Assert.True(NotInTorchvision.Contains(name), $"'{name}' is not a torchvision {TorchvisionManifest.Version} model; list it in NotInTorchvision if that is intended");
            return;
        }
        foreach (var prefix in spec.IgnoredWeightPrefixes)
            Assert.True(reference.Any(k => IsUnder(k.Key, prefix)), $"ignored prefix '{prefix}' matches no torchvision key");
        var expected = reference.Where(k => !spec.IgnoredWeightPrefixes.Any(p => IsUnder(k.Key, p))).ToList();
        Assert.Equal(expected.Select(k => k.Key), ours.Select(k => k.Key));   // names and order
        for (int i = 0; i < expected.Count; i++)
        {
            var (key, shape) = expected[i];
            // Only the head depends on the class count (1000 in the manifest).
            var want = IsUnder(key, spec.HeadPrefix) ? [Classes, .. shape[1..]] : shape;
            Assert.True(want.SequenceEqual(ours[i].Shape),
                $"{key}: shape [{string.Join(", ", ours[i].Shape)}], torchvision [{string.Join(", ", want)}]");
        }
    }

    [Theory, MemberData(nameof(Names))]
    public void RecordIsComplete(string name)
    {
        var spec = ModelRegistry.Get(name);
        Assert.False(string.IsNullOrWhiteSpace(spec.Description));
        Assert.False(string.IsNullOrWhiteSpace(spec.Family));
        Assert.True(spec.Preprocessing.ResizeSize >= spec.Preprocessing.InputSize);
        Assert.Equal(3, spec.Preprocessing.Mean.Length);
        Assert.Equal(3, spec.Preprocessing.Std.Length);
        if (ScratchOnly.Contains(name)) Assert.Empty(spec.WeightSources);
        else Assert.NotEmpty(spec.WeightSources);
        foreach (var source in spec.WeightSources.Where(s => s.Url is not null))
        {
            Assert.EndsWith("/" + source.FileName, source.Url);
            // torchvision names files <name>-<leading hex digits of the SHA-256>.pth: 8 digits, or 10 for the 2019
            // files (shufflenetv2_x1-5666bf0f80.pth, mnasnet1.0_top1_73.512-f206786ef8.pth); torch.hub checks any length.
            Assert.Matches("^[0-9a-f]{8,10}$", source.Sha256Prefix);
            Assert.EndsWith($"-{source.Sha256Prefix}.pth", source.FileName);
        }
    }

    [Fact]
    public void ManifestCoversEveryTorchvisionClassifier()
    {
        // Other families will be checked against it as they land (squeezenet, densenet, efficientnet, ...).
        Assert.Equal("0.14.1", TorchvisionManifest.Version);
        Assert.Equal(80, TorchvisionManifest.Models.Count);
        Assert.Contains("squeezenet1_1", TorchvisionManifest.Models.Keys);
        Assert.Contains("efficientnet_b7", TorchvisionManifest.Models.Keys);
        Assert.Contains("convnext_base", TorchvisionManifest.Models.Keys);
        Assert.Equal(["features.0.weight", "features.0.bias"], TorchvisionManifest.Models["alexnet"].Take(2).Select(k => k.Key));
    }

    /// <summary>The listed count (computed once per build, then cached) is the model's own at 1000 classes.</summary>
    [Theory, MemberData(nameof(Names))]
    public void ListedParameterCountMatchesTheModel(string name)
    {
        var spec = ModelRegistry.Get(name);
        var facts = cache.Get(name);
        // Built with Classes outputs: swap the head's class dimension for 1000.
        long atImageNet = facts.Parameters.Sum(p =>
        {
            long n = p.Shape.Aggregate(1L, (a, d) => a * d);
            bool head = p.Key.StartsWith(spec.HeadPrefix + ".", StringComparison.Ordinal);
            return head ? n / Classes * 1000 : n;
        });
        Assert.Equal(atImageNet, ModelRegistry.ParameterCount(spec));
    }

    /// <summary>
    /// torchvision's published parameter counts (the <c>num_params</c> of each model's weights entry, torchvision
    /// 0.14-0.20 docs). Inception v3's includes the training-only auxiliary classifier, which Headstart's model leaves
    /// out (<see cref="ModelSpec.IgnoredWeightPrefixes"/>); torchvision's own state_dict layout says how big it is.
    /// </summary>
    public static TheoryData<string, long> Published => new()
    {
        { "alexnet", 61_100_840 }, { "vgg11", 132_863_336 }, { "vgg16", 138_357_544 }, { "vgg16_bn", 138_365_992 },
        { "vgg19", 143_667_240 }, { "resnet18", 11_689_512 }, { "resnet34", 21_797_672 }, { "resnet50", 25_557_032 },
        { "resnet101", 44_549_160 }, { "resnet152", 60_192_808 }, { "resnext50_32x4d", 25_028_904 },
        { "resnext101_32x8d", 88_791_336 }, { "wide_resnet50_2", 68_883_240 }, { "mobilenet_v2", 3_504_872 },
        { "mobilenet_v3_large", 5_483_032 }, { "mobilenet_v3_small", 2_542_856 }, { "googlenet", 6_624_904 },
        { "inception_v3", 27_161_264 }, { "squeezenet1_0", 1_248_424 }, { "squeezenet1_1", 1_235_496 },
        { "densenet121", 7_978_856 }, { "densenet161", 28_681_000 }, { "densenet169", 14_149_480 },
        { "densenet201", 20_013_928 }, { "efficientnet_b0", 5_288_548 }, { "efficientnet_b1", 7_794_184 },
        { "efficientnet_b7", 66_347_960 }, { "convnext_tiny", 28_589_128 }, { "convnext_base", 88_591_464 },
        { "shufflenet_v2_x1_0", 2_278_604 }, { "mnasnet1_0", 4_383_312 },
    };

    [Theory, MemberData(nameof(Published))]
    public void ParameterCountMatchesTorchvisionsPublishedCount(string name, long published)
    {
        var spec = ModelRegistry.Get(name);
        long leftOut = name == "inception_v3"
            ? TorchvisionManifest.Models[name]
                .Where(p => spec.IgnoredWeightPrefixes.Any(prefix => p.Key.StartsWith(prefix + ".", StringComparison.Ordinal))
                            && !p.Key.EndsWith("running_mean", StringComparison.Ordinal) && !p.Key.EndsWith("running_var", StringComparison.Ordinal)
                            && !p.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal))
                .Sum(p => p.Shape.Aggregate(1L, (a, d) => a * d))
            : 0;
        Assert.Equal(published, ModelRegistry.ParameterCount(spec) + leftOut);
    }
}
