using Headstart.Data;
using Headstart.Models;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Headstart.Weights;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Training.Shards;

/// <summary>
/// Sharded extraction against one machine: the shards' rows are bit for bit the rows a single-machine run extracts
/// (every view, decode failures included), and the head trained from them is the same head with the same metrics.
/// </summary>
[Collection(GlobalRngCollection.Name)]
public sealed class ShardedExtractionTests : IDisposable
{
    private readonly TempDir tmp = new("shards");

    /// <summary>3 classes x (10 train + 4 val) generated photos listed in a manifest, plus a file that is no image.</summary>
    internal static ImageDataset Data(TempDir tmp, out string manifest)
    {
        string root = tmp.Combine("data");
        SyntheticImages.WriteImageFolder(root, classes: 3, trainPerClass: 10, valPerClass: 4);
        File.WriteAllText(Path.Combine(root, "broken.jpg"), "not a jpeg at all");
        var lines = new List<string> { "path,label,split" };
        foreach (var split in new[] { "train", "val" })
            foreach (var classDir in Directory.GetDirectories(Path.Combine(root, split)).Order(StringComparer.Ordinal))
                foreach (var f in Directory.GetFiles(classDir).Order(StringComparer.Ordinal))
                    lines.Add($"{Path.GetRelativePath(root, f)},{Path.GetFileName(classDir)},{split}");
        lines.Add($"broken.jpg,{Path.GetFileName(Directory.GetDirectories(Path.Combine(root, "train")).Order(StringComparer.Ordinal).First())},train");
        manifest = Path.Combine(root, "manifest.csv");
        File.WriteAllLines(manifest, lines);
        return DatasetManifest.Load(manifest);
    }

    private static readonly TrainOptions Options = new()
    {
        BatchSize = 4, Epochs = 4, AugmentViews = 2, TestTimeFlip = true, CacheDir = "none", Seed = 7,
    };

    [Fact]
    public void ShardsHoldTheRowsOneMachineExtractsAndTrainTheSameHead()
    {
        var data = Data(tmp, out _);
        Assert.Equal(31, data.Train.Count);   // the broken file is listed; it fails where it is decoded
        string dir = tmp.Combine("features");
        var extractor = new ShardExtractor();
        var outcomes = Enumerable.Range(0, 3).Select(i => extractor.Extract(data, Options, dir, i, 3)).ToList();
        Assert.All(outcomes, o => Assert.False(o.AlreadyDone));
        Assert.Equal(1, outcomes.Sum(o => o.Skipped) / 2);   // the broken file, in the centre and mirror passes
        var set = FeatureSet.Open(dir);
        Assert.Contains(set.Skipped, s => s.Path.EndsWith("broken.jpg", StringComparison.Ordinal));

        var spec = ModelRegistry.Get(Options.Model);
        var weights = Pretrained.Resolve(spec);
        var pre = spec.PreprocessingFor(weights.Source);
        var views = TrainingPlanner.Plan(Options, spec, DataShape.Of(data)).Features!;
        Assert.Equal(new CachedViews(2, AugmentLevel.Light, true), views);   // centre, mirror and a random view; mirrored val
        using var model = spec.Create(data.Classes.Count);
        var skipped = new List<SkippedFile>();
        using var one = FrozenFeatures.Extract(model, spec, weights, pre, data, Options, views,
            pre.MeanImage is { } mi ? MeanImages.Get(mi) : null, null, skipped.Add, CancellationToken.None);
        using var sharded = set.Load();
        Assert.Contains(skipped, s => s.Path.EndsWith("broken.jpg", StringComparison.Ordinal));
        Assert.Equal(30 * 3, sharded.Train.Count);
        SameRows(one.Train, sharded.Train);
        SameRows(one.Val, sharded.Val);
        SameRows(one.ValMirror!, sharded.ValMirror!);
        Assert.Equal(one.ValRows, sharded.ValRows);

        using var single = new TransferTrainer().Train(data, Options);
        using var merged = new TransferTrainer().Train(set, Options);
        Assert.Equal(single.Metrics.Accuracy, merged.Metrics.Accuracy);
        Assert.Equal(single.ValPredictions.Select(p => (p.Path, p.Predicted, p.Loss)), merged.ValPredictions.Select(p => (p.Path, p.Predicted, p.Loss)));
        Assert.Equal(single.Manifest.History!.Select(h => h.TrainLoss), merged.Manifest.History!.Select(h => h.TrainLoss));
        var a = single.TrainedParts.named_parameters().Where(p => p.name.StartsWith("fc", StringComparison.Ordinal)).ToList();
        var b = merged.TrainedParts.named_parameters().Where(p => p.name.StartsWith("fc", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, a.Count);
        for (int i = 0; i < a.Count; i++) Assert.True(a[i].parameter.eq(b[i].parameter).all().item<bool>(), $"{a[i].name} differs");
        Assert.Equal(single.Manifest.Dataset!.SkippedCount, merged.Manifest.Dataset!.SkippedCount);
        Assert.Equal(single.Backbone!.SourcePath, merged.Backbone!.SourcePath);
        Assert.Equal(Headstart.IO.FileHashes.Sha256(weights.Path), merged.Backbone.Sha256);   // the bundle names the file the features came from
    }

    private static void SameRows(IFeatureRows x, IFeatureRows y)
    {
        Assert.Equal((x.Count, x.Dim), (y.Count, y.Dim));
        Assert.Equal(x.Labels, y.Labels);
        long[] all = [.. Enumerable.Range(0, x.Count).Select(i => (long)i)];
        using var a = x.Gather(all);
        using var b = y.Gather(all);
        Assert.True(a.eq(b).all().item<bool>(), "the rows differ");
    }

    [Fact]
    public void AKilledShardResumesFromItsLastChunkAndAFinishedOneReturnsAtOnce()
    {
        var data = Data(tmp, out _);
        string dir = tmp.Combine("features");
        var o = Options with { BatchSize = 2, AugmentViews = 0, TestTimeFlip = false };
        var first = new ShardExtractor().Extract(data, o, dir, 0, 2);
        Assert.True(first.Chunks >= 3, $"{first.Chunks} chunks");
        string shardDir = first.Directory;
        var before = Directory.GetFiles(shardDir, "chunk-*").Order(StringComparer.Ordinal).ToDictionary(f => Path.GetFileName(f)!, File.ReadAllBytes);

        // A kill in the middle of the last chunk: no manifest, no sidecar, a partial temporary file.
        string last = Directory.GetFiles(shardDir, "chunk-*.json").Order(StringComparer.Ordinal).Last();
        File.Delete(Path.Combine(shardDir, FeatureDir.ShardManifestFile));
        File.Delete(last);
        File.WriteAllBytes(Path.ChangeExtension(last, ".f32") + ".tmp-12345", new byte[100]);
        var resumed = new ShardExtractor().Extract(data, o, dir, 0, 2);
        Assert.False(resumed.AlreadyDone);
        Assert.Equal(first.Chunks - 1, resumed.ChunksResumed);
        Assert.Equal(first.Rows, resumed.Rows);
        var after = Directory.GetFiles(shardDir, "chunk-*").Order(StringComparer.Ordinal).ToDictionary(f => Path.GetFileName(f)!, File.ReadAllBytes);
        Assert.Equal(before.Keys, after.Keys);   // the temporary leftover is gone
        foreach (var (name, bytes) in before) Assert.Equal(bytes, after[name]);

        var again = new ShardExtractor().Extract(data, o, dir, 0, 2);
        Assert.True(again.AlreadyDone);
        Assert.Equal(first.Rows, again.Rows);
    }

    [Fact]
    public async Task TwoWorkersOnOneShardWriteItOnce()
    {
        var data = Data(tmp, out _);
        string dir = tmp.Combine("features");
        var o = Options with { AugmentViews = 0, TestTimeFlip = false };
        using var start = new Barrier(2);
        var runs = Enumerable.Range(0, 2).Select(_ => Task.Run(() => { start.SignalAndWait(); return new ShardExtractor().Extract(data, o, dir, 0, 1); })).ToArray();
        var outcomes = (await Task.WhenAll(runs)).ToList();
        Assert.Single(outcomes, x => !x.AlreadyDone);
        Assert.Single(outcomes, x => x.AlreadyDone);
        Assert.Equal(outcomes[0].Rows, outcomes[1].Rows);
        using var f = FeatureSet.Open(dir).Load();
        Assert.Equal(30, f.Train.Count);
    }

    public void Dispose() => tmp.Dispose();
}
