using Headstart.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Headstart.Training;

public enum OptimizerKind { Sgd, AdamW }

/// <summary>Optimiser settings. Weight decay is never applied to biases and normalisation weights (1-d params).</summary>
public sealed record OptimizerOptions
{
    public OptimizerKind Kind { get; init; } = OptimizerKind.Sgd;
    public double Momentum { get; init; } = 0.9;
    public bool Nesterov { get; init; }
    public double WeightDecay { get; init; }
    public double Beta2 { get; init; } = 0.999;
}

/// <summary>
/// Learning rate(s): one value for every group, or fastai's slice(Min, Max) spread geometrically over the trainable
/// layer groups (earliest group gets Min, the head Max).
/// </summary>
public readonly record struct LearningRate(double Min, double Max)
{
    public LearningRate(double lr) : this(lr, lr) { }
    public static implicit operator LearningRate(double lr) => new(lr);
    public override string ToString() => Min == Max ? $"{Max:g3}" : $"{Min:g3}..{Max:g3}";
}

/// <summary>
/// The training loop: a small loop that raises typed events to its callbacks (fastai's Learner design). Higher verbs
/// (fine-tune, LR finder) are composed from Freeze/Unfreeze/Fit.
/// </summary>
public sealed class Learner : IDisposable
{
    private readonly List<Callback> callbacks;
    private readonly List<(ParamGroup Group, double BaseLr)> groups = [];
    private bool stopRequested;

    public Learner(ImageClassifier model, ModelSpec spec, IBatchSource train, IBatchSource? valid,
        OptimizerOptions? optimizer = null, IEnumerable<Callback>? callbacks = null, double labelSmoothing = 0.0, int seed = 42)
    {
        Model = model;
        Spec = spec;
        Train = train;
        Valid = valid;
        OptimizerOptions = optimizer ?? new OptimizerOptions();
        LabelSmoothing = labelSmoothing;
        Seed = seed;
        Recorder = new Recorder();
        this.callbacks = [new TrainEvalCallback(), new ScheduleCallback(), Recorder, .. callbacks ?? []];
        FrozenGroups = 0;
    }

    public ImageClassifier Model { get; }
    public ModelSpec Spec { get; }
    public IBatchSource Train { get; set; }
    public IBatchSource? Valid { get; set; }
    public OptimizerOptions OptimizerOptions { get; set; }
    public double LabelSmoothing { get; set; }
    public int Seed { get; }
    public Recorder Recorder { get; }
    public IReadOnlyList<Callback> Callbacks => callbacks;
    public optim.Optimizer? Optimizer { get; private set; }
    public Schedule Schedule { get; private set; } = new ConstantSchedule();

    /// <summary>Keep every BatchNorm in inference mode while training, trainable groups included (fixed statistics;
    /// steadier when fine-tuning on a few hundred images with small batches).</summary>
    public bool FreezeBatchNorm { get; set; }

    /// <summary>Runs each training batch in chunks of at most this many samples, accumulating their gradients before
    /// one optimiser step (gradient accumulation): the step is the whole batch's, while activations are held for one
    /// chunk at a time. BatchNorm in training mode then normalises each chunk on its own statistics. Null: whole
    /// batches.</summary>
    public int? MicroBatch { get; set; }

    /// <summary>Number of leading layer groups that are frozen.</summary>
    public int FrozenGroups { get; private set; }

    // Loop state, readable by callbacks.
    public int Epoch { get; private set; }
    public int TotalEpochs { get; private set; }
    public long Iteration { get; private set; }
    public long TotalIterations { get; private set; }
    public bool Training { get; private set; }
    public Tensor? Predictions { get; private set; }
    public Tensor? Targets { get; private set; }
    public Tensor? Loss { get; private set; }
    public double? ValLoss { get; private set; }
    public double? ValAccuracy { get; private set; }
    public double CurrentLearningRate => groups.Count == 0 ? 0 : groups[^1].Group.LearningRate;

    public void AddCallback(Callback cb) => callbacks.Add(cb);
    public void RemoveCallback(Callback cb) => callbacks.Remove(cb);
    public void RequestStop() => stopRequested = true;
    public bool StopRequested => stopRequested;

    /// <summary>When true, <see cref="RequestStop"/> ends the epoch after the current batch (the LR finder's divergence
    /// stop) rather than after the epoch.</summary>
    public bool StopWithinEpoch { get; set; }

    /// <summary>Takes the optimizer (with its state and base LRs) out of the learner so a temporary fit, such as the LR
    /// finder's, builds its own without disposing it; <see cref="ReattachOptimizer"/> puts it back.</summary>
    internal (optim.Optimizer? Optimizer, List<(ParamGroup Group, double BaseLr)> Groups) DetachOptimizer()
    {
        var detached = (Optimizer, groups.ToList());
        Optimizer = null;
        groups.Clear();
        return detached;
    }

    internal void ReattachOptimizer((optim.Optimizer? Optimizer, List<(ParamGroup Group, double BaseLr)> Groups) detached)
    {
        Optimizer?.Dispose();
        Optimizer = detached.Optimizer;
        groups.Clear();
        groups.AddRange(detached.Groups);
    }

    /// <summary>Moves the loop to the start of <paramref name="epoch"/> (from BeforeFit): the schedule sees the same
    /// global iteration as an uninterrupted fit.</summary>
    public void SkipTo(int epoch)
    {
        Epoch = epoch;
        Iteration = (long)epoch * Train.BatchesPerEpoch;
    }

    /// <summary>Freezes everything but the classifier section (the last layer group).</summary>
    public void Freeze() => FreezeTo(Spec.LayerGroups.Count - 1);

    /// <summary>Makes every layer group trainable.</summary>
    public void Unfreeze() => FreezeTo(0);

    /// <summary>Freezes the first <paramref name="n"/> layer groups (negative counts from the end).</summary>
    public void FreezeTo(int n)
    {
        int count = Spec.LayerGroups.Count;
        if (n < 0) n += count;
        FrozenGroups = Math.Clamp(n, 0, count - 1);
        Freezing.FreezeTo(Model, Spec, FrozenGroups);
    }

    /// <summary>A named metric of the last epoch: val_accuracy, val_loss, train_loss, train_accuracy.</summary>
    public double? Metric(string name) => name switch
    {
        "val_accuracy" => ValAccuracy,
        "val_loss" => ValLoss,
        "train_loss" => Recorder.History.LastOrDefault()?.TrainLoss,
        "train_accuracy" => Recorder.History.LastOrDefault()?.TrainAccuracy,
        _ => throw new ArgumentException($"unknown metric '{name}'"),
    };

    /// <summary>
    /// Trains for <paramref name="epochs"/> epochs with the given LR(s) and schedule. <paramref name="startEpoch"/> &gt; 0
    /// continues an interrupted fit (after loading a checkpoint): the schedule sees the same global iterations.
    /// </summary>
    public void Fit(int epochs, LearningRate lr, Schedule? schedule = null, int startEpoch = 0)
    {
        Schedule = schedule ?? new ConstantSchedule();
        if (Optimizer is null || startEpoch == 0) BuildOptimizer(lr);
        TotalEpochs = epochs;
        TotalIterations = (long)epochs * Train.BatchesPerEpoch;
        stopRequested = false;
        SkipTo(startEpoch);
        var forward = Train.IsFeatures ? (Func<Tensor, Tensor>)Model.ForwardClassifier : Model.forward;
        // BeforeFit may move the start (a checkpoint callback resuming an interrupted fit calls SkipTo).
        Raise(c => c.BeforeFit(this));
        for (; Epoch < epochs && !stopRequested; Epoch++)
        {
            Raise(c => c.BeforeEpoch(this));
            Training = true;
            Raise(c => c.BeforeTrain(this));
            foreach (var (x, y) in Train.Batches(Epoch, shuffle: true))
            {
                using var scope = NewDisposeScope();
                Targets = y;
                Raise(c => c.BeforeBatch(this));
                if (MicroBatch is int m && x.shape[0] > m)
                {
                    // Forward and backward chunk by chunk; AfterLoss then sees the whole batch's (detached) loss.
                    AccumulateChunks(forward, x, y, m);
                    Raise(c => c.AfterLoss(this));
                }
                else
                {
                    Predictions = forward(x);
                    Loss = nn.functional.cross_entropy(Predictions, y, label_smoothing: LabelSmoothing);
                    Raise(c => c.AfterLoss(this));
                    Optimizer!.zero_grad();
                    Loss.backward();
                }
                Raise(c => c.AfterBackward(this));
                Optimizer!.step();
                Raise(c => c.AfterStep(this));
                Raise(c => c.AfterBatch(this));
                Iteration++;
                Predictions = Targets = Loss = null;
                if (stopRequested && StopWithinEpoch) break;
            }
            Raise(c => c.AfterTrain(this));
            Training = false;
            Validate();
            Raise(c => c.AfterEpoch(this));
        }
        Epoch = Math.Min(Epoch, epochs);
        Raise(c => c.AfterFit(this));
    }

    /// <summary>Gradient accumulation over chunks of <paramref name="chunk"/> samples of the batch (x: (B, ...), y: (B)):
    /// each chunk's loss is weighted by its share of B, so the summed gradients equal the whole batch's mean loss's
    /// (up to BatchNorm's per-chunk statistics). Sets <see cref="Predictions"/> (B, C) and <see cref="Loss"/>, detached.</summary>
    private void AccumulateChunks(Func<Tensor, Tensor> forward, Tensor x, Tensor y, int chunk)
    {
        Optimizer!.zero_grad();
        long n = x.shape[0];
        var predictions = new List<Tensor>();
        Tensor? total = null;
        for (long start = 0; start < n; start += chunk)
        {
            long len = Math.Min(chunk, n - start);
            Tensor p, l;
            using (var inner = NewDisposeScope())
            {
                var logits = forward(x.narrow(0, start, len));
                var loss = nn.functional.cross_entropy(logits, y.narrow(0, start, len), label_smoothing: LabelSmoothing).mul(Scalars.Of(len / (double)n));
                loss.backward();   // frees this chunk's graph before the next chunk's forward
                p = logits.detach().MoveToOuterDisposeScope();
                l = loss.detach().MoveToOuterDisposeScope();
            }
            predictions.Add(p);
            total = total is null ? l : total.add(l);
        }
        Predictions = cat(predictions, 0);
        Loss = total;
    }

    /// <summary>Runs the validation set (if any) in eval mode, setting <see cref="ValLoss"/>/<see cref="ValAccuracy"/>.</summary>
    public void Validate()
    {
        ValLoss = ValAccuracy = null;
        if (Valid is null) return;
        Raise(c => c.BeforeValidate(this));
        var forward = Valid.IsFeatures ? (Func<Tensor, Tensor>)Model.ForwardClassifier : Model.forward;
        double lossSum = 0; long correct = 0, seen = 0;
        using (no_grad())
        {
            foreach (var (x, y) in Valid.Batches(0, shuffle: false))
            {
                using var scope = NewDisposeScope();
                var logits = forward(x);
                lossSum += nn.functional.cross_entropy(logits, y).item<float>() * y.shape[0];
                correct += logits.argmax(1).eq(y).sum().item<long>();
                seen += y.shape[0];
            }
        }
        if (seen > 0) { ValLoss = lossSum / seen; ValAccuracy = correct / (double)seen; }
        Raise(c => c.AfterValidate(this));
    }

    /// <summary>Sets every group's LR to base x factor (and momentum/beta1 when given).</summary>
    public void SetLearningRates(double factor, double? momentum = null)
    {
        foreach (var (g, baseLr) in groups)
        {
            g.LearningRate = baseLr * factor;
            if (momentum is double m)
            {
                if (g is SGD.ParamGroup sg && OptimizerOptions.Momentum > 0) sg.Momentum = m;
                else if (g is AdamW.ParamGroup ag) ag.Betas = (m, ag.Betas.Item2);
            }
        }
    }

    /// <summary>Copies of the weights that can change while the current freeze holds: frozen groups (BatchNorm
    /// statistics included) are left out, so snapshotting a re-headed ResNet copies its head, not the backbone.</summary>
    public Dictionary<string, Tensor> SnapshotWeights()
    {
        var snap = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in Freezing.UnfrozenState(Model, Spec, FrozenGroups)) snap[name] = t.detach().clone();
        return snap;
    }

    public void RestoreWeights(IReadOnlyDictionary<string, Tensor> snapshot)
    {
        using var _ = no_grad();
        foreach (var (name, t) in Model.state_dict())
            if (snapshot.TryGetValue(name, out var s)) t.copy_(s);
    }

    private void BuildOptimizer(LearningRate lr)
    {
        Optimizer?.Dispose();
        groups.Clear();
        var trainable = Freezing.Trainable(Model, Spec).ToList();
        if (trainable.Count == 0) throw new HeadstartException("nothing to train: every layer group is frozen (see --freeze)");
        var groupIds = trainable.Select(t => t.Group).Distinct().Order().ToList();
        var o = OptimizerOptions;
        var sgdGroups = new List<SGD.ParamGroup>();
        var adamGroups = new List<AdamW.ParamGroup>();
        for (int i = 0; i < groupIds.Count; i++)
        {
            // Geometric spread: the earliest trainable group gets Min, the last (head) Max.
            double groupLr = groupIds.Count == 1 || lr.Min == lr.Max ? lr.Max : lr.Min * Math.Pow(lr.Max / lr.Min, i / (double)(groupIds.Count - 1));
            var ps = trainable.Where(t => t.Group == groupIds[i]).Select(t => t.Param).ToList();
            // No weight decay on biases and normalisation weights (all 1-d parameters).
            foreach (var (subset, wd) in new[] { (ps.Where(p => p.dim() > 1).ToList(), o.WeightDecay), (ps.Where(p => p.dim() <= 1).ToList(), 0.0) })
            {
                if (subset.Count == 0) continue;
                if (o.Kind == OptimizerKind.Sgd)
                    sgdGroups.Add(new SGD.ParamGroup(subset, groupLr, o.Momentum, 0, wd, o.Nesterov, false));
                else
                    adamGroups.Add(new AdamW.ParamGroup(subset, groupLr, o.Momentum, o.Beta2, 1e-8, wd, false, false));
            }
        }
        Optimizer = o.Kind == OptimizerKind.Sgd
            ? optim.SGD(sgdGroups, lr.Max, o.Momentum, 0, o.WeightDecay, o.Nesterov, false)
            : optim.AdamW(adamGroups, lr.Max, o.Momentum, o.Beta2, 1e-8, o.WeightDecay, false, false);
        foreach (var g in Optimizer.ParamGroups.Cast<ParamGroup>()) groups.Add((g, g.LearningRate));
    }

    private void Raise(Action<Callback> evt)
    {
        foreach (var cb in callbacks.OrderBy(c => c.Order)) evt(cb);
    }

    public void Dispose() => Optimizer?.Dispose();
}
