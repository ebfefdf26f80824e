using System.Text.Json;
using System.Text.Json.Serialization;
using Headstart.IO;
using Headstart.Weights;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>A callback with state that a checkpoint must carry for a resumed run to match an uninterrupted one.</summary>
public interface ICheckpointState
{
    /// <summary>Unique key of this state in the checkpoint.</summary>
    string StateKey { get; }

    /// <summary>Returns scalar state as JSON and adds tensors (copies) to <paramref name="tensors"/>, keys prefixed with StateKey.</summary>
    JsonElement SaveState(IDictionary<string, Tensor> tensors);

    void LoadState(JsonElement state, IReadOnlyDictionary<string, Tensor> tensors);
}

/// <summary>
/// The scalar part of a checkpoint (state.json). <see cref="Phase"/> counts the learner's Fit calls (fine-tune: 0 =
/// frozen head, 1 = unfrozen); <see cref="Epoch"/> is the number of epochs completed in that phase.
/// </summary>
public sealed record CheckpointState
{
    public int FormatVersion { get; init; } = 1;
    public int Phase { get; init; }
    public int Epoch { get; init; }
    public int Epochs { get; init; }
    public long Iteration { get; init; }
    /// <summary>Leading layer groups frozen when this was written: their tensors are not in model.safetensors, because
    /// a frozen group (BatchNorm statistics included) keeps the values it was loaded with.</summary>
    public int FrozenGroups { get; init; }
    public bool Stopped { get; init; }
    public TrainOptions? Options { get; init; }
    public List<EpochRecord> History { get; init; } = [];
    public Dictionary<string, JsonElement> Callbacks { get; init; } = [];
    public DateTime SavedUtc { get; init; }
}

/// <summary>
/// Reads and writes checkpoint directories: state.json, model.safetensors (the state_dict of the groups that train:
/// a frozen backbone is not rewritten every epoch), optimizer.bin (TorchSharp's
/// optimizer state format: momentum / Adam moments and step counts) and extra.safetensors (torch RNG state and callback
/// tensors such as the best weights so far). A directory is always written whole to a temp sibling and renamed.
/// </summary>
public static class Checkpoint
{
    public const string StateFile = "state.json", ModelFile = "model.safetensors", OptimizerFile = "optimizer.bin",
        ExtraFile = "extra.safetensors", RngKey = "torch.rng_state";

    /// <summary>Where a bundle's checkpoint lives by default: "&lt;bundle&gt;.checkpoint" next to it (never inside the dataset).</summary>
    public static string DefaultDirectory(string bundleDir) =>
        Path.GetFullPath(bundleDir.TrimEnd(Path.DirectorySeparatorChar)) + ".checkpoint";

    /// <summary>Resolves --resume: a checkpoint directory (has state.json), or a bundle path whose default checkpoint exists.</summary>
    public static string Resolve(string bundleOrCheckpoint)
    {
        string full = Path.GetFullPath(bundleOrCheckpoint.TrimEnd(Path.DirectorySeparatorChar));
        AtomicFiles.CleanLeftovers(full);
        if (File.Exists(Path.Combine(full, StateFile))) return full;
        string sibling = DefaultDirectory(full);
        AtomicFiles.CleanLeftovers(sibling);
        if (File.Exists(Path.Combine(sibling, StateFile))) return sibling;
        throw new HeadstartException($"nothing to resume at '{bundleOrCheckpoint}': neither it nor '{sibling}' holds a checkpoint " +
            $"({StateFile}). A finished run removes its checkpoint once the bundle is saved.");
    }

    public static CheckpointState ReadState(string dir)
    {
        string path = Path.Combine(dir, StateFile);
        try
        {
            return JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(path), BundleManifest.JsonOptions)
                   ?? throw new HeadstartException($"checkpoint state '{path}' is empty");
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            throw new HeadstartException($"cannot read checkpoint state '{path}': {e.Message}");
        }
    }

    internal static void Write(string dir, Learner l, CheckpointState state, IReadOnlyDictionary<string, Tensor> extra)
    {
        AtomicFiles.WriteDirectory(dir, tmp =>
        {
            using (var sd = new StateDict())
            {
                foreach (var (name, t) in Freezing.UnfrozenState(l.Model, l.Spec, state.FrozenGroups)) sd.Add(name, t.detach().cpu().clone());
                Safetensors.Write(Path.Combine(tmp, ModelFile), sd);
            }
            if (l.Optimizer is OptimizerHelper opt)
            {
                using var fs = File.Create(Path.Combine(tmp, OptimizerFile));
                using var w = new BinaryWriter(fs);
                opt.save_state_dict(w);
            }
            // Not disposed here: the caller owns the extra tensors.
            var extraDict = new StateDict();
            foreach (var (name, t) in extra) extraDict.Add(name, t);
            Safetensors.Write(Path.Combine(tmp, ExtraFile), extraDict);
            File.WriteAllText(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state, BundleManifest.JsonOptions));
        });
    }

    internal static void Restore(string dir, Learner l, CheckpointState state, IEnumerable<ICheckpointState> stateful)
    {
        using (var sd = Safetensors.Read(Path.Combine(dir, ModelFile)))
        using (no_grad())
        {
            foreach (var (name, t) in l.Model.state_dict())
            {
                // A frozen group was not saved: it still holds the pretrained values the resumed run loaded.
                if (!sd.ContainsKey(name) && Freezing.InFrozenGroup(l.Spec, name, state.FrozenGroups)) continue;
                if (!sd.TryGetValue(name, out var saved) || !saved.shape.SequenceEqual(t.shape))
                    throw new HeadstartException($"checkpoint '{dir}' does not match the model: tensor '{name}' is missing or has another shape");
                t.copy_(saved);
            }
        }
        string optPath = Path.Combine(dir, OptimizerFile);
        if (l.Optimizer is OptimizerHelper opt && File.Exists(optPath))
        {
            using var fs = File.OpenRead(optPath);
            using var r = new BinaryReader(fs);
            opt.load_state_dict(r);
        }
        using var extra = Safetensors.Read(Path.Combine(dir, ExtraFile));
        var tensors = extra.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        if (tensors.TryGetValue(RngKey, out var rng)) set_rng_state(rng);
        l.Recorder.History.Clear();
        l.Recorder.History.AddRange(state.History);
        foreach (var s in stateful)
            if (state.Callbacks.TryGetValue(s.StateKey, out var json)) s.LoadState(json, tensors);
    }
}

/// <summary>
/// Writes a checkpoint after every epoch and, when given one to resume from, restores it at the start of the matching
/// Fit (phase) and skips the phases and epochs it already covers. Runs after the recorder and the best/early-stopping
/// callbacks so their state for the finished epoch is included.
/// With <paramref name="minInterval"/>, an epoch that ends sooner than that after the last checkpoint (or the start) is
/// not checkpointed: a resumed run then repeats those epochs, to the same weights, in less time than the writes took
/// (a frozen head's epoch on cached features can take less time than its checkpoint write).
/// </summary>
public sealed class CheckpointCallback(string directory, TrainOptions? options = null, string? resumeFrom = null,
    TimeSpan minInterval = default) : Callback
{
    private int phase = -1;
    private long lastWrite = System.Diagnostics.Stopwatch.GetTimestamp();
    // A checkpoint left by an earlier, interrupted run is replaced at the first epoch whatever the interval, so that
    // --resume can never continue that run once this one has started training.
    private bool replaceStale = resumeFrom is null && File.Exists(Path.Combine(directory, Checkpoint.StateFile));
    private CheckpointState? pending = resumeFrom is null ? null : Checkpoint.ReadState(resumeFrom);

    public override int Order => 100;
    public string Directory { get; } = directory;
    /// <summary>The state being resumed (null once restored or when starting fresh).</summary>
    public CheckpointState? Pending => pending;

    public override void BeforeFit(Learner l)
    {
        phase++;
        if (pending is null) return;
        if (pending.Phase > phase) { l.SkipTo(l.TotalEpochs); return; } // this phase finished before the interruption
        if (pending.Phase < phase) throw new InvalidOperationException("checkpoint phase was skipped");
        if (pending.Epochs != l.TotalEpochs)
            throw new HeadstartException($"the checkpoint was written by a {pending.Epochs}-epoch fit, this fit has {l.TotalEpochs} epochs; resume with the same options");
        Checkpoint.Restore(resumeFrom!, l, pending, l.Callbacks.OfType<ICheckpointState>());
        l.SkipTo(pending.Stopped ? l.TotalEpochs : pending.Epoch);
        pending = null;
    }

    public override void AfterEpoch(Learner l)
    {
        if (!replaceStale && System.Diagnostics.Stopwatch.GetElapsedTime(lastWrite) < minInterval) return;
        replaceStale = false;
        var extra = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [Checkpoint.RngKey] = get_rng_state() };
        var cbState = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var s in l.Callbacks.OfType<ICheckpointState>()) cbState[s.StateKey] = s.SaveState(extra);
        var state = new CheckpointState
        {
            Phase = phase, Epoch = l.Epoch + 1, Epochs = l.TotalEpochs, Iteration = l.Iteration, FrozenGroups = l.FrozenGroups,
            Stopped = l.StopRequested,
            Options = options, History = [.. l.Recorder.History], Callbacks = cbState, SavedUtc = DateTime.UtcNow,
        };
        try { Checkpoint.Write(Directory, l, state, extra); }
        finally { foreach (var t in extra.Values) t.Dispose(); }
        lastWrite = System.Diagnostics.Stopwatch.GetTimestamp();
    }
}
