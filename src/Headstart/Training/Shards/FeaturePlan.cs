using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Headstart.Data;
using Headstart.IO;
using Headstart.Models;

namespace Headstart.Training;

/// <summary>One backbone pass of a feature set: which split, which view (the names the feature cache uses).</summary>
public sealed record FeaturePass(string Name, bool Val, int Batches, int Images);

/// <summary>
/// The frozen plan every worker of a sharded extraction computes on its own and must agree on (features/plan.json):
/// the file list (files.tsv, hashed), the fingerprint of everything that changes a feature (backbone, weights' SHA-256,
/// preprocessing, views, engine, batch size, seed), and how the work is cut: each pass's samples in batches of
/// <see cref="BatchSize"/> (a single-machine run's batches exactly, so features come out bit for bit the same), grouped
/// in chunks of <see cref="ChunkBatches"/> batches (the unit of resumption), chunks dealt to shards in contiguous runs.
/// </summary>
public sealed record FeaturePlan
{
    public const int CurrentFormat = 1;
    public int Format { get; init; } = CurrentFormat;
    public required string Fingerprint { get; init; }
    public required string ListHash { get; init; }
    public required int Shards { get; init; }
    public required int BatchSize { get; init; }
    public required int ChunkBatches { get; init; }
    public required string Model { get; init; }
    public required string WeightsPath { get; init; }
    public required string WeightsSha256 { get; init; }
    public required string Engine { get; init; }
    public required Preprocessing Preprocessing { get; init; }
    public required CachedViews Views { get; init; }
    public required int Seed { get; init; }
    /// <summary>The options that shaped the features (model, weights, engine, augmentation, views, TTA, split, seed,
    /// batch size); <c>train --features</c> trains with them.</summary>
    public required TrainOptions Options { get; init; }
    public required IReadOnlyList<string> Classes { get; init; }
    /// <summary>The dataset's root: files.tsv's paths are relative to it.</summary>
    public required string Root { get; init; }
    public required string SplitKind { get; init; }
    public required int TrainImages { get; init; }
    public required int ValImages { get; init; }
    public required IReadOnlyList<FeaturePass> Passes { get; init; }
    /// <summary>Files left out when the dataset was listed (bad manifest rows, unreadable headers).</summary>
    public int ListedSkipped { get; init; }

    [JsonIgnore] public int TotalChunks => Passes.Sum(p => ChunksOf(p));
    public int ChunksOf(FeaturePass p) => (p.Batches + ChunkBatches - 1) / ChunkBatches;

    /// <summary>The chunks of the whole plan, in order: (pass index, first batch, batch count).</summary>
    public IEnumerable<(int Pass, int FirstBatch, int Batches)> Chunks()
    {
        for (int p = 0; p < Passes.Count; p++)
            for (int b = 0; b < Passes[p].Batches; b += ChunkBatches)
                yield return (p, b, Math.Min(ChunkBatches, Passes[p].Batches - b));
    }

    /// <summary>Shard <paramref name="shard"/>'s chunks: a contiguous run of the plan's chunks (global chunk numbers).</summary>
    public (int First, int End) ChunkRange(int shard) =>
        ((int)((long)shard * TotalChunks / Shards), (int)((long)(shard + 1) * TotalChunks / Shards));

    /// <summary>Chunk size: a few chunks per shard for the balance, at most 256 batches (8,192 images at batch 32, a
    /// minute of work here) so that a killed shard loses little.</summary>
    public static int ChooseChunkBatches(int totalBatches, int shards) => Math.Clamp(totalBatches / (4 * shards), 1, 256);

    public static readonly JsonSerializerOptions Json = BundleManifest.JsonOptions;

    /// <summary>SHA-256 (hex) of the features' identity: a shard from another backbone, weights file, preprocessing,
    /// view set, engine, batch size or seed gets another fingerprint.</summary>
    public static string FingerprintOf(string model, string weightsSha256, string engine, Preprocessing pre, CachedViews views, int batchSize, int seed) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\u001f",
            $"format={CurrentFormat}", model, weightsSha256, engine, JsonSerializer.Serialize(pre, Json), JsonSerializer.Serialize(views, Json),
            $"batch={batchSize}", $"seed={seed}"))));

    /// <summary>files.tsv: one line per sample, "split TAB class TAB path relative to the root", train then val, each in
    /// the dataset's order (by class, then path).</summary>
    public static byte[] FileList(ImageDataset data)
    {
        var sb = new StringBuilder();
        foreach (var (split, samples) in new[] { ("train", data.Train), ("val", data.Val) })
            foreach (var s in samples)
            {
                string rel = Path.GetRelativePath(data.Root, s.Path).Replace('\\', '/');
                if (rel.Contains('\t') || rel.Contains('\n'))
                    throw new HeadstartException($"'{s.Path}' has a tab or a line break in its name, which a feature set's file list cannot hold; rename it");
                sb.Append(split).Append('\t').Append(data.Classes[s.Label]).Append('\t').Append(rel).Append('\n');
            }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    public static string HashOf(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}

/// <summary>One chunk of a shard, as its shard manifest lists it.</summary>
public sealed record ShardChunk(string Name, int Pass, int FirstBatch, int Rows, long Bytes, uint Crc32);

/// <summary>A finished shard (features/shard-I-of-N/shard.json), written last: its presence means the shard is complete.</summary>
public sealed record ShardManifest
{
    public int Format { get; init; } = FeaturePlan.CurrentFormat;
    public required int Shard { get; init; }
    public required int Shards { get; init; }
    public required string Fingerprint { get; init; }
    public required string ListHash { get; init; }
    public required int Dim { get; init; }
    public required IReadOnlyList<ShardChunk> Chunks { get; init; }
    public required int Rows { get; init; }
    public required int Skipped { get; init; }
    public double Seconds { get; init; }
    public string? Host { get; init; }
}

/// <summary>A chunk's sidecar (chunk-K.json), written after its rows (chunk-K.f32): which samples the rows are, which
/// failed to decode and why.</summary>
public sealed record ChunkRecord(int Pass, int FirstBatch, int Batches, int Dim, int[] Samples, IReadOnlyList<ChunkSkip> Skipped, long Bytes, uint Crc32);

/// <summary>A sample of a chunk that could not be decoded.</summary>
public sealed record ChunkSkip(int Sample, string Reason);

/// <summary>The files of a feature directory.</summary>
public static class FeatureDir
{
    public const string PlanFile = "plan.json", FileListFile = "files.tsv", ShardManifestFile = "shard.json";

    public static string ShardDir(string dir, int shard, int shards) => Path.Combine(dir, $"shard-{shard:D5}-of-{shards:D5}");
    public static string LockFile(string dir, int shard, int shards) => ShardDir(dir, shard, shards) + ".lock";
    public static string ChunkName(int chunk) => $"chunk-{chunk:D6}";

    public static FeaturePlan ReadPlan(string dir)
    {
        string path = Path.Combine(dir, PlanFile);
        if (!File.Exists(path)) throw new HeadstartException($"'{dir}' holds no {PlanFile}: it is not a feature directory written by 'headstart extract'");
        try
        {
            return JsonSerializer.Deserialize<FeaturePlan>(File.ReadAllText(path), FeaturePlan.Json)
                   ?? throw new HeadstartException($"{path} is empty");
        }
        catch (JsonException ex)
        {
            throw new HeadstartException($"{path} is not a readable feature plan: {ex.Message}");
        }
    }

    /// <summary>Reads a shard's manifest; null when the shard is not finished. A corrupt manifest is an error.</summary>
    public static ShardManifest? ReadShard(string dir, int shard, int shards)
    {
        string path = Path.Combine(ShardDir(dir, shard, shards), ShardManifestFile);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<ShardManifest>(File.ReadAllText(path), FeaturePlan.Json)
                   ?? throw new HeadstartException($"{path} is empty");
        }
        catch (JsonException ex)
        {
            throw new HeadstartException($"shard {shard} of {shards}: {path} is corrupt ({ex.Message}); delete {ShardDir(dir, shard, shards)} and extract that shard again");
        }
    }

    /// <summary>Publishes a file once: the first writer wins, a later one leaves it as it is (and compares, via the caller).</summary>
    public static bool PublishOnce(string path, byte[] bytes)
    {
        if (File.Exists(path)) return false;
        string tmp = $"{path}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            File.WriteAllBytes(tmp, bytes);
            try { File.Move(tmp, path, overwrite: false); return true; }
            catch (IOException) when (File.Exists(path)) { return false; }
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    internal static void WriteJson<T>(string path, T value) =>
        AtomicFiles.WriteAllText(path, JsonSerializer.Serialize(value, FeaturePlan.Json));
}
