using System.Text.Json;
using Headstart.Onnx;
using Headstart.Data;
using Headstart.Models;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>Which engine runs a frozen backbone during feature extraction.</summary>
public enum FeatureEngine
{
    /// <summary>ONNX Runtime when the weights' record says it runs the .onnx file as is (<see cref="WeightSource.RunsOnOnnxRuntime"/>); else TorchSharp.</summary>
    Auto,
    Torch,
    Onnx,
}

/// <summary>
/// The frozen fast path's cache in memory: backbone features of every training image (centre crop, its mirror image,
/// and random augmented views) and of the validation images (centre, plus mirror for test-time augmentation).
/// Extraction goes through the on-disk <see cref="FeatureCache"/>, so a second run on the same data is nearly free.
/// </summary>
public sealed class FrozenFeatures : IDisposable
{
    /// <summary>(N_train_rows, D): each pass's rows in turn (centre crops, then each cached view), rows in sample order.</summary>
    public required IFeatureRows Train { get; init; }
    /// <summary>(N_val, D), centre crops.</summary>
    public required IFeatureRows Val { get; init; }
    public long[] ValY => Val.Labels;
    public required int[] ValRows { get; init; }     // index into ImageDataset.Val per row
    /// <summary>(N_val, D), the same rows as <see cref="Val"/> mirrored, for flip TTA.</summary>
    public IFeatureRows? ValMirror { get; init; }
    public required string Engine { get; init; }
    /// <summary>SHA-256 of the backbone's weights file, when the disk cache computed it (it keys the cache).</summary>
    public string? WeightsSha256 { get; init; }
    public int CacheHits { get; init; }
    /// <summary>Image views this run sent through the backbone (the ones the cache did not hold).</summary>
    public int Extracted { get; init; }
    public int Views { get; init; }

    /// <summary>Chooses the engine from the weights' record: ONNX Runtime runs the very .onnx file the weights came
    /// from when the record says it can; a backbone only ONNX Runtime can run never falls back to TorchSharp.</summary>
    public static FeatureEngine Resolve(FeatureEngine requested, ModelSpec spec, ResolvedWeights? weights)
    {
        bool ort = weights?.Source.RunsOnOnnxRuntime == true;
        bool torch = weights is null || weights.Source.Engines.HasFlag(WeightEngines.TorchSharp);
        if (requested == FeatureEngine.Onnx && !ort)
            throw new HeadstartException($"--engine onnx runs a backbone from its .onnx weights file; {spec.Name} was loaded from " +
                                         $"{weights?.Path ?? "random initialisation"}, which ONNX Runtime does not run as is. Use --engine torch.");
        if (requested == FeatureEngine.Torch && !torch)
            throw new HeadstartException($"{spec.Name}'s backbone {weights!.Path} runs in ONNX Runtime only; leave --engine out");
        return requested == FeatureEngine.Auto ? (ort ? FeatureEngine.Onnx : FeatureEngine.Torch) : requested;
    }

    internal enum ViewKind { Centre, Mirror, Random }

    /// <summary>One backbone pass over a split: which images, which view (its transform), and the view's cache name.</summary>
    internal sealed record ViewPass(IReadOnlyList<ImageSample> Samples, ViewKind Kind, string Name, int Seed, bool Val)
    {
        /// <summary>The transform of this pass's view.</summary>
        public ImageTransform Transform(Preprocessing pre, CachedViews views, float[]? meanImage) => Kind switch
        {
            ViewKind.Centre => ImageTransform.Eval(pre, meanImage),
            ViewKind.Mirror => ImageTransform.EvalMirrored(pre, meanImage),
            _ => ImageTransform.Train(pre, views.RandomAugment, meanImage),
        };
    }

    /// <summary>The passes of a plan's cached views, in extraction order: the training images' centre crop, their
    /// mirror image (1 view or more) and random augmented views, then the validation centre crop and, with mirrored
    /// validation views, its mirror.</summary>
    internal static List<ViewPass> Passes(ImageDataset data, CachedViews views, int seed)
    {
        var passes = new List<ViewPass> { new(data.Train, ViewKind.Centre, "centre", 0, false) };
        if (views.TrainViews >= 1) passes.Add(new(data.Train, ViewKind.Mirror, "mirror", 0, false));
        for (int v = 2; v <= views.TrainViews; v++) passes.Add(new(data.Train, ViewKind.Random, $"random-{views.RandomAugment}-{v}-seed{seed}", v, false));
        passes.Add(new(data.Val, ViewKind.Centre, "centre", 0, true));
        if (views.MirroredValidation) passes.Add(new(data.Val, ViewKind.Mirror, "mirror", 0, true));
        return passes;
    }

    /// <summary>The cache namespace of one view: everything that changes a feature (model, weights, preprocessing,
    /// view, engine).</summary>
    private static string Namespace(ModelSpec spec, Preprocessing pre, string weightsHash, string view, FeatureEngine engine) =>
        FeatureCache.Namespace(spec.Name, weightsHash, JsonSerializer.Serialize(pre, BundleManifest.JsonOptions),
            view, engine.ToString());

    /// <summary>
    /// True when the on-disk cache already holds every feature (or cached decode failure) a frozen run on
    /// <paramref name="data"/> needs: a warm run, which never runs the backbone. Cheap (file stats and the cache
    /// indexes); a cold run uses it to start building the backbone's session early (<see cref="PendingOrtSession"/>).
    /// </summary>
    public static bool AllCached(ModelSpec spec, ResolvedWeights? weights, ImageDataset data, TrainOptions o) =>
        TrainingPlanner.Plan(o, spec, DataShape.Of(data)).Features is { } views && AllCached(spec, weights, data, o, views);

    internal static bool AllCached(ModelSpec spec, ResolvedWeights? weights, ImageDataset data, TrainOptions o, CachedViews views)
    {
        string? cacheRoot = weights is null ? null : FeatureCache.Root(o.CacheDir);
        if (cacheRoot is null) return false;
        var engine = Resolve(o.Engine, spec, weights);
        var pre = spec.PreprocessingFor(weights!.Source);
        string weightsHash = FeatureCache.WeightsFingerprint(weights.Path, cacheRoot);
        foreach (var pass in Passes(data, views, o.Seed))
        {
            using var cache = new FeatureCache(cacheRoot, Namespace(spec, pre, weightsHash, pass.Name, engine));
            if (!pass.Samples.All(s => cache.Contains(FeatureCache.KeyOf(s)))) return false;
        }
        return true;
    }

    /// <param name="session">An ONNX Runtime session already being built (<see cref="PendingOrtSession"/>), taken on
    /// the first cache miss when ONNX Runtime is the engine; else one is built then.</param>
    public static FrozenFeatures Extract(ImageClassifier model, ModelSpec spec, ResolvedWeights? weights, Preprocessing pre,
        ImageDataset data, TrainOptions o, CachedViews views, float[]? meanImage, ITrainingReporter? reporter, Action<SkippedFile> onSkipped, CancellationToken ct,
        PendingOrtSession? session = null, StageTimings? timings = null)
    {
        var engine = Resolve(o.Engine, spec, weights);
        // Created on the first cache miss only: a warm run never pays for building the ONNX Runtime session.
        var ort = new Lazy<OrtFeatureExtractor>(() =>
        {
            if (session is not null) return session.Take();
            using var _ = timings?.Measure("ort_session");
            return new OrtFeatureExtractor(weights!.Path, allowSpinning: false, featureOutput: weights.Source.FeatureOutput);
        });
        model.eval();
        Func<Tensor, Tensor> backbone = engine == FeatureEngine.Onnx ? x => ort.Value.Extract(x) : model.ForwardFeatures;
        try
        {
            return ExtractWith(backbone, engine, spec, weights?.Path, pre, data, o, views, meanImage, reporter, onSkipped, ct);
        }
        finally
        {
            if (ort.IsValueCreated) ort.Value.Dispose();
        }
    }

    private static FrozenFeatures ExtractWith(Func<Tensor, Tensor> backbone, FeatureEngine engine, ModelSpec spec,
        string? weightsPath, Preprocessing pre, ImageDataset data, TrainOptions o, CachedViews cached, float[]? meanImage, ITrainingReporter? reporter,
        Action<SkippedFile> onSkipped, CancellationToken ct)
    {
        if (data.Val.Count == 0)
            throw new HeadstartException("the validation split is empty: add images to val/ or use a larger --val-split");
        var centre = ImageTransform.Eval(pre, meanImage);
        var mirror = ImageTransform.EvalMirrored(pre, meanImage);
        var random = ImageTransform.Train(pre, cached.RandomAugment, meanImage);
        var passes = Passes(data, cached, o.Seed);
        int views = passes.Count(p => !p.Val) - 1;
        bool tta = passes.Count(p => p.Val) == 2;
        int total = passes.Sum(p => p.Samples.Count);
        reporter?.BeginPhase($"extracting features with {(engine == FeatureEngine.Onnx ? "ONNX Runtime" : "TorchSharp")} " +
                             $"({1 + views} view(s) per training image{(tta ? ", mirrored validation views" : "")}): {total} image views", total);

        string? cacheRoot = weightsPath is null ? null : FeatureCache.Root(o.CacheDir);
        string? weightsHash = cacheRoot is null ? null : FeatureCache.WeightsFingerprint(weightsPath!, cacheRoot);
        int hits = 0;
        (Tensor X, long[] Y, int[] Rows) Run(ViewPass pass)
        {
            var tf = pass.Kind switch { ViewKind.Centre => centre, ViewKind.Mirror => mirror, _ => random };
            Action<int> tick = n => reporter?.AdvancePhase(n);
            if (cacheRoot is null)
                return FeatureExtractor.Extract(backbone, data.Source, pass.Samples, tf, o.BatchSize, o.Seed, pass.Seed, o.Workers, onSkipped, tick, ct);
            using var cache = new FeatureCache(cacheRoot, Namespace(spec, pre, weightsHash!, pass.Name, engine));
            var (x, y, rows, h) = CachedFeatures.Extract(cache, backbone, data.Source, pass.Samples, tf, o.BatchSize, o.Seed, pass.Seed, o.Workers, onSkipped, tick, ct);
            hits += h;
            return (x, y, rows);
        }

        var parts = new List<Tensor>();
        var labels = new List<long>();
        foreach (var pass in passes.Where(p => !p.Val))
        {
            var (x, y, _) = Run(pass);
            parts.Add(x);
            labels.AddRange(y);
        }
        var (valX, valY, valRows) = Run(passes.First(p => p.Val));
        Tensor? valMirror = null;
        if (tta)
        {
            var (mx, _, mrows) = Run(passes.Last());
            if (mrows.SequenceEqual(valRows)) valMirror = mx;
            else mx.Dispose();   // a file that decoded once but not twice: skip TTA rather than misalign rows
        }
        reporter?.EndPhase();
        if (hits > 0) reporter?.Info($"feature cache: {hits} of {total} image views read from {cacheRoot}");
        var trainX = cat(parts, 0); // (N * (1 + views), D)
        foreach (var p in parts) p.Dispose();
        return new FrozenFeatures
        {
            Train = new TensorRows(trainX, [.. labels]), Val = new TensorRows(valX, valY), ValRows = valRows,
            ValMirror = valMirror is null ? null : new TensorRows(valMirror, valY),
            Engine = engine == FeatureEngine.Onnx ? "onnxruntime" : "torchsharp", CacheHits = hits, Extracted = total - hits, Views = views,
            WeightsSha256 = weightsHash,
        };
    }

    /// <summary>The training rows as shuffled mini-batches (the head's training set).</summary>
    public FeatureBatchSource TrainBatches(int batchSize, int seed) => new(Train, batchSize, seed);

    /// <summary>The validation rows (centre views), for per-epoch validation of the head.</summary>
    public FeatureBatchSource ValBatches(int seed) => new(Val, 256, seed);

    /// <summary>Rows per forward pass when evaluating: bounds memory on a big validation set, and fixes the chunks so
    /// that rows in memory and rows on disk give the same numbers.</summary>
    private const int EvalChunk = 4096;

    /// <summary>Validation log-probabilities (N, C) of the classifier section, averaged in probability space with the
    /// mirrored view.</summary>
    public Tensor ValLogProbabilities(ImageClassifier model)
    {
        model.eval();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var chunks = new List<Tensor>();
        for (long start = 0; start < Val.Count; start += EvalChunk)
        {
            long[] rows = new long[Math.Min(EvalChunk, Val.Count - start)];
            for (int i = 0; i < rows.Length; i++) rows[i] = start + i;
            var logp = nn.functional.log_softmax(model.ForwardClassifier(Val.Gather(rows)), 1);        // (B, C)
            if (ValMirror is not null)
            {
                var mirrored = nn.functional.log_softmax(model.ForwardClassifier(ValMirror.Gather(rows)), 1);
                logp = logp.exp().add(mirrored.exp(), Scalars.One).div(Scalars.Of(2)).log();   // mean of the two views' probabilities
            }
            chunks.Add(logp);
        }
        return cat(chunks, 0).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Train.Dispose();
        Val.Dispose();
        ValMirror?.Dispose();
    }
}
