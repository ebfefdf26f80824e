using Headstart.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Headstart.Weights;

/// <summary>How <see cref="WeightLoader"/> treats keys that do not line up.</summary>
public sealed record LoadOptions
{
    /// <summary>Missing and unexpected keys are errors (shape mismatches always are), as in torch's strict=True.</summary>
    public bool Strict { get; init; } = true;

    /// <summary>Skip the file's head (<see cref="ModelSpec.HeadPrefix"/>) keys: null decides automatically
    /// (skipped when the file's head shape differs from the model's, i.e. another class count, or when
    /// the weight source has no head, <see cref="WeightSource.HeadClasses"/> null).</summary>
    public bool? SkipHead { get; init; }

    /// <summary>Optional rename applied to every file key before matching (e.g. a custom checkpoint's prefix).</summary>
    public Func<string, string>? RenameKey { get; init; }

    public static LoadOptions Default { get; } = new();
}

/// <summary>What a load did, key by key.</summary>
/// <param name="Loaded">Model keys copied from the file.</param>
/// <param name="SkippedHead">File keys under the head prefix that were not loaded (the head stays freshly initialised).</param>
/// <param name="Missing">Model keys the file lacks (only non-empty when not strict, or for num_batches_tracked).</param>
/// <param name="Unexpected">File keys the model lacks (only non-empty when not strict, or for num_batches_tracked).</param>
/// <param name="Widened">Keys whose dtype was converted (e.g. float16 to float32).</param>
/// <param name="Renamed">Legacy key names upgraded to current torchvision names (old → new).</param>
public sealed record LoadReport(
    IReadOnlyList<string> Loaded, IReadOnlyList<string> SkippedHead, IReadOnlyList<string> Missing,
    IReadOnlyList<string> Unexpected, IReadOnlyList<string> Widened, IReadOnlyDictionary<string, string> Renamed);

/// <summary>Copies a state_dict into a Headstart model, checking every key, shape and dtype first.</summary>
public static class WeightLoader
{
    private const string BatchCounter = "num_batches_tracked";


    /// <summary>
    /// Loads <paramref name="stateDict"/> into <paramref name="model"/>. Nothing is copied unless every key checks out,
    /// so a failed load leaves the model untouched.
    /// </summary>
    /// <exception cref="HeadstartException">Missing/unexpected keys (strict) or shape/dtype mismatches, all named.</exception>
    /// <param name="source">The file's record (<see cref="ModelSpec.SourceOf"/>); null = the model's default source.</param>
    public static LoadReport Load(ImageClassifier model, StateDict stateDict, ModelSpec spec, LoadOptions? options = null,
        WeightSource? source = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(stateDict);
        bool hasHead = (source ?? spec.WeightSources.FirstOrDefault())?.HeadClasses is not null;
        if (spec.IgnoredWeightPrefixes.Count == 0)
            return Load(model, stateDict, spec.Name, spec.HeadPrefix, hasHead, options);
        // Published files may carry parts the model never uses (GoogLeNet's aux1/aux2, Inception's AuxLogits): drop
        // them before matching. The filtered view borrows the tensors, so it is deliberately not disposed.
        var kept = new StateDict();
        foreach (var (key, t) in stateDict)
            if (!spec.IgnoredWeightPrefixes.Any(p => key == p || key.StartsWith(p + ".", StringComparison.Ordinal))) kept.Add(key, t);
        foreach (var (k, v) in stateDict.Metadata) kept.Metadata[k] = v;
        return Load(model, kept, spec.Name, spec.HeadPrefix, hasHead, options, spec.LegacyKeyUpgrade);
    }

    /// <summary>
    /// Loads into any TorchSharp module with torchvision key names (e.g. a TorchVision-for-.NET model).
    /// <paramref name="headPrefix"/> names the classifier layer skipped when its shape differs; null never skips.
    /// <paramref name="legacyKeyUpgrade"/> renames a file key the model lacks (<see cref="ModelSpec.LegacyKeyUpgrade"/>).
    /// </summary>
    public static LoadReport Load(nn.Module model, StateDict stateDict, string modelName, string? headPrefix = null,
        bool pretrainedHasHead = true, LoadOptions? options = null, Func<string, string>? legacyKeyUpgrade = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(stateDict);
        options ??= LoadOptions.Default;
        var target = model.state_dict();
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        var source = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (fileKey, tensor) in stateDict)
        {
            var key = options.RenameKey?.Invoke(fileKey) ?? fileKey;
            if (!target.ContainsKey(key) && legacyKeyUpgrade?.Invoke(key) is { } upgraded && target.ContainsKey(upgraded))
                key = upgraded;
            if (key != fileKey) renamed[fileKey] = key;
            if (!source.TryAdd(key, tensor)) throw new HeadstartException($"two file keys map to '{key}' after renaming");
        }

        var head = headPrefix is null ? null : headPrefix + ".";
        bool IsHead(string key) => head is not null && key.StartsWith(head, StringComparison.Ordinal);
        bool headDiffers = source.Any(kv => IsHead(kv.Key) && target.TryGetValue(kv.Key, out var t)
                                            && !t.shape.SequenceEqual(kv.Value.shape));
        bool skipHead = head is not null && (options.SkipHead ?? (!pretrainedHasHead || headDiffers));

        List<string> loaded = [], skipped = [], missing = [], unexpected = [], widened = [], mismatched = [];
        var benignMissing = new List<string>();
        foreach (var (key, t) in target)
        {
            if (skipHead && IsHead(key)) continue;
            if (!source.TryGetValue(key, out var s))
            {
                // Files older than PyTorch 0.4.1 have no BatchNorm counter; it only matters for momentum=None.
                (key.EndsWith(BatchCounter, StringComparison.Ordinal) ? benignMissing : missing).Add(key);
                continue;
            }
            if (!t.shape.SequenceEqual(s.shape))
                mismatched.Add($"{key}: file [{string.Join(", ", s.shape)}] vs model [{string.Join(", ", t.shape)}]");
            else if (t.dtype != s.dtype && !(t.is_floating_point() && s.is_floating_point())
                     && !key.EndsWith(BatchCounter, StringComparison.Ordinal))
                mismatched.Add($"{key}: file dtype {DTypes.Name(s.dtype)} vs model {DTypes.Name(t.dtype)}");
            else
            {
                loaded.Add(key);
                if (t.dtype != s.dtype) widened.Add(key);
            }
        }
        var benignUnexpected = new List<string>();
        foreach (var key in source.Keys.Where(k => !target.ContainsKey(k)))
        {
            if (IsHead(key) && skipHead) skipped.Add(key);
            else (key.EndsWith(BatchCounter, StringComparison.Ordinal) ? benignUnexpected : unexpected).Add(key);
        }
        if (skipHead) skipped.AddRange(source.Keys.Where(k => IsHead(k) && target.ContainsKey(k)));

        if (mismatched.Count > 0 || (options.Strict && (missing.Count > 0 || unexpected.Count > 0)))
            throw new HeadstartException(Describe(modelName, stateDict, missing, unexpected, mismatched, options.Strict));

        using (no_grad())
        {
            foreach (var key in loaded) target[key].copy_(source[key]);
        }
        return new LoadReport(loaded, skipped, [.. missing, .. benignMissing], [.. unexpected, .. benignUnexpected], widened, renamed);
    }

    private static string Describe(string modelName, StateDict sd, List<string> missing, List<string> unexpected,
        List<string> mismatched, bool strict)
    {
        var from = sd.Metadata.TryGetValue("source", out var s) ? Path.GetFileName(s) : "the state_dict";
        var parts = new List<string>();
        if (strict && missing.Count > 0) parts.Add($"{missing.Count} missing key(s): {List(missing)}");
        if (strict && unexpected.Count > 0) parts.Add($"{unexpected.Count} unexpected key(s): {List(unexpected)}");
        if (mismatched.Count > 0) parts.Add($"{mismatched.Count} shape/dtype mismatch(es): {List(mismatched)}");
        return $"cannot load {from} into {modelName}: {string.Join("; ", parts)}. " +
               $"Check that the file holds {modelName} weights (torchvision key names); to load a partial match, " +
               "use non-strict loading.";
    }

    private static string List(List<string> items) =>
        string.Join(", ", items.Take(8)) + (items.Count > 8 ? $", ... and {items.Count - 8} more" : "");
}
