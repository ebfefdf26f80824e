using System.Text.Json;
using Headstart.Models;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>
/// A training callback, fastai style: the loop raises typed events and callbacks act on the learner. Even the
/// defaults (train/eval mode, LR schedule, recording) are callbacks; lower <see cref="Order"/> runs first.
/// </summary>
public abstract class Callback
{
    public virtual int Order => 0;
    public virtual void BeforeFit(Learner learner) { }
    public virtual void BeforeEpoch(Learner learner) { }
    public virtual void BeforeTrain(Learner learner) { }
    public virtual void BeforeBatch(Learner learner) { }
    public virtual void AfterLoss(Learner learner) { }
    public virtual void AfterBackward(Learner learner) { }
    public virtual void AfterStep(Learner learner) { }
    public virtual void AfterBatch(Learner learner) { }
    public virtual void AfterTrain(Learner learner) { }
    public virtual void BeforeValidate(Learner learner) { }
    public virtual void AfterValidate(Learner learner) { }
    public virtual void AfterEpoch(Learner learner) { }
    public virtual void AfterFit(Learner learner) { }
}

/// <summary>Default: model.train() for training with frozen groups kept in eval (BatchNorm included); eval() to validate.</summary>
public sealed class TrainEvalCallback : Callback
{
    public override int Order => -100;

    public override void BeforeTrain(Learner l)
    {
        l.Model.train();
        Freezing.KeepFrozenInEval(l.Model, l.Spec, l.FrozenGroups);
        if (l.FreezeBatchNorm) Freezing.KeepBatchNormInEval(l.Model);
    }

    public override void BeforeValidate(Learner l) => l.Model.eval();
    public override void AfterFit(Learner l) => l.Model.eval();
}

/// <summary>Default: sets each parameter group's LR (and momentum) from the schedule before every batch.</summary>
public sealed class ScheduleCallback : Callback
{
    public override int Order => -50;

    public override void BeforeBatch(Learner l)
    {
        if (!l.Training) return;
        double f = l.Schedule.LrFactor(l.Iteration, l.TotalIterations, l.Train.BatchesPerEpoch);
        double? mom = l.Schedule.Momentum(l.Iteration, l.TotalIterations);
        l.SetLearningRates(f, mom);
    }
}

/// <summary>Default: counts the images that go through the whole network, training steps (forward and backward)
/// and validation (forward), when the learner's batches are images rather than cached features.</summary>
public sealed class BackbonePassCounter : Callback
{
    public long Training { get; private set; }
    public long Inference { get; private set; }

    public override void AfterBatch(Learner l)
    {
        if (l.Training && !l.Train.IsFeatures && l.Targets is { } y) Training += y.shape[0];
    }

    public override void AfterValidate(Learner l)
    {
        if (l.Valid is { IsFeatures: false } v) Inference += v.Count;
    }
}

/// <summary>One row of the training history.</summary>
public sealed record EpochRecord(int Epoch, double TrainLoss, double TrainAccuracy, double? ValLoss, double? ValAccuracy,
    double Seconds, double LearningRate);

/// <summary>Default: records per-epoch loss/accuracy (train and validation), time and LR.</summary>
public sealed class Recorder : Callback
{
    private double lossSum, correct;
    private long seen;
    private long startTicks;

    public override int Order => 50;
    public List<EpochRecord> History { get; } = [];

    public override void BeforeEpoch(Learner l)
    {
        lossSum = 0; correct = 0; seen = 0;
        startTicks = System.Diagnostics.Stopwatch.GetTimestamp();
    }

    public override void AfterBatch(Learner l)
    {
        if (!l.Training || l.Loss is null || l.Predictions is null || l.Targets is null) return;
        long b = l.Targets.shape[0];
        lossSum += l.Loss.item<float>() * b;
        correct += l.Predictions.argmax(1).eq(l.Targets).sum().item<long>();
        seen += b;
    }

    public override void AfterEpoch(Learner l)
    {
        double secs = System.Diagnostics.Stopwatch.GetElapsedTime(startTicks).TotalSeconds;
        History.Add(new EpochRecord(History.Count + 1, seen > 0 ? lossSum / seen : double.NaN, seen > 0 ? correct / seen : double.NaN,
            l.ValLoss, l.ValAccuracy, secs, l.CurrentLearningRate));
    }
}

/// <summary>Receives progress from <see cref="ProgressCallback"/>; the CLI renders it with Spectre.Console.</summary>
public interface IProgressSink
{
    void StartEpoch(int epoch, int epochs, int batches);
    void Advance(double loss);
    void EndEpoch(EpochRecord record);
}

/// <summary>Default when a sink is given: a progress bar per epoch and a one-line summary.</summary>
public sealed class ProgressCallback(IProgressSink sink) : Callback
{
    public override int Order => 90;
    public override void BeforeEpoch(Learner l) => sink.StartEpoch(l.Epoch + 1, l.TotalEpochs, l.Train.BatchesPerEpoch);

    public override void AfterBatch(Learner l)
    {
        if (l.Training && l.Loss is not null) sink.Advance(l.Loss.item<float>());
    }

    public override void AfterEpoch(Learner l)
    {
        var rec = l.Recorder.History.LastOrDefault();
        if (rec is not null) sink.EndEpoch(rec);
    }
}

/// <summary>Keeps a copy of the trainable weights at the best monitored value and restores them after fitting.</summary>
public sealed class SaveBestCallback(string monitor = "val_accuracy") : Callback, ICheckpointState
{
    public string StateKey => "save_best";

    public JsonElement SaveState(IDictionary<string, Tensor> tensors)
    {
        foreach (var (k, t) in best ?? []) tensors[$"{StateKey}/{k}"] = t.clone();
        return JsonSerializer.SerializeToElement(new BestState(BestValue, BestEpoch, 0));
    }

    public void LoadState(JsonElement state, IReadOnlyDictionary<string, Tensor> tensors)
    {
        var s = state.Deserialize<BestState>()!;
        (BestValue, BestEpoch) = (s.Value, s.Epoch);
        Dispose();
        best = BestState.Weights(StateKey, tensors);
    }

    private Dictionary<string, Tensor>? best;
    public double? BestValue { get; private set; }
    public int BestEpoch { get; private set; }
    public override int Order => 60;

    public override void AfterEpoch(Learner l)
    {
        double? v = l.Metric(monitor);
        if (v is null) return;
        bool higherBetter = !monitor.EndsWith("loss", StringComparison.Ordinal);
        if (BestValue is null || (higherBetter ? v > BestValue : v < BestValue))
        {
            BestValue = v;
            BestEpoch = l.Epoch + 1;
            Dispose();
            best = l.SnapshotWeights();
        }
    }

    public override void AfterFit(Learner l)
    {
        if (best is not null) l.RestoreWeights(best);
        Dispose();
    }

    private void Dispose()
    {
        if (best is null) return;
        foreach (var t in best.Values) t.Dispose();
        best = null;
    }
}

/// <summary>Stops when the monitored value has not improved by <paramref name="minDelta"/> for
/// <paramref name="patience"/> epochs; optionally restores the best weights.</summary>
public sealed class EarlyStoppingCallback(int patience = 3, double minDelta = 0.0, string monitor = "val_loss",
    bool restoreBest = true) : Callback, ICheckpointState
{
    public string StateKey => "early_stopping";

    public JsonElement SaveState(IDictionary<string, Tensor> tensors)
    {
        foreach (var (k, t) in bestWeights ?? []) tensors[$"{StateKey}/{k}"] = t.clone();
        return JsonSerializer.SerializeToElement(new BestState(best, 0, wait));
    }

    public void LoadState(JsonElement state, IReadOnlyDictionary<string, Tensor> tensors)
    {
        var s = state.Deserialize<BestState>()!;
        (best, wait) = (s.Value, s.Wait);
        Release();
        bestWeights = BestState.Weights(StateKey, tensors);
    }

    private double? best;
    private int wait;
    private Dictionary<string, Tensor>? bestWeights;
    public int? StoppedEpoch { get; private set; }
    public override int Order => 70;

    public override void BeforeFit(Learner l) { best = null; wait = 0; StoppedEpoch = null; }

    public override void AfterEpoch(Learner l)
    {
        double? v = l.Metric(monitor);
        if (v is null) return;
        bool higherBetter = !monitor.EndsWith("loss", StringComparison.Ordinal);
        bool improved = best is null || (higherBetter ? v > best + minDelta : v < best - minDelta);
        if (improved)
        {
            best = v;
            wait = 0;
            if (restoreBest) { Release(); bestWeights = l.SnapshotWeights(); }
        }
        else if (++wait >= patience)
        {
            StoppedEpoch = l.Epoch + 1;
            l.RequestStop();
        }
    }

    public override void AfterFit(Learner l)
    {
        if (restoreBest && bestWeights is not null) l.RestoreWeights(bestWeights);
        Release();
    }

    private void Release()
    {
        if (bestWeights is null) return;
        foreach (var t in bestWeights.Values) t.Dispose();
        bestWeights = null;
    }
}

/// <summary>Clips the global gradient norm after backward.</summary>
public sealed class GradientClipCallback(double maxNorm) : Callback
{
    public override void AfterBackward(Learner l) =>
        TorchSharp.torch.nn.utils.clip_grad_norm_(l.Model.parameters().Where(p => p.requires_grad), maxNorm);
}

/// <summary>Checkpointed state of the best-value callbacks.</summary>
internal sealed record BestState(double? Value, int Epoch, int Wait)
{
    /// <summary>The weights saved under "key/" in a checkpoint, or null when none were.</summary>
    public static Dictionary<string, Tensor>? Weights(string key, IReadOnlyDictionary<string, Tensor> tensors)
    {
        string prefix = key + "/";
        var d = tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value.clone(), StringComparer.Ordinal);
        return d.Count == 0 ? null : d;
    }
}
