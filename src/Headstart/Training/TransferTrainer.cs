using System.Diagnostics;
using System.Text.Json;
using Headstart.Bundles;
using Headstart.Data;
using Headstart.Evaluation;
using Headstart.Models;
using Headstart.Weights;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>One validation prediction, kept for reports (top losses).</summary>
public sealed record PredictionRecord(string Path, int Actual, int Predicted, float Probability, float Loss);

/// <summary>The outcome of a training run: the trained model, its manifest (for the bundle) and validation results.</summary>
public sealed class TrainResult(ImageClassifier model, ModelSpec spec, BundleManifest manifest,
    IReadOnlyList<PredictionRecord> predictions) : IDisposable
{
    public ImageClassifier Model { get; } = model;
    public ModelSpec Spec { get; } = spec;
    public BundleManifest Manifest { get; } = manifest;
    public IReadOnlyList<PredictionRecord> ValPredictions { get; } = predictions;
    public ClassificationMetrics Metrics => Manifest.Metrics!;
    public void Dispose() => Model.Dispose();
}

/// <summary>
/// The transfer-learning recipe end to end: build the pretrained backbone, freeze it, re-head to N classes, train
/// (on cached features when the backbone is frozen), evaluate on the validation split.
/// </summary>
public sealed class TransferTrainer(ITrainingReporter? reporter = null)
{
    private readonly List<SkippedFile> skipped = [];

    public TrainResult Train(ImageDataset data, TrainOptions o, CancellationToken ct = default)
    {
        var total = Stopwatch.StartNew();
        manual_seed(o.Seed);
        if (data.Classes.Count < 2) throw new HeadstartException($"need at least 2 classes, found {data.Classes.Count} in {data.Root}");
        if (data.Train.Count == 0) throw new HeadstartException($"no training images in {data.Root}");
        var spec = ModelRegistry.Get(o.Model);
        var model = spec.Create(data.Classes.Count);
        string? from = null;
        if (o.Pretrained)
        {
            from = Pretrained.Resolve(spec, o.WeightsPath);
            var report = Pretrained.Load(model, spec, from);
            reporter?.Info($"loaded pretrained {spec.Name} weights from {from} ({report.Loaded.Count} tensors; new {data.Classes.Count}-class head)");
        }
        float[]? meanImage = spec.Preprocessing.MeanImage is { } mi ? MeanImages.Get(mi) : null;
        var evalTf = ImageTransform.Eval(spec.Preprocessing, meanImage);
        var trainTf = ImageTransform.Train(spec.Preprocessing, o.Augment, meanImage);
        skipped.Clear();
        skipped.AddRange(data.Skipped);

        var callbacks = new List<Callback>();
        if (reporter is not null) callbacks.Add(new ProgressCallback(reporter));
        SaveBestCallback? best = o.KeepBest ? new SaveBestCallback() : null;
        if (best is not null) callbacks.Add(best);
        if (o.EarlyStoppingPatience is int pat) callbacks.Add(new EarlyStoppingCallback(pat, monitor: "val_loss"));
        if (o.ClipGradNorm is double clip) callbacks.Add(new GradientClipCallback(clip));
        var optimizer = new OptimizerOptions
        {
            Kind = o.Optimizer, Momentum = o.Momentum, Nesterov = o.Nesterov, WeightDecay = o.WeightDecay,
        };
        var schedule = Schedule.Create(o.Schedule, o.StepSize, o.Gamma, warmup: 0.05);

        IReadOnlyList<PredictionRecord> predictions;
        IReadOnlyList<EpochRecord> history;
        bool frozen = o.Strategy == Strategy.Frozen && o.Freeze == "features";
        if (frozen)
        {
            // Fast path: the backbone runs once per image (and per augmented view); only the classifier trains.
            var (trainSet, valSet, valRows) = ExtractCached(model, spec, from, data, evalTf, trainTf, o, ct);
            using var learner = new Learner(model, spec, trainSet, valSet, optimizer, callbacks, o.LabelSmoothing, o.Seed);
            learner.Freeze();
            learner.Fit(o.Epochs, o.LearningRate ?? (o.Optimizer == OptimizerKind.Sgd ? 1e-2 : 1e-3), schedule);
            history = learner.Recorder.History.ToList();
            predictions = Predict(model, valSet, valRows, data, features: true);
            valSet.X.Dispose(); trainSet.X.Dispose();
        }
        else
        {
            void Skip(SkippedFile f) { lock (skipped) skipped.Add(f); }
            var trainSet = new ImageBatchSource(data.Source, data.Train, trainTf, o.BatchSize, o.Seed, o.Workers, Skip);
            var valSet = new ImageBatchSource(data.Source, data.Val, evalTf, o.BatchSize, o.Seed, o.Workers, Skip);
            using var learner = new Learner(model, spec, trainSet, data.Val.Count > 0 ? valSet : null, optimizer, callbacks, o.LabelSmoothing, o.Seed);
            double lr = o.LearningRate ?? (o.Optimizer == OptimizerKind.Sgd ? 1e-2 : 1e-3);
            switch (o.Strategy)
            {
                case Strategy.FineTune:
                    FineTune.Run(learner, o.FreezeEpochs, o.Epochs, lr);
                    break;
                default:
                    learner.FreezeTo(ParseFreeze(o.Freeze, spec));
                    learner.Fit(o.Epochs, lr, schedule);
                    break;
            }
            history = learner.Recorder.History.ToList();
            predictions = PredictImages(model, data, evalTf, o);
        }

        var metrics = ClassificationMetrics.Compute(data.Classes,
            predictions.Select(p => p.Actual).ToList(), predictions.Select(p => p.Predicted).ToList());
        var manifest = new BundleManifest
        {
            Arch = spec.Name,
            Classes = data.Classes,
            Preprocessing = spec.Preprocessing,
            PretrainedFrom = from,
            Training = JsonSerializer.SerializeToElement(o, BundleManifest.JsonOptions).EnumerateObject()
                .ToDictionary(p => p.Name, p => p.Value.Clone()),
            History = history,
            Metrics = metrics,
            Dataset = Summarise(data),
            TrainSeconds = total.Elapsed.TotalSeconds,
        };
        return new TrainResult(model, spec, manifest, predictions);
    }

    /// <summary>Parses --freeze: "features" = all but the head, "none" = 0, or N.</summary>
    public static int ParseFreeze(string freeze, ModelSpec spec) => freeze switch
    {
        "features" => spec.LayerGroups.Count - 1,
        "none" => 0,
        _ when int.TryParse(freeze, out int n) && n >= 0 && n < spec.LayerGroups.Count => n,
        _ => throw new HeadstartException(
            $"--freeze must be 'features', 'none' or a number of layer groups 0..{spec.LayerGroups.Count - 1} for {spec.Name}; got '{freeze}'"),
    };

    private (TensorBatchSource Train, TensorBatchSource Val, int[] ValRows) ExtractCached(ImageClassifier model, ModelSpec spec,
        string? weightsPath, ImageDataset data, ImageTransform evalTf, ImageTransform trainTf, TrainOptions o, CancellationToken ct)
    {
        void Skip(SkippedFile f) { lock (skipped) if (!skipped.Any(s => s.Path == f.Path)) skipped.Add(f); }
        int views = o.Augment == AugmentLevel.None ? 0 : Math.Max(0, o.AugmentViews);
        int totalImages = data.Train.Count * (1 + views) + data.Val.Count;
        reporter?.BeginPhase($"extracting features ({1 + views} view(s) per training image)", totalImages);
        var feats = new List<Tensor>();
        var labels = new List<long>();
        // Disk cache: keyed by model, weights hash, preprocessing and view (seeded augmentation views included).
        string? cacheRoot = o.CacheDir is "none" or "off" || weightsPath is null ? null : o.CacheDir ?? FeatureCache.DefaultRoot;
        string? weightsHash = cacheRoot is null ? null : FeatureCache.WeightsFingerprint(weightsPath!, cacheRoot);
        int hits = 0;
        (Tensor, long[], int[]) Run(IReadOnlyList<ImageSample> samples, ImageTransform tf, int view)
        {
            if (cacheRoot is null)
                return FeatureExtractor.Extract(model, data.Source, samples, tf, o.BatchSize, o.Seed, view, o.Workers, Skip, n => reporter?.AdvancePhase(n), ct);
            string ns = FeatureCache.Namespace(spec.Name, weightsHash!, JsonSerializer.Serialize(spec.Preprocessing, BundleManifest.JsonOptions),
                tf.Level.ToString(), view == 0 ? "centre" : $"aug-{view}-seed-{o.Seed}");
            using var cache = new FeatureCache(cacheRoot, ns);
            var (f, l, i, h) = CachedFeatures.Extract(cache, model, data.Source, samples, tf, o.BatchSize, o.Seed, view, o.Workers, Skip, n => reporter?.AdvancePhase(n), ct);
            hits += h;
            return (f, l, i);
        }
        var (f0, l0, _) = Run(data.Train, evalTf, 0);
        feats.Add(f0); labels.AddRange(l0);
        for (int v = 1; v <= views; v++)
        {
            var (fv, lv, _) = Run(data.Train, trainTf, v);
            feats.Add(fv); labels.AddRange(lv);
        }
        if (data.Val.Count == 0)
            throw new HeadstartException("the validation split is empty: add images to val/ or use a larger --val-split");
        var (valX, valY, valRows) = Run(data.Val, evalTf, 0);
        if (hits > 0) reporter?.Info($"feature cache: {hits} of {totalImages} image views read from {cacheRoot}");
        reporter?.EndPhase();
        var trainX = cat(feats, 0); // (N * (1 + views), D)
        foreach (var f in feats) f.Dispose();
        var train = new TensorBatchSource(trainX, tensor(labels.ToArray()), o.BatchSize, o.Seed);
        var val = new TensorBatchSource(valX, tensor(valY), 256, o.Seed);
        return (train, val, valRows);
    }

    private static List<PredictionRecord> Predict(ImageClassifier model, TensorBatchSource val, int[] rows, ImageDataset data, bool features)
    {
        model.eval();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var logits = features ? model.ForwardClassifier(val.X) : model.forward(val.X);
        return ToRecords(logits, val.Y, rows, data);
    }

    private static List<PredictionRecord> ToRecords(Tensor logits, Tensor y, int[] rows, ImageDataset data)
    {
        var logp = nn.functional.log_softmax(logits, 1);                  // (N, C)
        var pred = logp.argmax(1);                                        // (N)
        var lossPer = -logp.gather(1, y.unsqueeze(1)).squeeze(1);         // (N)
        var conf = logp.gather(1, pred.unsqueeze(1)).squeeze(1).exp();    // (N)
        long[] p = pred.data<long>().ToArray(), a = y.data<long>().ToArray();
        float[] l = lossPer.data<float>().ToArray(), c = conf.data<float>().ToArray();
        return Enumerable.Range(0, rows.Length)
            .Select(i => new PredictionRecord(data.Val[rows[i]].Path, (int)a[i], (int)p[i], c[i], l[i])).ToList();
    }

    private List<PredictionRecord> PredictImages(ImageClassifier model, ImageDataset data, ImageTransform evalTf, TrainOptions o)
    {
        model.eval();
        var records = new List<PredictionRecord>();
        using var _ = no_grad();
        int[] order = Enumerable.Range(0, data.Val.Count).ToArray();
        foreach (var batch in BatchLoader.Batches(data.Source, data.Val, order, evalTf, o.BatchSize, o.Seed, 0, o.Workers))
        {
            using (batch)
            using (var scope = NewDisposeScope())
            {
                records.AddRange(ToRecords(model.forward(batch.Images), tensor(batch.Labels), batch.Indices, data));
            }
        }
        return records;
    }

    private DatasetSummary Summarise(ImageDataset data)
    {
        Dictionary<string, int> Count(IReadOnlyList<ImageSample> s) =>
            data.Classes.Select((c, i) => (c, n: s.Count(x => x.Label == i))).ToDictionary(t => t.c, t => t.n);
        var sk = skipped.DistinctBy(s => s.Path).Select(s => new SkippedEntry(s.Path, s.Reason)).ToList();
        return new DatasetSummary(data.Root, data.SplitKind, data.Train.Count, data.Val.Count, Count(data.Train), Count(data.Val), sk.Count, sk);
    }
}
