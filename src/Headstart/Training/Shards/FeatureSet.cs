using System.IO.Hashing;
using System.Text.Json;
using Headstart.Data;
using Microsoft.Win32.SafeHandles;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>
/// A finished sharded extraction, checked and opened for training (<c>headstart train --features DIR</c>): every
/// shard of the plan present, from the same plan (fingerprint, file list, shard count), every chunk whole (length and
/// CRC-32). Its rows stay on disk (<see cref="ShardRows"/>): a head trains on a million rows in bounded memory.
/// </summary>
public sealed class FeatureSet
{
    public required string Directory { get; init; }
    public required FeaturePlan Plan { get; init; }
    /// <summary>The dataset as the plan listed it (files.tsv under the plan's root); images are only opened for reports.</summary>
    public required ImageDataset Dataset { get; init; }
    /// <summary>Images that failed to decode during extraction, with the reason.</summary>
    public required IReadOnlyList<SkippedFile> Skipped { get; init; }
    private readonly List<(string Path, ChunkRecord Record)> chunks = [];
    public int Dim { get; private init; }

    /// <summary>Checks and opens <paramref name="dir"/>. Each problem names the shard (and chunk) to extract again.</summary>
    public static FeatureSet Open(string dir)
    {
        dir = Path.GetFullPath(dir);
        if (!System.IO.Directory.Exists(dir)) throw new HeadstartException($"feature directory '{dir}' does not exist");
        var plan = FeatureDir.ReadPlan(dir);
        if (plan.Format != FeaturePlan.CurrentFormat)
            throw new HeadstartException($"{dir} holds features of format {plan.Format}; this Headstart reads format {FeaturePlan.CurrentFormat}");
        string listPath = Path.Combine(dir, FeatureDir.FileListFile);
        if (!File.Exists(listPath)) throw new HeadstartException($"{dir} has a plan but no {FeatureDir.FileListFile}: extract again into a new folder");
        byte[] list = File.ReadAllBytes(listPath);
        if (FeaturePlan.HashOf(list) != plan.ListHash)
            throw new HeadstartException($"{listPath} does not match its plan (SHA-256 {FeaturePlan.HashOf(list)[..12]}, plan {plan.ListHash[..12]}): it was edited or damaged");

        var problems = new List<string>();
        var missing = new List<int>();
        var manifests = new ShardManifest?[plan.Shards];
        for (int s = 0; s < plan.Shards; s++)
        {
            try { manifests[s] = FeatureDir.ReadShard(dir, s, plan.Shards); }
            catch (HeadstartException ex) { problems.Add(ex.Message); continue; }
            if (manifests[s] is not { } m) { missing.Add(s); continue; }
            if (m.Fingerprint != plan.Fingerprint) problems.Add($"shard {s} was extracted with another backbone, weights, preprocessing or views (fingerprint {m.Fingerprint[..12]}, plan {plan.Fingerprint[..12]})");
            else if (m.ListHash != plan.ListHash) problems.Add($"shard {s} was extracted from another file list (hash {m.ListHash[..12]}, plan {plan.ListHash[..12]})");
            else if (m.Shards != plan.Shards || m.Shard != s) problems.Add($"shard {s}'s manifest says shard {m.Shard} of {m.Shards}");
        }
        if (missing.Count > 0)
            problems.Insert(0, $"{missing.Count} of {plan.Shards} shard(s) not finished: {Ranges(missing)} (run 'headstart extract' for them; a finished shard has {FeatureDir.ShardManifestFile})");
        if (problems.Count > 0) throw new HeadstartException($"feature directory {dir}: {string.Join("; ", problems)}");

        // Every chunk of the plan exactly once, each whole.
        var dataset = ReadDataset(plan, list);
        var expected = plan.Chunks().ToList();
        var found = new (string Path, ChunkRecord Record)?[expected.Count];
        int dim = 0;
        var skipped = new List<SkippedFile>();
        for (int s = 0; s < plan.Shards; s++)
        {
            var (first, end) = plan.ChunkRange(s);
            var listed = manifests[s]!.Chunks.DistinctBy(c => c.Name).ToDictionary(c => c.Name, StringComparer.Ordinal);
            for (int c = first; c < end; c++)
            {
                string name = FeatureDir.ChunkName(c);
                var entry = listed.GetValueOrDefault(name);
                if (entry is null) { problems.Add($"shard {s}'s manifest lacks {name}"); continue; }
                string shardDir = FeatureDir.ShardDir(dir, s, plan.Shards), rows = Path.Combine(shardDir, name + ".f32");
                var record = ReadRecord(Path.Combine(shardDir, name + ".json"), s, name, problems);
                if (record is null) continue;
                if (CheckRows(rows, entry, s, name) is { } bad) { problems.Add(bad); continue; }
                if (record.Pass != expected[c].Pass || record.FirstBatch != expected[c].FirstBatch || record.Crc32 != entry.Crc32)
                {
                    problems.Add($"shard {s}: {name}.json does not match the plan or the shard's manifest");
                    continue;
                }
                if (record.Dim > 0 && dim > 0 && record.Dim != dim) { problems.Add($"shard {s}: {name} has rows of width {record.Dim}, others {dim}"); continue; }
                if (record.Dim > 0) dim = record.Dim;
                var samples = plan.Passes[record.Pass].Val ? dataset.Val : dataset.Train;
                foreach (var k in record.Skipped)
                    if (k.Sample >= 0 && k.Sample < samples.Count) skipped.Add(new SkippedFile(samples[k.Sample].Path, k.Reason));
                found[c] = (rows, record);
            }
        }
        if (problems.Count > 0)
            throw new HeadstartException($"feature directory {dir}: {string.Join("; ", problems.Take(5))}{(problems.Count > 5 ? $"; and {problems.Count - 5} more" : "")}. " +
                                         "Delete the named shard folder(s) and run 'headstart extract' for them again");
        var result = new FeatureSet { Directory = dir, Plan = plan, Dataset = dataset, Skipped = skipped.DistinctBy(f => f.Path).ToList(), Dim = dim };
        result.chunks.AddRange(found.Select(f => f!.Value));
        return result;
    }

    private static string Ranges(List<int> xs) => xs.Count <= 8 ? string.Join(", ", xs) : $"{string.Join(", ", xs.Take(8))}, ... ({xs.Count})";

    private static ChunkRecord? ReadRecord(string path, int shard, string name, List<string> problems)
    {
        try
        {
            if (!File.Exists(path)) { problems.Add($"shard {shard}: {name}.json is missing"); return null; }
            return JsonSerializer.Deserialize<ChunkRecord>(File.ReadAllText(path), FeaturePlan.Json);
        }
        catch (JsonException) { problems.Add($"shard {shard}: {name}.json is corrupt"); return null; }
    }

    /// <summary>Length and CRC-32 of a chunk's rows, read in 1 MB blocks (bounded memory whatever the size).</summary>
    private static string? CheckRows(string path, ShardChunk entry, int shard, string name)
    {
        if (!File.Exists(path)) return $"shard {shard}: {name}.f32 is missing";
        long length = new FileInfo(path).Length;
        if (length != entry.Bytes) return $"shard {shard}: {name}.f32 is truncated or damaged ({length:N0} of {entry.Bytes:N0} bytes)";
        var crc = new Crc32();
        var buffer = new byte[1 << 20];
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        int n;
        while ((n = fs.Read(buffer)) > 0) crc.Append(buffer.AsSpan(0, n));
        return crc.GetCurrentHashAsUInt32() == entry.Crc32 ? null : $"shard {shard}: {name}.f32 is corrupt (CRC-32 mismatch)";
    }

    private static ImageDataset ReadDataset(FeaturePlan plan, byte[] list)
    {
        var labelOf = plan.Classes.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i, StringComparer.Ordinal);
        var train = new List<ImageSample>(plan.TrainImages);
        var val = new List<ImageSample>(plan.ValImages);
        foreach (var line in System.Text.Encoding.UTF8.GetString(list).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split('\t');
            var sample = new ImageSample(Path.Combine(plan.Root, f[2]), labelOf[f[1]]);
            (f[0] == "val" ? val : train).Add(sample);
        }
        return new ImageDataset(plan.Root, plan.SplitKind, plan.Classes, train, val, [], new FileImageSource(new DecodeOptions()));
    }

    /// <summary>The features as a single-machine extraction would hold them (<see cref="FrozenFeatures"/>), rows left on disk.</summary>
    public FrozenFeatures Load()
    {
        var trainPasses = Enumerable.Range(0, Plan.Passes.Count).Where(p => !Plan.Passes[p].Val).ToList();
        int valCentre = Enumerable.Range(0, Plan.Passes.Count).First(p => Plan.Passes[p].Val);
        int? valMirror = Enumerable.Range(0, Plan.Passes.Count).Where(p => Plan.Passes[p].Val).Skip(1).Cast<int?>().FirstOrDefault();
        var train = Rows(trainPasses, Dataset.Train, out _);
        var val = Rows([valCentre], Dataset.Val, out int[] valRows);
        ShardRows? mirror = null;
        if (valMirror is int vm)
        {
            mirror = Rows([vm], Dataset.Val, out int[] mirrorRows);
            if (!mirrorRows.SequenceEqual(valRows)) { mirror.Dispose(); mirror = null; }   // as a single machine does
        }
        return new FrozenFeatures
        {
            Train = train, Val = val, ValRows = valRows, ValMirror = mirror,
            Engine = Plan.Engine == "onnx" ? "onnxruntime" : "torchsharp", WeightsSha256 = Plan.WeightsSha256,
            Views = Plan.Views.TrainViews, Extracted = 0, CacheHits = 0,
        };
    }

    /// <summary>The rows of some passes, pass after pass, each in sample order (chunks are in batch order).</summary>
    private ShardRows Rows(List<int> passes, IReadOnlyList<ImageSample> samples, out int[] sampleIndex)
    {
        var files = new List<string>();
        var fileOf = new List<int>();
        var offsets = new List<long>();
        var labels = new List<long>();
        var index = new List<int>();
        foreach (int p in passes)
            foreach (var (path, record) in chunks.Where(c => c.Record.Pass == p))
            {
                if (record.Samples.Length == 0) continue;
                files.Add(path);
                for (int r = 0; r < record.Samples.Length; r++)
                {
                    fileOf.Add(files.Count - 1);
                    offsets.Add((long)r * Dim * sizeof(float));
                    labels.Add(samples[record.Samples[r]].Label);
                    index.Add(record.Samples[r]);
                }
            }
        sampleIndex = [.. index];
        return new ShardRows(files, [.. fileOf], [.. offsets], [.. labels], Dim);
    }
}

/// <summary>
/// Feature rows in chunk files on disk, read with positioned reads (pread) per batch. Not memory-mapped on purpose:
/// mapped pages that have been read count in the process's resident set, so a shuffled epoch over 2 GB of rows would
/// grow it to 2 GB; the page cache serves these reads just as well and belongs to the kernel.
/// </summary>
public sealed class ShardRows : IFeatureRows
{
    private readonly IReadOnlyList<string> paths;
    private readonly SafeFileHandle?[] handles;
    private readonly int[] fileOf;
    private readonly long[] offsets;

    public ShardRows(IReadOnlyList<string> paths, int[] fileOf, long[] offsets, long[] labels, int dim)
    {
        this.paths = paths;
        handles = new SafeFileHandle?[paths.Count];
        this.fileOf = fileOf;
        this.offsets = offsets;
        Labels = labels;
        Dim = dim;
    }

    public int Count => Labels.Length;
    public int Dim { get; }
    public long[] Labels { get; }

    public Tensor Gather(ReadOnlySpan<long> rows)
    {
        // Read straight into memory libtorch allocated (64-byte aligned). A tensor over a managed array would start
        // wherever the GC put it, and the matrix kernels' results change in the last bits with the alignment of their
        // input, so the same rows would train a slightly different head from run to run.
        var batch = empty(rows.Length, Dim);   // (B, D) float32
        var bytes = batch.bytes;               // a view of its memory
        int width = Dim * sizeof(float);
        for (int i = 0; i < rows.Length; i++)
        {
            long r = rows[i];
            int f = fileOf[r];
            var handle = handles[f] ??= File.OpenHandle(paths[f], FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
            int read = RandomAccess.Read(handle, bytes.Slice(i * width, width), offsets[r]);
            if (read != width)
            {
                batch.Dispose();
                throw new HeadstartException($"{paths[f]} ended early (row {r}): the feature directory changed while training");
            }
        }
        return batch;
    }

    public void Dispose()
    {
        foreach (var h in handles) h?.Dispose();
    }
}
