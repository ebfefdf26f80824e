using Headstart.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>
/// Freezing by layer groups (stem, stages, head). Frozen parameters get requires_grad = false and frozen modules stay in
/// eval mode even while the rest trains, so frozen BatchNorm keeps its running statistics (the Keras trap).
/// </summary>
public static class Freezing
{
    private static bool Under(string key, string prefix) =>
        key == prefix || key.StartsWith(prefix + ".", StringComparison.Ordinal);

    /// <summary>Index of the layer group that owns a state-dict key, or -1.</summary>
    public static int GroupOf(ModelSpec spec, string key)
    {
        for (int g = 0; g < spec.LayerGroups.Count; g++)
            foreach (var p in spec.LayerGroups[g].Prefixes)
                if (Under(key, p)) return g;
        return -1;
    }

    /// <summary>True when <paramref name="key"/> belongs to one of the first <paramref name="frozenGroups"/> groups: its
    /// value cannot change while they stay frozen (BatchNorm statistics included), so copies of it can be skipped.</summary>
    public static bool InFrozenGroup(ModelSpec spec, string key, int frozenGroups) =>
        GroupOf(spec, key) is var g && g >= 0 && g < frozenGroups;

    /// <summary>The state_dict entries (parameters and buffers) outside the first <paramref name="frozenGroups"/> groups:
    /// what checkpoints, snapshots and frozen-backbone bundles store, since the frozen groups keep their loaded values.</summary>
    public static IEnumerable<KeyValuePair<string, Tensor>> UnfrozenState(ImageClassifier model, ModelSpec spec, int frozenGroups) =>
        model.state_dict().Where(kv => !InFrozenGroup(spec, kv.Key, frozenGroups));

    /// <summary>Freezes the first <paramref name="frozenGroups"/> layer groups and unfreezes the rest.</summary>
    public static void FreezeTo(ImageClassifier model, ModelSpec spec, int frozenGroups)
    {
        foreach (var (name, p) in model.named_parameters())
            p.requires_grad = GroupOf(spec, name) >= frozenGroups;
    }

    /// <summary>Puts the modules of frozen groups into eval mode (call after model.train()).</summary>
    public static void KeepFrozenInEval(ImageClassifier model, ModelSpec spec, int frozenGroups)
    {
        if (frozenGroups <= 0) return;
        foreach (var (name, module) in model.named_modules())
        {
            if (name.Length > 0 && InFrozenGroup(spec, name, frozenGroups)) module.eval();
        }
    }

    /// <summary>Puts every BatchNorm module into eval mode: its running statistics stay fixed and normalise each batch
    /// (its affine weight and bias still train when their group does).</summary>
    public static void KeepBatchNormInEval(ImageClassifier model)
    {
        foreach (var (_, module) in model.named_modules())
            if (module is BatchNorm1d or BatchNorm2d or BatchNorm3d) module.eval();
    }

    /// <summary>Trainable parameters grouped by layer group: (group index, name, parameter).</summary>
    public static IEnumerable<(int Group, string Name, Parameter Param)> Trainable(ImageClassifier model, ModelSpec spec) =>
        model.named_parameters().Where(np => np.parameter.requires_grad)
            .Select(np => (GroupOf(spec, np.name), np.name, np.parameter));
}
