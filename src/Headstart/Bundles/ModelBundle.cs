using System.Text.Json;
using Headstart.IO;
using Headstart.Models;
using Headstart.Weights;
using static TorchSharp.torch;

namespace Headstart.Bundles;

/// <summary>
/// A trained model on disk: a directory with model.json (manifest), model.safetensors (torchvision keys) and
/// metrics.json; report.html is added by training. Written atomically (temp dir, then rename).
/// </summary>
public static class ModelBundle
{
    public const string ManifestFile = "model.json", MetricsFile = "metrics.json";

    /// <summary>Saves <paramref name="model"/> with its manifest into <paramref name="dir"/> atomically.
    /// <paramref name="extra"/> may add files (e.g. the report) to the temp directory before the rename.</summary>
    public static void Save(string dir, ImageClassifier model, BundleManifest manifest, Action<string>? extra = null)
    {
        EnsureReplaceable(dir);
        AtomicFiles.WriteDirectory(dir, tmp =>
        {
            using (var sd = new StateDict())
            {
                foreach (var (name, t) in model.state_dict()) sd.Add(name, t.detach().cpu().clone());
                Safetensors.Write(Path.Combine(tmp, manifest.WeightsFile), sd,
                    new Dictionary<string, string> { ["arch"] = manifest.Arch, ["format"] = "pt" });
            }
            File.WriteAllText(Path.Combine(tmp, ManifestFile), JsonSerializer.Serialize(manifest, BundleManifest.JsonOptions));
            if (manifest.Metrics is not null)
                File.WriteAllText(Path.Combine(tmp, MetricsFile), JsonSerializer.Serialize(manifest.Metrics, BundleManifest.JsonOptions));
            extra?.Invoke(tmp);
        });
    }

    /// <summary>
    /// Throws unless <paramref name="dir"/> is absent, empty or a Headstart bundle. Saving replaces the whole directory,
    /// so an output path that names a folder of other files (a typo, or '.') must never delete them.
    /// </summary>
    public static void EnsureReplaceable(string dir)
    {
        if (!Directory.Exists(dir) || !Directory.EnumerateFileSystemEntries(dir).Any()) return;
        string manifest = Path.Combine(dir, ManifestFile);
        bool isBundle = false;
        try
        {
            if (File.Exists(manifest) && new FileInfo(manifest).Length < 64 << 20)
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(manifest));
                isBundle = doc.RootElement.ValueKind == JsonValueKind.Object
                           && doc.RootElement.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String
                           && f.GetString() == "headstart-bundle";
            }
        }
        catch (JsonException) { /* not a bundle */ }
        if (!isBundle)
            throw new HeadstartException(
                $"'{Path.GetFullPath(dir)}' exists and is not a Headstart bundle; saving would replace everything in it. " +
                "Choose a new or empty folder (or an earlier bundle's folder) for the output");
    }

    /// <summary>Reads and validates a bundle's manifest.</summary>
    public static BundleManifest ReadManifest(string dir)
    {
        string path = Path.Combine(dir, ManifestFile);
        if (!Directory.Exists(dir)) throw new HeadstartException($"bundle directory '{dir}' does not exist; train one with 'headstart train DATA --out {dir}'");
        if (!File.Exists(path)) throw new HeadstartException($"'{dir}' is not a Headstart bundle: {ManifestFile} is missing");
        BundleManifest? m;
        try { m = JsonSerializer.Deserialize<BundleManifest>(File.ReadAllText(path), BundleManifest.JsonOptions); }
        catch (JsonException ex) { throw new HeadstartException($"{path} is not a valid bundle manifest: {ex.Message}", ex); }
        if (m is null || m.Format != "headstart-bundle") throw new HeadstartException($"{path} is not a Headstart bundle manifest");
        if (m.FormatVersion > BundleManifest.CurrentFormatVersion)
            throw new HeadstartException($"{path} has format version {m.FormatVersion}; this Headstart reads up to {BundleManifest.CurrentFormatVersion}: upgrade Headstart");
        if (!ModelRegistry.TryGet(m.Arch, out _))
            throw new HeadstartException($"{path} names an unknown arch '{m.Arch}'; run 'headstart models' for the known ones");
        if (m.Classes is null || m.Classes.Count < 2)
            throw new HeadstartException($"{path} must list at least 2 classes");
        if (m.Classes.Distinct(StringComparer.Ordinal).Count() != m.Classes.Count)
            throw new HeadstartException($"{path} lists duplicate class names");
        if (Invalid(m.Preprocessing) is { } why)
            throw new HeadstartException($"{path}: invalid preprocessing ({why}); restore the bundle's model.json or train again");
        if (m.WeightsFile.Contains('/') || m.WeightsFile.Contains('\\') || m.WeightsFile.Contains(".."))
            throw new HeadstartException($"{path}: weights_file must be a plain file name inside the bundle");
        return m;
    }

    /// <summary>Why a manifest's preprocessing cannot be used, or null (bounds keep a hostile model.json from asking
    /// for absurd allocations).</summary>
    private static string? Invalid(Preprocessing? p) => p switch
    {
        null => "missing",
        { InputSize: < 8 or > 2048 } => $"input_size {p.InputSize} is outside 8..2048",
        { ResizeSize: var r } when r < p.InputSize || r > 4096 => $"resize_size {r} must be between input_size {p.InputSize} and 4096",
        { Mean.Length: not 3 } or { Std.Length: not 3 } => "mean and std need 3 values each",
        _ when p.Std.Any(v => !(v > 0) || float.IsInfinity(v)) || p.Mean.Any(v => !float.IsFinite(v)) => "std must be positive and mean finite",
        { ValueScale: var v } when !(v > 0) || float.IsInfinity(v) => $"value_scale {v} must be positive",
        _ => null,
    };

    /// <summary>Loads a bundle: the manifest, and the model with its weights in eval mode (strict load).</summary>
    /// <param name="weightsOverride">A weights file (any supported format) to use instead of the bundle's own.</param>
    public static (BundleManifest Manifest, ModelSpec Spec, ImageClassifier Model) Load(string dir, string? weightsOverride = null)
    {
        var manifest = ReadManifest(dir);
        var spec = ModelRegistry.Get(manifest.Arch);
        string weights = weightsOverride ?? Path.Combine(dir, manifest.WeightsFile);
        if (!File.Exists(weights)) throw new HeadstartException(weightsOverride is null
            ? $"bundle '{dir}' is missing its weights file {manifest.WeightsFile}"
            : $"weights file '{weightsOverride}' does not exist");
        StateDict sd;
        try { sd = weightsOverride is null ? Safetensors.Read(weights) : WeightFile.Read(weights); }
        catch (WeightFileException ex)
        {
            throw new HeadstartException($"bundle '{dir}': weights file {Path.GetFileName(weights)} is damaged ({ex.Message}); restore it or train again", ex);
        }
        using var _ = sd;
        // Name the disagreement plainly before the key-by-key comparison: the weights record the arch they were saved
        // from, and the head's bias has one entry per class.
        if (sd.Metadata.TryGetValue("arch", out var savedArch) && savedArch != manifest.Arch)
            throw new HeadstartException($"bundle '{dir}': model.json says arch '{manifest.Arch}' but {Path.GetFileName(weights)} holds '{savedArch}' weights; restore model.json or train again");
        if (sd.TryGetValue($"{spec.HeadPrefix}.bias", out var headBias) && headBias.shape is [var outputs] && outputs != manifest.Classes.Count)
            throw new HeadstartException($"bundle '{dir}': model.json lists {manifest.Classes.Count} classes but the weights' classifier head has {outputs} outputs; restore model.json or train again");
        var model = spec.Create(manifest.Classes.Count);
        try
        {
            WeightLoader.Load(model, sd, spec, new LoadOptions { Strict = true, SkipHead = false });
        }
        catch (HeadstartException ex)
        {
            model.Dispose();
            throw new HeadstartException(
                $"bundle '{dir}': weights do not match model.json (arch {manifest.Arch}, {manifest.Classes.Count} classes): {ex.Message}", ex);
        }
        model.eval();
        return (manifest, spec, model);
    }
}
