using System.Diagnostics;
using Headstart.Data;
using Headstart.Models;
using Headstart.Weights;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>Options of <see cref="LabelAudit"/>.</summary>
public sealed record LabelAuditOptions
{
    /// <summary>Heads trained, each with one fold of the training images held out (at least 2).</summary>
    public int Folds { get; init; } = 5;
    /// <summary>Epochs of each head; null = the frozen plan's (<see cref="TrainOptions.Epochs"/>).</summary>
    public int? Epochs { get; init; }
    /// <summary>Seeds the folds (a stratified shuffle) and each head's initialisation (seed + fold).</summary>
    public int Seed { get; init; } = 42;
}

/// <summary>One training image as the audit scored it, by a head that never saw it.</summary>
/// <param name="Path">The image's path as the dataset lists it.</param>
/// <param name="Split">"train": only training images are audited.</param>
/// <param name="Label">The class the dataset gives it (index into <see cref="LabelAuditResult.Classes"/>).</param>
/// <param name="Predicted">The class the out-of-fold head gives it.</param>
/// <param name="LabelProbability">The head's probability of <paramref name="Label"/>.</param>
/// <param name="PredictedProbability">The head's probability of <paramref name="Predicted"/>.</param>
/// <param name="Loss">-log(<paramref name="LabelProbability"/>): the cross-entropy of the given label.</param>
public sealed record LabelSuspect(string Path, string Split, int Label, int Predicted, float LabelProbability, float PredictedProbability, float Loss);

/// <param name="Ranked">Every training image that has features, by out-of-fold loss, highest first (ties by path).</param>
/// <param name="Skipped">Training images left out because they did not decode.</param>
/// <param name="OutOfFoldAccuracy">The share of <paramref name="Ranked"/> whose prediction is the given label.</param>
public sealed record LabelAuditResult(IReadOnlyList<string> Classes, IReadOnlyList<LabelSuspect> Ranked, int Folds, double Seconds, int Skipped,
    double OutOfFoldAccuracy);

/// <summary>
/// Ranks the training images by how little a model trained WITHOUT them believes their label: k heads on the cached
/// backbone features (the frozen recipe's, through the same on-disk cache, so an audit after <c>train</c> extracts
/// nothing), each with one stratified fold held out, so each image is scored by a head that never saw it. A head scoring
/// its own training images (fastai's ImageClassifierCleaner ranks by that in-sample loss) has memorised the wrong labels
/// it was given, which hides exactly the errors an audit looks for.
/// </summary>
public static class LabelAudit
{
    /// <summary>Rows per forward pass when scoring (bounds memory on large folds).</summary>
    private const int ScoreChunk = 4096;

    public static LabelAuditResult Run(ImageDataset data, TrainOptions o, LabelAuditOptions? options = null, ITrainingReporter? reporter = null,
        CancellationToken ct = default) => Audit(data, o, options ?? new LabelAuditOptions(), reporter, ct, inSample: false);

    /// <summary>The in-sample ranking, for comparison: one head trained on every training image scores those same
    /// images (what a cleaner that ranks by training loss shows). <see cref="LabelAuditResult.Folds"/> is 1.</summary>
    internal static LabelAuditResult RunInSample(ImageDataset data, TrainOptions o, LabelAuditOptions? options = null, CancellationToken ct = default) =>
        Audit(data, o, options ?? new LabelAuditOptions(), null, ct, inSample: true);

    /// <summary>Stratified folds, deterministic for <paramref name="seed"/>: each class's rows shuffled (one
    /// <see cref="Random"/> for all classes, in class order) and dealt round-robin, the deal continuing from class to
    /// class so that fold sizes differ by at most one. A class with fewer rows than folds is missing from some folds.</summary>
    /// <param name="labels">(N) class index per row.</param>
    /// <returns>(N) fold index per row.</returns>
    internal static int[] AssignFolds(long[] labels, int classes, int folds, int seed)
    {
        var fold = new int[labels.Length];
        var rng = new Random(seed);
        int next = 0;
        for (int c = 0; c < classes; c++)
        {
            int[] rows = Enumerable.Range(0, labels.Length).Where(i => labels[i] == c).ToArray();
            rng.Shuffle(rows);
            foreach (int r in rows)
            {
                fold[r] = next;
                next = (next + 1) % folds;
            }
        }
        return fold;
    }

    private static LabelAuditResult Audit(ImageDataset data, TrainOptions o, LabelAuditOptions options, ITrainingReporter? reporter,
        CancellationToken ct, bool inSample)
    {
        if (options.Folds < 2) throw new HeadstartException($"the label audit needs at least 2 folds (each image is scored by a head trained on the others), got {options.Folds}");
        if (options.Epochs is < 1) throw new HeadstartException($"the label audit's heads need at least 1 epoch, got {options.Epochs}");
        if (data.Classes.Count < 2) throw new HeadstartException($"need at least 2 classes, found {data.Classes.Count} in {data.Root}");
        var clock = Stopwatch.StartNew();
        // The frozen recipe whatever strategy the options name: its features are the cached ones, its head the one audited.
        o = o with { Strategy = Strategy.Frozen, Freeze = null, Epochs = options.Epochs ?? o.Epochs };
        var spec = ModelRegistry.Get(o.Model);
        var plan = TrainingPlanner.Plan(o, spec, DataShape.Of(data));
        if (!plan.FeaturesOnly || plan.Phases.Count == 0)
            throw new HeadstartException("the label audit trains heads on cached features: it needs at least 1 epoch");
        var phase = plan.Phases[0];

        var from = o.Pretrained ? Pretrained.Resolve(spec, o.WeightsPath) : null;
        var pre = spec.PreprocessingFor(from?.Source);
        // As TransferTrainer: a backbone that ONNX Runtime runs from its file is not imported into TorchSharp.
        bool onnx = from is not null && FrozenFeatures.Resolve(o.Engine, spec, from) == FeatureEngine.Onnx;
        manual_seed(options.Seed);
        using var template = spec.Create(data.Classes.Count);
        if (from is not null && !onnx) Pretrained.Load(template, spec, from);
        float[]? meanImage = pre.MeanImage is { } mi ? MeanImages.Get(mi) : null;
        var skipped = new HashSet<string>(StringComparer.Ordinal);
        void OnSkipped(SkippedFile f)
        {
            lock (skipped) skipped.Add(f.Path);
        }
        // The centre crop only: the view every image has, scored as evaluation scores it.
        using var feats = FrozenFeatures.Extract(template, spec, from, pre, data, o, new CachedViews(0, o.Augment, false), meanImage,
            reporter, OnSkipped, ct);
        var samples = data.Train.Where(s => !skipped.Contains(s.Path)).ToList();
        var all = feats.Train;   // (N, D), one row per sample in that order
        if (samples.Count != all.Count || samples.Where((s, i) => s.Label != all.Labels[i]).Any())
            throw new InvalidOperationException($"feature rows ({all.Count}) do not line up with the decoded training images ({samples.Count})");
        int n = all.Count;
        if (!inSample && n < options.Folds)
            throw new HeadstartException($"{options.Folds} folds need at least {options.Folds} training images; {n} decoded");

        int heads = inSample ? 1 : options.Folds;
        int[] fold = inSample ? new int[n] : AssignFolds(all.Labels, data.Classes.Count, heads, options.Seed);
        var callbacks = new List<Callback> { new CancelCallback(ct) };
        if (o.ClipGradNorm is double clip) callbacks.Add(new GradientClipCallback(clip));
        var scores = new Score[n];
        reporter?.BeginPhase(inSample ? "in-sample head" : "out-of-fold heads", heads);
        for (int k = 0; k < heads; k++)
        {
            ct.ThrowIfCancellationRequested();
            long[] scored = Enumerable.Range(0, n).Where(i => fold[i] == k).Select(i => (long)i).ToArray();
            long[] trainOn = inSample ? scored : Enumerable.Range(0, n).Where(i => fold[i] != k).Select(i => (long)i).ToArray();
            if (scored.Length == 0) continue;   // more folds than a tiny set fills: nothing held out here
            manual_seed(options.Seed + k);
            using var model = spec.Create(data.Classes.Count);
            CopyPretrainedClassifier(template, model, spec);
            using (var learner = new Learner(model, spec, new FeatureBatchSource(new SubsetRows(all, trainOn), plan.BatchSize, plan.Seed), null,
                       plan.Optimizer, callbacks, plan.LabelSmoothing, plan.Seed))
            {
                learner.FreezeBatchNorm = phase.FreezeBatchNorm;
                learner.FreezeTo(phase.FrozenGroups);
                learner.Fit(phase.Epochs, phase.LearningRate, phase.Schedule);
            }
            ScoreRows(model, all, scored, data.Classes.Count, scores);
            reporter?.AdvancePhase(1);
        }
        reporter?.EndPhase();

        var ranked = samples.Select((s, i) => new LabelSuspect(s.Path, "train", s.Label, scores[i].Predicted, scores[i].LabelProbability,
                scores[i].PredictedProbability, scores[i].Loss))
            .OrderByDescending(s => s.Loss).ThenBy(s => s.Path, StringComparer.Ordinal).ToList();
        double accuracy = n == 0 ? 0 : ranked.Count(s => s.Predicted == s.Label) / (double)n;
        int skippedTrain = data.Train.Count - samples.Count;
        return new LabelAuditResult(data.Classes, ranked, heads, clock.Elapsed.TotalSeconds, skippedTrain, accuracy);
    }

    /// <summary>One row's verdict from the head that held it out.</summary>
    private readonly record struct Score(int Predicted, float LabelProbability, float PredictedProbability, float Loss);

    /// <summary>Scores <paramref name="rows"/> of <paramref name="all"/> with the classifier section: log-softmax (B, C),
    /// the given label's negative log-probability, the arg-max class and both probabilities.</summary>
    private static void ScoreRows(ImageClassifier model, IFeatureRows all, long[] rows, int classes, Score[] into)
    {
        model.eval();
        using var _ = no_grad();
        long[] labels = all.Labels;
        for (int start = 0; start < rows.Length; start += ScoreChunk)
        {
            using var scope = NewDisposeScope();
            var chunk = rows.AsSpan(start, Math.Min(ScoreChunk, rows.Length - start));
            var logp = nn.functional.log_softmax(model.ForwardClassifier(all.Gather(chunk)), 1);   // (B, C)
            float[] flat = logp.data<float>().ToArray();                                           // row-major (B, C)
            for (int b = 0; b < chunk.Length; b++)
            {
                int row = (int)chunk[b];
                var lp = flat.AsSpan(b * classes, classes);
                int predicted = 0;
                for (int c = 1; c < classes; c++)
                    if (lp[c] > lp[predicted]) predicted = c;
                float given = lp[(int)labels[row]];
                into[row] = new Score(predicted, MathF.Exp(given), MathF.Exp(lp[predicted]), -given);
            }
        }
    }

    /// <summary>Gives a fold's fresh model the classifier section's pretrained layers (VGG's and MobileNet's hidden
    /// fully connected layers, loaded into <paramref name="template"/>), keeping its own newly initialised last layer:
    /// the state TransferTrainer's head starts from.</summary>
    private static void CopyPretrainedClassifier(ImageClassifier template, ImageClassifier model, ModelSpec spec)
    {
        int head = spec.LayerGroups.Count - 1;
        var source = template.state_dict();
        using var _ = no_grad();
        foreach (var (name, t) in model.state_dict())
        {
            bool newLayer = name == spec.HeadPrefix || name.StartsWith(spec.HeadPrefix + ".", StringComparison.Ordinal);
            if (!newLayer && Freezing.GroupOf(spec, name) == head && source.TryGetValue(name, out var s)) t.copy_(s);
        }
    }

    /// <summary>Stops a head's fit between batches when the audit is cancelled.</summary>
    private sealed class CancelCallback(CancellationToken ct) : Callback
    {
        public override void BeforeBatch(Learner learner) => ct.ThrowIfCancellationRequested();
    }
}

/// <summary>Some rows of another <see cref="IFeatureRows"/>, by index, without copying them: a fold's training set.
/// Row i here is row <c>rows[i]</c> there. It does not own the rows: disposing it leaves them to their owner.</summary>
public sealed class SubsetRows : IFeatureRows
{
    private readonly IFeatureRows inner;
    private readonly long[] rows;

    public SubsetRows(IFeatureRows inner, long[] rows)
    {
        foreach (long r in rows)
            if (r < 0 || r >= inner.Count) throw new ArgumentOutOfRangeException(nameof(rows), $"row {r} is outside 0..{inner.Count - 1}");
        this.inner = inner;
        this.rows = rows;
        long[] labels = inner.Labels;
        Labels = Array.ConvertAll(rows, r => labels[r]);
    }

    public int Count => rows.Length;
    public int Dim => inner.Dim;
    public long[] Labels { get; }

    public Tensor Gather(ReadOnlySpan<long> subset)
    {
        var mapped = new long[subset.Length];
        for (int i = 0; i < mapped.Length; i++) mapped[i] = rows[subset[i]];
        return inner.Gather(mapped);
    }

    public void Dispose() { }
}
