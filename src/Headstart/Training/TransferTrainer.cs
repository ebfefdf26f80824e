using System.Diagnostics;
using System.Text.Json;
using Headstart.Data;
using Headstart.Evaluation;
using Headstart.Models;
using Headstart.Weights;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>
/// The transfer-learning recipe end to end: build the pretrained backbone, freeze it, re-head to N classes, train
/// (on cached features when the backbone is frozen), evaluate on the validation split.
/// </summary>
public sealed class TransferTrainer(ITrainingReporter? reporter = null, StageTimings? timings = null)
{
    private readonly StageTimings timings = timings ?? new StageTimings();

    private readonly List<SkippedFile> skipped = [];

    /// <summary>
    /// Trains on <paramref name="data"/>: plans the run (<see cref="TrainingPlanner"/>), builds the model, then runs the
    /// plan's phases and its evaluation. With <paramref name="checkpoint"/>, a checkpoint is written after every epoch
    /// and, when <see cref="CheckpointOptions.ResumeFrom"/> is set, the run continues from it to the same final weights
    /// as an uninterrupted run (the options must equal the checkpoint's, <see cref="TrainOptions.Workers"/> and
    /// <see cref="TrainOptions.CacheDir"/> aside).
    /// </summary>
    public TrainResult Train(ImageDataset data, TrainOptions o, CheckpointOptions? checkpoint = null, CancellationToken ct = default) =>
        Run(data, o, null, checkpoint, ct);

    /// <summary>
    /// Trains the head on features a sharded extraction wrote (<see cref="FeatureSet"/>), the rows streamed from disk.
    /// The options that shaped the features (model, weights, engine, views, TTA, split, batch size) are the feature
    /// set's; the rest (epochs, learning rate, optimiser, seed of the head's shuffling...) are <paramref name="o"/>'s.
    /// With the same options this trains exactly the head that <see cref="Train(ImageDataset, TrainOptions, CheckpointOptions?, CancellationToken)"/>
    /// trains on one machine.
    /// </summary>
    public TrainResult Train(FeatureSet features, TrainOptions o, CheckpointOptions? checkpoint = null, CancellationToken ct = default)
    {
        var f = features.Plan.Options;
        o = o with
        {
            Model = f.Model, WeightsPath = f.WeightsPath, Pretrained = true, Strategy = Strategy.Frozen, Freeze = null, Engine = f.Engine,
            Augment = f.Augment, AugmentViews = f.AugmentViews, TestTimeFlip = f.TestTimeFlip, ValSplit = f.ValSplit, BatchSize = f.BatchSize,
        };
        return Run(features.Dataset, o, features, checkpoint, ct);
    }

    private TrainResult Run(ImageDataset data, TrainOptions o, FeatureSet? premade, CheckpointOptions? checkpoint, CancellationToken ct)
    {
        var total = Stopwatch.StartNew();
        var spec = ModelRegistry.Get(o.Model);
        var plan = TrainingPlanner.Plan(o, spec, DataShape.Of(data));
        CheckData(data);
        var callbacks = Callbacks(o, plan, checkpoint);
        var passes = new BackbonePassCounter();
        callbacks.Add(passes);
        long evalPasses = 0;
        var run = Prepare(data, o, spec, plan, extractFeatures: true, ct, premade);
        var model = run.Model;
        using var feats = run.Features;
        var sources = run.Sources;

        IReadOnlyList<EpochRecord> history = [];
        HeadFitRecord? headFit = null;
        if (plan.Phases is [{ Fit: HeadFit.Lbfgs } convex])
        {
            // The frozen fast path's convex head: no epochs, so no per-epoch callbacks or checkpoints. The backbone
            // is frozen as a Learner would freeze it (no gradients, eval mode), so the model says what trained.
            Freezing.FreezeTo(model, spec, convex.FrozenGroups);
            model.eval();
            using (timings.Measure("fit"))
                headFit = LinearProbe.FitHead(model, spec, feats!.Train, plan.Features!.TrainViews, convex.Folds, plan.Seed, reporter, ct);
            reporter?.Info($"head fitted by L-BFGS: L2 strength {headFit.Lambda:g2} chosen by {convex.Folds}-fold cross-validation on the training images, " +
                           $"train accuracy {headFit.TrainAccuracy:P1}, {headFit.Seconds:F1} s");
        }
        else if (plan.Phases.Count > 0)
        {
            var (train, valid) = sources.For(plan.Phases[0].Input);
            using var learner = new Learner(model, spec, train, plan.ValidateEachEpoch ? valid : null, plan.Optimizer, callbacks, plan.LabelSmoothing, plan.Seed)
            {
                MicroBatch = plan.MicroBatch,
            };
            using (timings.Measure("fit"))
                foreach (var phase in plan.Phases)
                {
                    (learner.Train, learner.Valid) = sources.For(phase.Input);
                    if (!plan.ValidateEachEpoch) learner.Valid = null;
                    learner.FreezeBatchNorm = phase.FreezeBatchNorm;
                    learner.FreezeTo(phase.FrozenGroups);
                    learner.Fit(phase.Epochs, phase.LearningRate, phase.Schedule);
                }
            history = learner.Recorder.History.ToList();
        }

        IReadOnlyList<PredictionRecord> predictions;
        using (timings.Measure("evaluate"))
        {
            if (plan.Evaluation.Input == PhaseInput.CachedFeatures)
            {
                using var logp = feats!.ValLogProbabilities(model);
                using var y = tensor(feats.ValY);
                predictions = ToRecords(logp, y, feats.ValRows, data);
            }
            else
            {
                var mirroredTf = plan.Evaluation.MirroredViews ? ImageTransform.EvalMirrored(run.Preprocessing, run.MeanImage) : null;
                predictions = PredictImages(model, data, run.EvalTf, mirroredTf, o);
                evalPasses = (long)data.Val.Count * (mirroredTf is null ? 1 : 2);
            }
        }

        var metrics = ClassificationMetrics.Compute(data.Classes,
            predictions.Select(p => p.Actual).ToList(), predictions.Select(p => p.Predicted).ToList());
        var manifest = new BundleManifest
        {
            Arch = spec.Name,
            Classes = data.Classes,
            Preprocessing = run.Preprocessing,
            PretrainedFrom = run.From?.Path,
            Training = JsonSerializer.SerializeToElement(o, BundleManifest.JsonOptions).EnumerateObject()
                .ToDictionary(p => p.Name, p => p.Value.Clone()),
            Plan = plan,
            TestTimeFlip = plan.Evaluation.MirroredViews,
            History = history,
            HeadFit = headFit,
            Metrics = metrics,
            Dataset = Summarise(data),
            TrainSeconds = total.Elapsed.TotalSeconds,
        };
        var backbone = plan.FeaturesOnly && run.From is not null ? new FrozenBackbone(run.From.Path, spec.LayerGroups.Count - 1, feats!.WeightsSha256) : null;
        // A backbone that only ONNX Runtime runs has nothing to import: the model runs its file itself.
        var counted = new BackbonePasses(passes.Inference + evalPasses + (feats?.Extracted ?? 0), passes.Training);
        return new TrainResult(model, spec, manifest, predictions, backbone, backboneImported: !run.DeferImport || !spec.BackboneTrainable, counted);
    }

    /// <summary>
    /// The learning-rate range test (<see cref="LrFinder"/>) on the phase of <paramref name="o"/>'s plan that trains the
    /// most (its last): the same model, weights, feature cache, engine, inputs and frozen groups as <see cref="Train(ImageDataset, TrainOptions, CheckpointOptions?, CancellationToken)"/>
    /// would use there. Features are extracted only when that phase trains on them.
    /// </summary>
    public LrSweep FindLearningRate(ImageDataset data, TrainOptions o, LrFindOptions? sweep = null, CancellationToken ct = default)
    {
        // A learning rate is SGD's: the convex head fit has none, so the sweep runs the plan as if it trained by epochs.
        if (o.HeadFit == HeadFit.Lbfgs)
            throw new TrainingPlanException("--head-fit lbfgs has no learning rate to find; lr-find sweeps the SGD head's (--head-fit sgd)");
        o = o with { HeadFit = HeadFit.Sgd };
        var spec = ModelRegistry.Get(o.Model);
        var plan = TrainingPlanner.Plan(o, spec, DataShape.Of(data));
        if (plan.Phases.Count == 0) throw new TrainingPlanException("this plan has no training phase (0 epochs), so there is no learning rate to find");
        CheckData(data);
        int index = plan.Phases.Count - 1;
        var phase = plan.Phases[index];
        var run = Prepare(data, o, spec, plan, extractFeatures: phase.Input == PhaseInput.CachedFeatures, ct);
        using var model = run.Model;
        using var feats = run.Features;
        var (train, _) = run.Sources.For(phase.Input);
        using var learner = new Learner(model, spec, train, null, plan.Optimizer, seed: plan.Seed)
        {
            FreezeBatchNorm = phase.FreezeBatchNorm, MicroBatch = plan.MicroBatch,
        };
        learner.FreezeTo(phase.FrozenGroups);
        return new LrSweep(LrFinder.Run(learner, sweep), plan, index);
    }

    private static void CheckData(ImageDataset data)
    {
        if (data.Classes.Count < 2) throw new HeadstartException($"need at least 2 classes, found {data.Classes.Count} in {data.Root}");
        if (data.Train.Count == 0) throw new HeadstartException($"no training images in {data.Root}");
    }

    /// <summary>What a planned run trains: the model with its weights, the cached features, the batch sources.</summary>
    private sealed record Prepared(ImageClassifier Model, ResolvedWeights? From, bool DeferImport, FrozenFeatures? Features,
        PhaseSources Sources, Preprocessing Preprocessing, float[]? MeanImage, ImageTransform EvalTf);

    private Prepared Prepare(ImageDataset data, TrainOptions o, ModelSpec spec, TrainingPlan plan, bool extractFeatures, CancellationToken ct,
        FeatureSet? premade = null)
    {
        var from = o.Pretrained ? Pretrained.Resolve(spec, o.WeightsPath) : null;
        if (premade is not null) CheckPremade(premade, plan, from);
        var pre = spec.PreprocessingFor(from?.Source);
        // The fast path with ONNX Runtime as the engine: the .onnx file computes the features and only the head trains,
        // so the TorchSharp copy of the backbone is imported only if someone asks for TrainResult.Model.
        bool deferImport = plan.FeaturesOnly && from is not null && FrozenFeatures.Resolve(o.Engine, spec, from) == FeatureEngine.Onnx;
        // ...and when some features are not cached yet, its session is built on another core while libtorch loads and
        // the model is built.
        using var session = premade is null && deferImport && extractFeatures && !FrozenFeatures.AllCached(spec, from, data, o, plan.Features!)
            ? PendingOrtSession.Start(from!.Path, timings, from.Source.FeatureOutput) : null;
        ImageClassifier model;
        using (timings.Measure("libtorch")) manual_seed(o.Seed);   // the first torch call loads libtorch
        using (timings.Measure("create_model")) model = spec.Create(data.Classes.Count);
        try
        {
            if (deferImport)
            {
                reporter?.Info($"pretrained {spec.Name} backbone: {from!.Path} (run by ONNX Runtime; new {data.Classes.Count}-class head)");
            }
            else if (from is not null)
            {
                LoadReport report;
                using (timings.Measure("load_weights")) report = Pretrained.Load(model, spec, from);
                reporter?.Info($"loaded pretrained {spec.Name} weights from {from.Path} ({report.Loaded.Count} tensors; new {data.Classes.Count}-class head)");
            }
            float[]? meanImage = pre.MeanImage is { } mi ? MeanImages.Get(mi) : null;
            var evalTf = ImageTransform.Eval(pre, meanImage);
            skipped.Clear();
            skipped.AddRange(data.Skipped);
            FrozenFeatures? feats = null;
            if (premade is not null)
            {
                skipped.AddRange(premade.Skipped);
                feats = premade.Load();
            }
            else if (extractFeatures && plan.Features is { } views)
                using (timings.Measure("features"))
                    feats = FrozenFeatures.Extract(model, spec, from, pre, data, o, views, meanImage, reporter, SkipOnce, ct, session, timings);
            var sources = new PhaseSources(data, o, feats, evalTf, ImageTransform.Train(pre, o.Augment, meanImage), SkipOnce);
            return new Prepared(model, from, deferImport, feats, sources, pre, meanImage, evalTf);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>A feature set trains only the head it was extracted for: the frozen plan with its views, and the very
    /// backbone file (by SHA-256) that the bundle will reference.</summary>
    private static void CheckPremade(FeatureSet set, TrainingPlan plan, ResolvedWeights? from)
    {
        if (!plan.FeaturesOnly || plan.Features != set.Plan.Views)
            throw new HeadstartException($"the features in {set.Directory} hold the views {set.Plan.Views}; this plan needs {plan.Features?.ToString() ?? "images"}");
        string sha = from is null ? "none" : IO.FileHashes.Sha256(from.Path);
        if (sha != set.Plan.WeightsSha256)
            throw new HeadstartException($"the backbone weights here ({from?.Path ?? "none"}, SHA-256 {sha[..Math.Min(12, sha.Length)]}) are not the ones the features in " +
                                         $"{set.Directory} came from ({set.Plan.WeightsPath}, {set.Plan.WeightsSha256[..12]}); the bundle must reference the same file");
    }

    /// <summary>Records a file that failed to decode, once however many passes meet it.</summary>
    private void SkipOnce(SkippedFile f)
    {
        lock (skipped) if (!skipped.Any(s => s.Path == f.Path)) skipped.Add(f);
    }

    /// <summary>The default callbacks (progress, best weights, early stopping, clipping) and the checkpoint writer.</summary>
    private List<Callback> Callbacks(TrainOptions o, TrainingPlan plan, CheckpointOptions? checkpoint)
    {
        var callbacks = new List<Callback>();
        if (reporter is not null) callbacks.Add(new ProgressCallback(reporter));
        if (o.KeepBest) callbacks.Add(new SaveBestCallback());
        if (o.EarlyStoppingPatience is int pat) callbacks.Add(new EarlyStoppingCallback(pat, monitor: "val_loss"));
        if (o.ClipGradNorm is double clip) callbacks.Add(new GradientClipCallback(clip));
        if (checkpoint is null) return callbacks;
        var cp = new CheckpointCallback(checkpoint.Directory, o, checkpoint.ResumeFrom, TimeSpan.FromSeconds(checkpoint.MinIntervalSeconds));
        if (cp.Pending is { } resumed)
        {
            CheckSameOptions(o, resumed.Options, checkpoint.ResumeFrom!);
            if (resumed.Phase >= plan.Phases.Count)
                throw new HeadstartException($"checkpoint '{checkpoint.ResumeFrom}' is in phase {resumed.Phase}, and this plan has {plan.Phases.Count}");
            reporter?.Info($"resuming from {checkpoint.ResumeFrom}: phase {resumed.Phase} ('{plan.Phases[resumed.Phase].Name}'), " +
                           $"{resumed.Epoch} of {resumed.Epochs} epoch(s) done");
        }
        callbacks.Add(cp);
        return callbacks;
    }

    /// <summary>The training and validation batches of each phase input; each is built on first use, once.</summary>
    private sealed class PhaseSources(ImageDataset data, TrainOptions o, FrozenFeatures? feats, ImageTransform evalTf,
        ImageTransform trainTf, Action<SkippedFile> onSkipped)
    {
        private (IBatchSource, IBatchSource?)? features, images;

        public (IBatchSource Train, IBatchSource? Valid) For(PhaseInput input) => input == PhaseInput.CachedFeatures
            ? features ??= (feats!.TrainBatches(o.BatchSize, o.Seed), feats.ValBatches(o.Seed))
            : images ??= (new ImageBatchSource(data.Source, data.Train, trainTf, o.BatchSize, o.Seed, o.Workers, onSkipped),
                data.Val.Count > 0 ? new ImageBatchSource(data.Source, data.Val, evalTf, o.BatchSize, o.Seed, o.Workers, onSkipped) : null);
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

    /// <summary>Prediction records from log-probabilities (N, C) and labels (N); row i is data.Val[rows[i]].</summary>
    private static List<PredictionRecord> ToRecords(Tensor logp, Tensor y, int[] rows, ImageDataset data)
    {
        using var scope = NewDisposeScope();
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
        return ToRecords(logp, tensor(rows.Select(r => labels[r]).ToArray()), rows, data);
    }

    private DatasetSummary Summarise(ImageDataset data)
    {
        Dictionary<string, int> Count(IReadOnlyList<ImageSample> s) =>
            data.Classes.Select((c, i) => (c, n: s.Count(x => x.Label == i))).ToDictionary(t => t.c, t => t.n);
        var sk = skipped.DistinctBy(s => s.Path).Select(s => new SkippedEntry(s.Path, s.Reason)).ToList();
        return new DatasetSummary(data.Root, data.SplitKind, data.Train.Count, data.Val.Count, Count(data.Train), Count(data.Val), sk.Count, sk);
    }
}
