using System.Diagnostics;
using System.Text.Json;
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
    IReadOnlyList<PredictionRecord> predictions, FrozenBackbone? backbone = null, bool backboneImported = true) : IDisposable
{
    private readonly Lock gate = new();
    private bool imported = backboneImported;

    /// <summary>The whole trained network. When ONNX Runtime computed the frozen features, the TorchSharp copy of the
    /// backbone is only imported here, on first use: saving a bundle (ModelBundle.Save)
    /// never needs it.</summary>
    public ImageClassifier Model
    {
        get
        {
            lock (gate)
            {
                if (!imported)
                {
                    Pretrained.Load(model, Spec, Backbone!.SourcePath, skipHead: true);
                    model.eval();
                    imported = true;
                }
            }
            return model;
        }
    }

    /// <summary>The model as trained, possibly without its frozen backbone's weights (see <see cref="Model"/>).</summary>
    internal ImageClassifier TrainedParts => model;
    public ModelSpec Spec { get; } = spec;
    public BundleManifest Manifest { get; } = manifest;
    public IReadOnlyList<PredictionRecord> ValPredictions { get; } = predictions;
    public ClassificationMetrics Metrics => Manifest.Metrics!;
    /// <summary>The pretrained file the frozen layer groups still equal (frozen strategy), or null.</summary>
    public FrozenBackbone? Backbone { get; } = backbone;
    /// <summary>Parameters that trained (requires_grad at the end of training).</summary>
    public long TrainableParameters { get; } = model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
    public void Dispose() => model.Dispose();
}

/// <summary>Checkpointing of a training run: where to write one after each epoch, and optionally one to resume from.</summary>
/// <param name="MinIntervalSeconds">Skip an epoch's checkpoint when the last one was written less than this long ago
/// (0 = after every epoch); see <see cref="CheckpointCallback"/>.</param>
public sealed record CheckpointOptions(string Directory, string? ResumeFrom = null, double MinIntervalSeconds = 0);

/// <summary>
/// The transfer-learning recipe end to end: build the pretrained backbone, freeze it, re-head to N classes, train
/// (on cached features when the backbone is frozen), evaluate on the validation split.
/// </summary>
public sealed class TransferTrainer(ITrainingReporter? reporter = null, StageTimings? timings = null)
{
    private readonly StageTimings timings = timings ?? new StageTimings();

    private readonly List<SkippedFile> skipped = [];

    /// <summary>
    /// Trains on <paramref name="data"/>. With <paramref name="checkpoint"/>, a checkpoint is written after every epoch
    /// and, when <see cref="CheckpointOptions.ResumeFrom"/> is set, the run continues from it to the same final weights
    /// as an uninterrupted run (the options must equal the checkpoint's, <see cref="TrainOptions.Workers"/> and
    /// <see cref="TrainOptions.CacheDir"/> aside).
    /// </summary>
    public TrainResult Train(ImageDataset data, TrainOptions o, CheckpointOptions? checkpoint = null, CancellationToken ct = default)
    {
        var total = Stopwatch.StartNew();
        if (data.Classes.Count < 2) throw new HeadstartException($"need at least 2 classes, found {data.Classes.Count} in {data.Root}");
        if (data.Train.Count == 0) throw new HeadstartException($"no training images in {data.Root}");
        var spec = ModelRegistry.Get(o.Model);
        string? from = o.Pretrained ? Pretrained.Resolve(spec, o.WeightsPath) : null;
        bool frozen = o.Strategy == Strategy.Frozen && o.Freeze == "features";
        // Frozen with ONNX Runtime as the engine: the .onnx file computes the features and only the head trains, so the
        // TorchSharp copy of the backbone is imported only if someone asks for TrainResult.Model.
        bool deferImport = frozen && from is not null && FrozenFeatures.Resolve(o.Engine, spec, from) == FeatureEngine.Onnx;
        // ...and when some features are not cached yet, its session is built on another core while libtorch loads and
        // the model is built (each about 0.3 s of one core).
        using var session = deferImport && !FrozenFeatures.AllCached(spec, from, data, o) ? PendingOrtSession.Start(from!, timings) : null;
        ImageClassifier model;
        using (timings.Measure("libtorch")) manual_seed(o.Seed);   // the first torch call loads libtorch
        using (timings.Measure("create_model")) model = spec.Create(data.Classes.Count);
        if (deferImport)
        {
            reporter?.Info($"pretrained {spec.Name} backbone: {from} (run by ONNX Runtime; new {data.Classes.Count}-class head)");
        }
        else if (from is not null)
        {
            LoadReport report;
            using (timings.Measure("load_weights")) report = Pretrained.Load(model, spec, from);
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
        if (checkpoint is not null)
        {
            var cp = new CheckpointCallback(checkpoint.Directory, o, checkpoint.ResumeFrom, TimeSpan.FromSeconds(checkpoint.MinIntervalSeconds));
            if (cp.Pending is { } resumed)
            {
                CheckSameOptions(o, resumed.Options, checkpoint.ResumeFrom!);
                reporter?.Info($"resuming from {checkpoint.ResumeFrom}: phase {resumed.Phase}, {resumed.Epoch} of {resumed.Epochs} epoch(s) done");
            }
            callbacks.Add(cp);
        }
        var optimizer = new OptimizerOptions
        {
            Kind = o.Optimizer, Momentum = o.Momentum, Nesterov = o.Nesterov, WeightDecay = o.WeightDecay,
        };
        var schedule = Schedule.Create(o.Schedule, o.StepSize, o.Gamma, warmup: 0.05);

        IReadOnlyList<PredictionRecord> predictions;
        IReadOnlyList<EpochRecord> history;
        string engine = "torchsharp";
        string? weightsSha256 = null;
        void SkipOnce(SkippedFile f) { lock (skipped) if (!skipped.Any(s => s.Path == f.Path)) skipped.Add(f); }
        if (frozen)
        {
            // Fast path: the backbone runs once per image (and per view); only the classifier section trains.
            var extracting = timings.Measure("features");
            using var feats = FrozenFeatures.Extract(model, spec, from, data, o, meanImage, reporter, SkipOnce, ct, session, timings);
            extracting.Dispose();
            weightsSha256 = feats.WeightsSha256;
            var trainSet = feats.TrainBatches(o.BatchSize, o.Seed);
            var valSet = feats.ValBatches(o.Seed);
            using var learner = new Learner(model, spec, trainSet, valSet, optimizer, callbacks, o.LabelSmoothing, o.Seed);
            learner.Freeze();
            using (timings.Measure("fit"))
                learner.Fit(o.Epochs, o.LearningRate ?? (o.Optimizer == OptimizerKind.Sgd ? 1e-2 : 1e-3), schedule);
            history = learner.Recorder.History.ToList();
            engine = feats.Engine;
            using (timings.Measure("evaluate"))
            using (var logp = feats.ValLogProbabilities(model))
                predictions = ToRecords(logp, valSet.Y, feats.ValRows, data, alreadyLogSoftmax: true);
        }
        else
        {
            void Skip(SkippedFile f) { lock (skipped) skipped.Add(f); }
            var trainSet = new ImageBatchSource(data.Source, data.Train, trainTf, o.BatchSize, o.Seed, o.Workers, Skip);
            var valSet = new ImageBatchSource(data.Source, data.Val, evalTf, o.BatchSize, o.Seed, o.Workers, Skip);
            IBatchSource? imageVal = data.Val.Count > 0 ? valSet : null;
            // fine-tune with a pretrained backbone: the frozen-head epochs run on cached features (the frozen strategy's
            // fast path, augmented views included), so the unfrozen phase starts from a trained head at the cost of
            // one backbone pass per view instead of freeze-epochs passes over the images.
            int freezeEpochs = o.FreezeEpochs ?? (o.Pretrained ? TrainOptions.FrozenRecipeEpochs : 1);
            bool cachedHead = o.Strategy == Strategy.FineTune && o.Pretrained && freezeEpochs > 0;
            FrozenFeatures? feats = null;
            if (cachedHead)
                using (timings.Measure("features"))
                    feats = FrozenFeatures.Extract(model, spec, from, data, o with { TestTimeFlip = false }, meanImage, reporter, SkipOnce, ct, timings: timings);
            using var _feats = feats;
            IBatchSource firstTrain = feats is null ? trainSet : feats.TrainBatches(o.BatchSize, o.Seed);
            IBatchSource? firstVal = feats is null ? imageVal : feats.ValBatches(o.Seed);
            using var learner = new Learner(model, spec, firstTrain, firstVal, optimizer, callbacks, o.LabelSmoothing, o.Seed)
            {
                FreezeBatchNorm = o.FreezeBatchNorm,
            };
            double lr = o.LearningRate ?? (o.Optimizer == OptimizerKind.Sgd ? 1e-2 : 1e-3);
            var fitting = timings.Measure("fit");
            switch (o.Strategy)
            {
                case Strategy.FineTune:
                    // On cached features the head phase is the frozen strategy's own recipe (its schedule included).
                    FineTune.Run(learner, freezeEpochs, o.Epochs, lr, beforeUnfreeze: l => { l.Train = trainSet; l.Valid = imageVal; },
                        headSchedule: cachedHead ? schedule : null, unfrozenLr: o.FineTuneLearningRate,
                        keepFrozen: o.Freeze == "features" ? 0 : ParseFreeze(o.Freeze, spec));
                    break;
                default:
                    learner.FreezeTo(ParseFreeze(o.Freeze, spec));
                    learner.Fit(o.Epochs, lr, schedule);
                    break;
            }
            fitting.Dispose();
            history = learner.Recorder.History.ToList();
            var mirroredTf = o.TestTimeFlip && o.Augment != AugmentLevel.None ? ImageTransform.EvalMirrored(spec.Preprocessing, meanImage) : null;
            using (timings.Measure("evaluate")) predictions = PredictImages(model, data, evalTf, mirroredTf, o);
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
        var backbone = frozen && from is not null ? new FrozenBackbone(from, spec.LayerGroups.Count - 1, weightsSha256) : null;
        return new TrainResult(model, spec, manifest, predictions, backbone, backboneImported: !deferImport);
    }

    private static void CheckSameOptions(TrainOptions o, TrainOptions? saved, string dir)
    {
        if (saved is null) throw new HeadstartException($"checkpoint '{dir}' records no training options; it cannot be resumed");
        var a = JsonSerializer.SerializeToElement(o with { Workers = 0, CacheDir = null }, BundleManifest.JsonOptions);
        var b = JsonSerializer.SerializeToElement(saved with { Workers = 0, CacheDir = null }, BundleManifest.JsonOptions);
        var diffs = a.EnumerateObject().Where(p => !b.TryGetProperty(p.Name, out var v) || v.GetRawText() != p.Value.GetRawText())
            .Select(p => $"{p.Name}: {(b.TryGetProperty(p.Name, out var v) ? v.GetRawText() : "unset")} in the checkpoint, {p.Value.GetRawText()} now").ToList();
        if (diffs.Count > 0)
            throw new HeadstartException($"the training options differ from checkpoint '{dir}' ({string.Join("; ", diffs)}); resume with the same options");
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

    private static List<PredictionRecord> ToRecords(Tensor logits, Tensor y, int[] rows, ImageDataset data, bool alreadyLogSoftmax = false)
    {
        using var scope = NewDisposeScope();
        var logp = alreadyLogSoftmax ? logits : nn.functional.log_softmax(logits, 1);   // (N, C)
        var pred = logp.argmax(1);                                        // (N)
        var lossPer = -logp.gather(1, y.unsqueeze(1)).squeeze(1);         // (N)
        var conf = logp.gather(1, pred.unsqueeze(1)).squeeze(1).exp();    // (N)
        long[] p = pred.data<long>().ToArray(), a = y.data<long>().ToArray();
        float[] l = lossPer.data<float>().ToArray(), c = conf.data<float>().ToArray();
        return Enumerable.Range(0, rows.Length)
            .Select(i => new PredictionRecord(data.Val[rows[i]].Path, (int)a[i], (int)p[i], c[i], l[i])).ToList();
    }

    /// <summary>Validation predictions through the whole network; with flip TTA (as on the frozen path) the
    /// probabilities are averaged with those of the mirrored image (mirrored before preprocessing, so a mean image
    /// still lines up).</summary>
    private List<PredictionRecord> PredictImages(ImageClassifier model, ImageDataset data, ImageTransform evalTf,
        ImageTransform? mirroredTf, TrainOptions o)
    {
        model.eval();
        using var _ = no_grad();
        ImageTransform[] views = mirroredTf is null ? [evalTf] : [evalTf, mirroredTf];
        int n = data.Val.Count, classes = data.Classes.Count;
        var sums = new float[n * classes];   // (N, C) row-major: probabilities summed over the views
        var seen = new int[n];
        var labels = new long[n];
        int[] order = Enumerable.Range(0, n).ToArray();
        foreach (var tf in views)
        {
            foreach (var batch in BatchLoader.Batches(data.Source, data.Val, order, tf, o.BatchSize, o.Seed, 0, o.Workers))
            {
                using (batch)
                using (var scope = NewDisposeScope())
                {
                    float[] p = nn.functional.softmax(model.forward(batch.Images), 1).data<float>().ToArray();   // (B, C)
                    for (int i = 0; i < batch.Indices.Length; i++)
                    {
                        int row = batch.Indices[i];
                        seen[row]++;
                        labels[row] = batch.Labels[i];
                        for (int c = 0; c < classes; c++) sums[row * classes + c] += p[i * classes + c];
                    }
                }
            }
        }
        // A file that decoded in one view but not in the other is left out, like one that never decoded.
        int[] rows = [.. Enumerable.Range(0, n).Where(r => seen[r] == views.Length)];
        if (rows.Length == 0) return [];
        using var scope2 = NewDisposeScope();
        var probs = tensor(rows.SelectMany(r => sums.AsSpan(r * classes, classes).ToArray()).ToArray()).reshape(rows.Length, classes);
        var logp = (probs / probs.sum(1, keepdim: true)).log();                  // (N, C), the mean of the views
        return ToRecords(logp, tensor(rows.Select(r => labels[r]).ToArray()), rows, data, alreadyLogSoftmax: true);
    }

    private DatasetSummary Summarise(ImageDataset data)
    {
        Dictionary<string, int> Count(IReadOnlyList<ImageSample> s) =>
            data.Classes.Select((c, i) => (c, n: s.Count(x => x.Label == i))).ToDictionary(t => t.c, t => t.n);
        var sk = skipped.DistinctBy(s => s.Path).Select(s => new SkippedEntry(s.Path, s.Reason)).ToList();
        return new DatasetSummary(data.Root, data.SplitKind, data.Train.Count, data.Val.Count, Count(data.Train), Count(data.Val), sk.Count, sk);
    }
}
