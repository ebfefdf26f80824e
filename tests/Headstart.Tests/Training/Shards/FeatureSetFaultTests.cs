using Headstart.Data;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Xunit;

namespace Headstart.Tests.Training.Shards;

/// <summary>
/// What goes wrong between shards, each with a message that names the shard to extract again and nothing lost: a
/// missing shard, a truncated or corrupt chunk, a shard from another backbone, a file list that changed between
/// workers, another shard count.
/// </summary>
public sealed class FeatureSetFaultTests : IDisposable
{
    private readonly TempDir tmp = new("shard-faults");
    private readonly TrainOptions o = new() { BatchSize = 4, AugmentViews = 0, CacheDir = "none" };

    private string Extract(ImageDataset data, params int[] shards)
    {
        string dir = tmp.Combine("features");
        foreach (int s in shards) new ShardExtractor().Extract(data, o, dir, s, 2);
        return dir;
    }

    private static string Error(Action open) => Assert.ThrowsAny<HeadstartException>(open).Message;

    [Fact]
    public void MissingTruncatedCorruptAndForeignShardsAreNamed()
    {
        var data = ShardedExtractionTests.Data(tmp, out _);
        string dir = Extract(data, 0);
        Assert.Contains("1 of 2 shard(s) not finished: 1", Error(() => FeatureSet.Open(dir)));

        Extract(data, 1);
        FeatureSet.Open(dir);   // whole
        string shard1 = FeatureDir.ShardDir(dir, 1, 2);
        string chunk = Directory.GetFiles(shard1, "chunk-*.f32").Order(StringComparer.Ordinal).First();
        byte[] good = File.ReadAllBytes(chunk);

        File.WriteAllBytes(chunk, good[..(good.Length / 2)]);
        var msg = Error(() => FeatureSet.Open(dir));
        Assert.Contains($"shard 1: {Path.GetFileName(chunk)} is truncated", msg);
        Assert.Contains("extract' for them again", msg);

        byte[] flipped = (byte[])good.Clone();
        flipped[^3] ^= 0x40;
        File.WriteAllBytes(chunk, flipped);
        Assert.Contains("is corrupt (CRC-32 mismatch)", Error(() => FeatureSet.Open(dir)));
        File.WriteAllBytes(chunk, good);

        string manifest = Path.Combine(FeatureDir.ShardDir(dir, 0, 2), FeatureDir.ShardManifestFile);
        string text = File.ReadAllText(manifest);
        var plan = FeatureDir.ReadPlan(dir);
        File.WriteAllText(manifest, text.Replace(plan.Fingerprint, new string('0', 64)));
        Assert.Contains("shard 0 was extracted with another backbone", Error(() => FeatureSet.Open(dir)));
        File.WriteAllText(manifest, "{ torn");
        Assert.Contains("shard 0 of 2", Error(() => FeatureSet.Open(dir)));
        File.WriteAllText(manifest, text);
        using var whole = FeatureSet.Open(dir).Load();
        Assert.Equal(30, whole.Train.Count);
    }

    [Fact]
    public void AWorkerWithAnotherPlanIsRefusedBeforeItWritesAnything()
    {
        var data = ShardedExtractionTests.Data(tmp, out string manifest);
        string dir = Extract(data, 0);
        var shardsBefore = Directory.GetDirectories(dir).Length;

        // Another backbone configuration (here: other views) has another fingerprint.
        var other = Assert.Throws<FeaturePlanMismatchException>(() => new ShardExtractor().Extract(data, o with { AugmentViews = 1 }, dir, 1, 2));
        Assert.Contains("another backbone, weights, preprocessing, views", other.Message);
        // The data changed between workers: a row more in the manifest.
        File.AppendAllText(manifest, $"{Path.GetRelativePath(Path.GetDirectoryName(manifest)!, data.Val[0].Path)}x.jpg,{data.Classes[0]},val\n");
        File.Copy(data.Val[0].Path, data.Val[0].Path + "x.jpg");
        var changed = Assert.Throws<FeaturePlanMismatchException>(() => new ShardExtractor().Extract(DatasetManifest.Load(manifest), o, dir, 1, 2));
        Assert.Contains("the file list changed", changed.Message);
        // Another shard count.
        var count = Assert.Throws<FeaturePlanMismatchException>(() => new ShardExtractor().Extract(data, o, dir, 1, 3));
        Assert.Contains("cut in 2 shard(s)", count.Message);
        Assert.Equal(shardsBefore, Directory.GetDirectories(dir).Length);
        Assert.Equal([FeatureDir.LockFile(dir, 0, 2)], Directory.GetFiles(dir, "*.lock"));
    }

    [Theory]
    [InlineData("1/4", null, 0, "", 1, 4, "--shard")]
    [InlineData(null, 4, 0, "JOB_COMPLETION_INDEX=2", 2, 4, "JOB_COMPLETION_INDEX=2")]
    [InlineData(null, null, 0, "SLURM_ARRAY_TASK_ID=3;SLURM_ARRAY_TASK_COUNT=4", 3, 4, "SLURM_ARRAY_TASK_ID=3")]
    [InlineData(null, 4, 1, "SLURM_ARRAY_TASK_ID=4", 3, 4, "SLURM_ARRAY_TASK_ID=4")]
    [InlineData(null, null, 0, "", 0, 1, "single worker")]
    public void TheShardIndexComesFromTheFlagOrTheEngine(string? flag, int? shards, int indexBase, string env, int index, int count, string from)
    {
        var vars = env.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(kv => kv.Split('=')).ToDictionary(kv => kv[0], kv => kv[1]);
        var a = WorkerIndex.Resolve(flag, shards, indexBase, vars.GetValueOrDefault);
        Assert.Equal((index, count, from), (a.Index, a.Count, a.From));
    }

    [Theory]
    [InlineData("4/4", null, 0, "", "0 <= I < N")]
    [InlineData(null, null, 0, "JOB_COMPLETION_INDEX=1", "pass --shards N")]
    [InlineData(null, 4, 0, "SLURM_ARRAY_TASK_ID=4", "pass --index-base 1")]
    [InlineData(null, 4, 0, "", "without an index")]
    [InlineData(null, 4, 0, "JOB_COMPLETION_INDEX=x", "is not an index")]
    public void ABadIndexIsAPermanentError(string? flag, int? shards, int indexBase, string env, string why)
    {
        var vars = env.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(kv => kv.Split('=')).ToDictionary(kv => kv[0], kv => kv[1]);
        Assert.Contains(why, Assert.Throws<HeadstartException>(() => WorkerIndex.Resolve(flag, shards, indexBase, vars.GetValueOrDefault)).Message);
    }

    public void Dispose() => tmp.Dispose();
}
