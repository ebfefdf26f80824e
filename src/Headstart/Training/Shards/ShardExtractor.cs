using System.Diagnostics;
using System.IO.Hashing;
using Headstart.Data;
using Headstart.IO;
using Headstart.Models;
using Headstart.Onnx;
using Headstart.Weights;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>What one worker's run of a shard did.</summary>
/// <param name="AlreadyDone">The shard was complete before this run started (a re-run, or another worker finished it).</param>
/// <param name="WaitedForOther">Another worker held the shard; this one waited for it to let go.</param>
/// <param name="ChunksResumed">Chunks a killed earlier run had finished, kept as they were.</param>
public sealed record ShardOutcome(int Shard, int Shards, string Directory, bool AlreadyDone, bool WaitedForOther,
    int Chunks, int ChunksResumed, int Rows, int Skipped, double Seconds);

/// <summary>
/// One worker of a sharded feature extraction (<c>headstart extract --shard I/N</c>): computes the frozen plan
/// (<see cref="FeaturePlan"/>), publishes it or checks it against the one already published, takes the shard's lock,
/// and extracts the shard's chunks that are not done yet. Each chunk is written under a temporary name and renamed,
/// then its sidecar; the shard's manifest is published last. So a re-run of a finished shard returns at once, a
/// killed one continues from its last finished chunk, and two workers on one shard never both write it.
/// </summary>
public sealed class ShardExtractor(ITrainingReporter? reporter = null)
{
    /// <summary>The plan for <paramref name="data"/> with the options <paramref name="o"/> cut in
    /// <paramref name="shards"/> shards: the same on every worker that lists the same files.</summary>
    public static FeaturePlan PlanFor(ImageDataset data, TrainOptions o, int shards)
    {
        if (shards < 1) throw new HeadstartException($"the shard count must be 1 or more, got {shards}");
        var spec = ModelRegistry.Get(o.Model);
        if (!o.Pretrained) throw new HeadstartException("extract computes pretrained features: --no-pretrained has nothing to extract");
        var plan = TrainingPlanner.Plan(o, spec, DataShape.Of(data));
        if (!plan.FeaturesOnly || plan.Features is not { } views)
            throw new HeadstartException("extract computes the frozen recipe's features (--strategy frozen, the default); fine-tuning trains on images");
        if (data.Val.Count == 0) throw new HeadstartException("the validation split is empty: add images to val/ or use a larger --val-split");
        var weights = Pretrained.Resolve(spec, o.WeightsPath);
        var engine = FrozenFeatures.Resolve(o.Engine, spec, weights);
        var pre = spec.PreprocessingFor(weights.Source);
        string sha = FileHashes.Sha256(weights.Path);
        var passes = FrozenFeatures.Passes(data, views, o.Seed)
            .Select(p => new FeaturePass(p.Name, p.Val, (p.Samples.Count + o.BatchSize - 1) / o.BatchSize, p.Samples.Count)).ToList();
        string engineName = engine.ToString().ToLowerInvariant();
        return new FeaturePlan
        {
            Fingerprint = FeaturePlan.FingerprintOf(spec.Name, sha, engineName, pre, views, o.BatchSize, o.Seed),
            ListHash = FeaturePlan.HashOf(FeaturePlan.FileList(data)),
            Shards = shards, BatchSize = o.BatchSize,
            ChunkBatches = FeaturePlan.ChooseChunkBatches(passes.Sum(p => p.Batches), shards),
            Model = spec.Name, WeightsPath = weights.Path, WeightsSha256 = sha, Engine = engineName, Preprocessing = pre,
            Views = views, Seed = o.Seed,
            Options = o with { AugmentViews = views.TrainViews, TestTimeFlip = views.MirroredValidation, Workers = 0, CacheDir = null },
            Classes = data.Classes, Root = data.Root, SplitKind = data.SplitKind, TrainImages = data.Train.Count,
            ValImages = data.Val.Count, Passes = passes, ListedSkipped = data.Skipped.Count,
        };
    }

    /// <summary>Extracts shard <paramref name="shard"/> of <paramref name="shards"/> into <paramref name="dir"/>.</summary>
    public ShardOutcome Extract(ImageDataset data, TrainOptions o, string dir, int shard, int shards, CancellationToken ct = default)
    {
        if (shard < 0 || shard >= shards) throw new HeadstartException($"shard index {shard} is outside 0..{shards - 1}");
        var clock = Stopwatch.StartNew();
        dir = Path.GetFullPath(dir);
        Directory.CreateDirectory(dir);
        var plan = PlanFor(data, o, shards);
        Publish(dir, plan, data);
        string shardDir = FeatureDir.ShardDir(dir, shard, shards);
        var (first, end) = plan.ChunkRange(shard);
        if (FeatureDir.ReadShard(dir, shard, shards) is { } done)
            return Finished(done, shardDir, alreadyDone: true, waited: false, resumed: end - first, clock);

        bool waited = false;
        using var gate = Lock(dir, shard, shards, ref waited, ct);
        if (FeatureDir.ReadShard(dir, shard, shards) is { } doneMeanwhile)   // the other worker finished it
            return Finished(doneMeanwhile, shardDir, alreadyDone: true, waited, resumed: end - first, clock);

        Directory.CreateDirectory(shardDir);
        foreach (var f in Directory.EnumerateFiles(shardDir, "*.tmp-*")) File.Delete(f);   // a killed run's partial writes
        var chunks = plan.Chunks().ToList();
        var passes = FrozenFeatures.Passes(data, plan.Views, plan.Seed);
        var records = new List<(int Chunk, ChunkRecord Record)>();
        var todo = new List<int>();
        for (int c = first; c < end; c++)
        {
            if (ReadChunk(shardDir, c) is { } kept) records.Add((c, kept));
            else todo.Add(c);
        }
        int resumed = records.Count;
        if (resumed > 0 && todo.Count > 0) reporter?.Info($"shard {shard} of {shards}: resuming, {resumed} of {end - first} chunk(s) already done");
        if (todo.Count > 0)
        {
            var weights = Pretrained.Resolve(ModelRegistry.Get(plan.Model), o.WeightsPath);
            int images = todo.Sum(c => ChunkImages(plan, chunks[c]));
            using var backbone = Backbone.Open(plan, weights, data.Classes.Count, o.Seed);
            float[]? mean = plan.Preprocessing.MeanImage is { } mi ? MeanImages.Get(mi) : null;
            reporter?.BeginPhase($"shard {shard} of {shards}: extracting {images} image view(s) with {backbone.Name}, {todo.Count} chunk(s)", images);
            try
            {
                foreach (int c in todo)
                {
                    ct.ThrowIfCancellationRequested();
                    var (p, firstBatch, batches) = chunks[c];
                    var pass = passes[p];
                    records.Add((c, WriteChunk(shardDir, c, p, firstBatch, batches, pass, pass.Transform(plan.Preprocessing, plan.Views, mean),
                        data.Source, plan, backbone, o.Workers, ct)));
                }
            }
            finally
            {
                reporter?.EndPhase();
            }
        }
        records.Sort((a, b) => a.Chunk.CompareTo(b.Chunk));
        int dim = records.Select(r => r.Record.Dim).FirstOrDefault(d => d > 0);
        var manifest = new ShardManifest
        {
            Shard = shard, Shards = shards, Fingerprint = plan.Fingerprint, ListHash = plan.ListHash, Dim = dim,
            Chunks = [.. records.Select(r => new ShardChunk(FeatureDir.ChunkName(r.Chunk), r.Record.Pass, r.Record.FirstBatch, r.Record.Samples.Length, r.Record.Bytes, r.Record.Crc32))],
            Rows = records.Sum(r => r.Record.Samples.Length), Skipped = records.Sum(r => r.Record.Skipped.Count),
            Seconds = clock.Elapsed.TotalSeconds, Host = Environment.MachineName,
        };
        FeatureDir.WriteJson(Path.Combine(shardDir, FeatureDir.ShardManifestFile), manifest);   // last: the shard is done
        return new ShardOutcome(shard, shards, shardDir, false, waited, end - first, resumed, manifest.Rows, manifest.Skipped, clock.Elapsed.TotalSeconds);
    }

    private static ShardOutcome Finished(ShardManifest m, string shardDir, bool alreadyDone, bool waited, int resumed, Stopwatch clock) =>
        new(m.Shard, m.Shards, shardDir, alreadyDone, waited, m.Chunks.Count, resumed, m.Rows, m.Skipped, clock.Elapsed.TotalSeconds);

    private static int ChunkImages(FeaturePlan plan, (int Pass, int FirstBatch, int Batches) c) =>
        Math.Min((c.FirstBatch + c.Batches) * plan.BatchSize, plan.Passes[c.Pass].Images) - c.FirstBatch * plan.BatchSize;

    /// <summary>Publishes files.tsv then plan.json, unless a worker already did; then every worker's plan must equal
    /// the published one.</summary>
    private static void Publish(string dir, FeaturePlan plan, ImageDataset data)
    {
        string planPath = Path.Combine(dir, FeatureDir.PlanFile);
        if (!File.Exists(planPath))
        {
            FeatureDir.PublishOnce(Path.Combine(dir, FeatureDir.FileListFile), FeaturePlan.FileList(data));
            FeatureDir.PublishOnce(planPath, System.Text.Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(plan, FeaturePlan.Json)));
        }
        var published = FeatureDir.ReadPlan(dir);
        if (published.Format != FeaturePlan.CurrentFormat)
            throw new FeaturePlanMismatchException($"{dir} holds features of format {published.Format}; this Headstart writes format {FeaturePlan.CurrentFormat}. Use a new --out");
        if (published.Fingerprint != plan.Fingerprint)
            throw new FeaturePlanMismatchException($"{dir} holds features of another backbone, weights, preprocessing, views, batch size or seed " +
                                                   $"({published.Model}, weights {published.WeightsSha256[..12]}, views {published.Views}, batch {published.BatchSize}, seed {published.Seed}; " +
                                                   $"this worker: {plan.Model}, weights {plan.WeightsSha256[..12]}, views {plan.Views}, batch {plan.BatchSize}, seed {plan.Seed}). Use a new --out");
        if (published.ListHash != plan.ListHash)
            throw new FeaturePlanMismatchException($"the file list changed since the plan in {dir} was made: it lists {published.TrainImages} train / {published.ValImages} val " +
                                                   $"image(s) (hash {published.ListHash[..12]}), this worker sees {plan.TrainImages} / {plan.ValImages} (hash {plan.ListHash[..12]}). " +
                                                   "Every shard must see the same files: freeze the data (or its manifest), then extract into a new --out");
        if (published.Shards != plan.Shards)
            throw new FeaturePlanMismatchException($"{dir} is cut in {published.Shards} shard(s); this worker was given {plan.Shards}. Use the same count, or a new --out");
    }

    /// <summary>The shard's lock, held while this worker writes it. Another worker holding it means the shard is being
    /// extracted: wait for it to finish (or die) rather than write beside it.</summary>
    private FileStream Lock(string dir, int shard, int shards, ref bool waited, CancellationToken ct)
    {
        string path = FeatureDir.LockFile(dir, shard, shards);
        while (true)
        {
            try
            {
                var fs = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                fs.SetLength(0);
                var note = System.Text.Encoding.UTF8.GetBytes($"{Environment.MachineName} pid {Environment.ProcessId}\n");
                fs.Write(note);
                fs.Flush();
                return fs;
            }
            catch (IOException) when (File.Exists(path))
            {
                if (!waited) reporter?.Info($"shard {shard} of {shards} is being extracted by another worker ({Holder(path)}); waiting for it");
                waited = true;
                ct.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(500));
                ct.ThrowIfCancellationRequested();
            }
        }
    }

    private static string Holder(string path)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var r = new StreamReader(fs);
            return r.ReadLine() ?? "unknown";
        }
        catch (IOException) { return "unknown"; }
    }

    /// <summary>A chunk a previous run finished: its sidecar parses and its rows file has the recorded length.</summary>
    private static ChunkRecord? ReadChunk(string shardDir, int chunk)
    {
        string json = Path.Combine(shardDir, FeatureDir.ChunkName(chunk) + ".json"), rows = Path.Combine(shardDir, FeatureDir.ChunkName(chunk) + ".f32");
        if (!File.Exists(json) || !File.Exists(rows)) return null;
        try
        {
            var r = System.Text.Json.JsonSerializer.Deserialize<ChunkRecord>(File.ReadAllText(json), FeaturePlan.Json);
            return r is not null && new FileInfo(rows).Length == r.Bytes ? r : null;
        }
        catch (System.Text.Json.JsonException) { return null; }
    }

    private ChunkRecord WriteChunk(string shardDir, int chunk, int passIndex, int firstBatch, int batches, FrozenFeatures.ViewPass pass,
        ImageTransform transform, IImageSource source, FeaturePlan plan, Backbone backbone, int workers, CancellationToken ct)
    {
        int lo = firstBatch * plan.BatchSize, hi = Math.Min((firstBatch + batches) * plan.BatchSize, pass.Samples.Count);
        int[] order = [.. Enumerable.Range(lo, hi - lo)];
        var byPath = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = lo; i < hi; i++) byPath.TryAdd(pass.Samples[i].Path, i);
        var samples = new List<int>();
        var skipped = new List<ChunkSkip>();
        var crc = new Crc32();
        long bytes = 0;
        int dim = 0;
        string name = FeatureDir.ChunkName(chunk);
        string final = Path.Combine(shardDir, name + ".f32"), tmp = $"{final}.tmp-{Environment.ProcessId}";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            using var _ = no_grad();
            // The same call a single-machine run makes (FeatureExtractor): the pass's whole sample list, this chunk's
            // batches of it, the view's seed; so batches, augmentation draws and features are the same.
            foreach (var batch in BatchLoader.Batches(source, pass.Samples, order, transform, plan.BatchSize, plan.Seed, pass.Seed, workers,
                         f => skipped.Add(new ChunkSkip(byPath.GetValueOrDefault(f.Path, -1), f.Reason)), ct))
            {
                using (batch)
                using (var scope = NewDisposeScope())
                {
                    var feats = backbone.Run(batch.Images).contiguous();   // (B, D)
                    dim = (int)feats.shape[1];
                    var row = feats.bytes;   // a view of the (B, D) rows, no copy
                    crc.Append(row);
                    fs.Write(row);
                    bytes += row.Length;
                }
                samples.AddRange(batch.Indices);
                reporter?.AdvancePhase(batch.Count);
            }
            reporter?.AdvancePhase(skipped.Count);
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, final, overwrite: true);
        var record = new ChunkRecord(passIndex, firstBatch, batches, dim, [.. samples], skipped, bytes, crc.GetCurrentHashAsUInt32());
        FeatureDir.WriteJson(Path.Combine(shardDir, name + ".json"), record);
        return record;
    }

    /// <summary>The frozen backbone as the plan's engine runs it: ONNX Runtime on the weights' .onnx file, or the
    /// TorchSharp model with the weights loaded, in eval mode.</summary>
    internal sealed class Backbone : IDisposable
    {
        private readonly OrtFeatureExtractor? ort;
        private readonly ImageClassifier? model;
        public string Name { get; }

        private Backbone(OrtFeatureExtractor? ort, ImageClassifier? model, string name) => (this.ort, this.model, Name) = (ort, model, name);

        public static Backbone Open(FeaturePlan plan, ResolvedWeights weights, int classes, int seed)
        {
            if (plan.Engine == "onnx")
                return new Backbone(new OrtFeatureExtractor(weights.Path, allowSpinning: false, featureOutput: weights.Source.FeatureOutput), null, "ONNX Runtime");
            var spec = ModelRegistry.Get(plan.Model);
            manual_seed(seed);
            var model = spec.Create(classes);
            Pretrained.Load(model, spec, weights);
            model.eval();
            return new Backbone(null, model, "TorchSharp");
        }

        /// <summary>(B, 3, S, S) → (B, D).</summary>
        public Tensor Run(Tensor images) => ort is not null ? ort.Extract(images) : model!.ForwardFeatures(images).detach();

        public void Dispose()
        {
            ort?.Dispose();
            model?.Dispose();
        }
    }
}

/// <summary>A worker's plan differs from the one its feature directory holds (another backbone, another file list,
/// another shard count): retrying cannot fix it.</summary>
public sealed class FeaturePlanMismatchException(string message) : HeadstartException(message);
