using System.Text.Json;
using Headstart.Data;
using Headstart.IO;
using Headstart.Models;
using Headstart.Training;
using Headstart.Weights;
using static TorchSharp.torch;

namespace Headstart.Bundles;


/// <summary>
/// A trained model on disk: a directory with model.json (manifest), model.safetensors (torchvision keys) and
/// metrics.json; report.html is added by training. Written atomically (temp dir, then rename).
/// </summary>
public static class ModelBundle
{
    public const string ManifestFile = "model.json", MetricsFile = "metrics.json", MeanImageFileName = "mean-image.safetensors";

    /// <summary>Saves <paramref name="model"/> with its manifest into <paramref name="dir"/> atomically.
    /// <paramref name="extra"/> may add files (e.g. the report) to the temp directory before the rename. With
    /// <paramref name="backbone"/>, the frozen groups are not rewritten: the bundle keeps a copy of that weights file as
    /// it is, and its model.safetensors holds only the groups that trained.</summary>
    public static void Save(string dir, ImageClassifier model, BundleManifest manifest, Action<string>? extra = null,
        FrozenBackbone? backbone = null)
    {
        if (manifest.Dataset?.Root is { } datasetRoot) DatasetWrites.Refuse(datasetRoot, dir, "the bundle folder", replacesFolder: true);
        EnsureReplaceable(dir);
        var spec = ModelRegistry.Get(manifest.Arch);
        if (backbone is not null && !File.Exists(backbone.SourcePath))
            throw new HeadstartException($"the backbone weights file '{backbone.SourcePath}' is gone; it must stay in place until the bundle is saved");
        manifest = backbone is null
            ? manifest with { BackboneFile = null, BackboneSha256 = null, FrozenGroups = 0 }
            : manifest with
            {
                BackboneFile = "backbone" + Path.GetExtension(backbone.SourcePath).ToLowerInvariant(),
                BackboneSha256 = backbone.Sha256 ?? FileHashes.Sha256(backbone.SourcePath),
                FrozenGroups = backbone.FrozenGroups,
            };
        float[]? meanImage = manifest.Preprocessing.MeanImage is { } meanName ? MeanImages.Get(meanName) : null;
        manifest = manifest with { FormatVersion = BundleManifest.CurrentFormatVersion, MeanImageFile = null, MeanImageSha256 = null };
        AtomicFiles.WriteDirectory(dir, tmp =>
        {
            if (meanImage is not null)
            {
                // The mean image travels with the bundle: inference never reads it from the installation.
                int s = manifest.Preprocessing.InputSize;
                string meanPath = Path.Combine(tmp, MeanImageFileName);
                using (var sd = new StateDict())
                {
                    sd.Add("mean_image", tensor(meanImage, [3, s, s]));
                    Safetensors.Write(meanPath, sd, new Dictionary<string, string> { ["mean_image"] = manifest.Preprocessing.MeanImage! });
                }
                manifest = manifest with { MeanImageFile = MeanImageFileName, MeanImageSha256 = FileHashes.Sha256(meanPath) };
            }
            // A copy, not a hard link: a later in-place write to either file must never change the other. (The kernel
            // copies from the page cache, so even a large backbone copies quickly.)
            if (manifest.BackboneFile is { } bf)
            {
                File.Copy(backbone!.SourcePath, Path.Combine(tmp, bf));
                // A brought backbone's sidecar (its feature output and preprocessing) travels with it.
                if (File.Exists(OnnxBackbone.SidecarOf(backbone.SourcePath)))
                    File.Copy(OnnxBackbone.SidecarOf(backbone.SourcePath), OnnxBackbone.SidecarOf(Path.Combine(tmp, bf)));
            }
            using (var sd = new StateDict())
            {
                foreach (var (name, t) in Freezing.UnfrozenState(model, spec, manifest.FrozenGroups)) sd.Add(name, t.detach().cpu().clone());
                Safetensors.Write(Path.Combine(tmp, manifest.WeightsFile), sd,
                    new Dictionary<string, string> { ["arch"] = manifest.Arch, ["format"] = "pt" });
            }
            File.WriteAllText(Path.Combine(tmp, ManifestFile), JsonSerializer.Serialize(manifest, BundleManifest.JsonOptions));
            if (manifest.Metrics is not null)
                File.WriteAllText(Path.Combine(tmp, MetricsFile), JsonSerializer.Serialize(manifest.Metrics, BundleManifest.JsonOptions));
            extra?.Invoke(tmp);
        });
    }

    /// <summary>Saves a training result: a frozen-backbone run copies its pretrained weights file instead of rewriting
    /// the backbone (and never needs the backbone in TorchSharp at all).</summary>
    public static void Save(string dir, TrainResult result, Action<string>? extra = null) =>
        Save(dir, result.Backbone is null ? result.Model : result.TrainedParts, result.Manifest, extra, result.Backbone);

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
        if (!OnnxBackbone.Names(m.Arch) && !ModelRegistry.TryGet(m.Arch, out _))
            throw new HeadstartException($"{path} names an unknown arch '{m.Arch}'; run 'headstart models' for the known ones");
        if (m.Classes is null || m.Classes.Count < 2)
            throw new HeadstartException($"{path} must list at least 2 classes");
        if (m.Classes.Distinct(StringComparer.Ordinal).Count() != m.Classes.Count)
            throw new HeadstartException($"{path} lists duplicate class names");
        if (Invalid(m.Preprocessing) is { } why)
            throw new HeadstartException($"{path}: invalid preprocessing ({why}); restore the bundle's model.json or train again");
        if (m.WeightsFile.Contains('/') || m.WeightsFile.Contains('\\') || m.WeightsFile.Contains(".."))
            throw new HeadstartException($"{path}: weights_file must be a plain file name inside the bundle");
        if (m.BackboneFile is { } bf && (bf.Contains('/') || bf.Contains('\\') || bf.Contains("..") || bf == m.WeightsFile))
            throw new HeadstartException($"{path}: backbone_file must be a plain file name inside the bundle");
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
        // A brought ONNX backbone is rebuilt from the bundle's own copy (and sidecar): the bundle can move.
        var spec = OnnxBackbone.Names(manifest.Arch) && manifest.BackboneFile is { } own
            ? OnnxBackbone.Spec(Path.Combine(dir, own))
            : ModelRegistry.Get(manifest.Arch);
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
        string? backbone = weightsOverride is null && manifest.BackboneFile is not null ? CheckBackbone(dir, manifest) : null;
        var model = spec.Create(manifest.Classes.Count);
        try
        {
            if (backbone is not null) LoadSplit(backbone, manifest, spec, model, sd);
            else WeightLoader.Load(model, sd, spec, new LoadOptions { Strict = true, SkipHead = false });
        }
        catch (WeightFileException ex)
        {
            model.Dispose();
            throw new HeadstartException($"bundle '{dir}': backbone weights file {manifest.BackboneFile} is damaged ({ex.Message}); restore it or train again", ex);
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

    /// <summary>
    /// The mean image the bundle's preprocessing subtracts ((3·S·S) floats, channel-major), or null when it has none:
    /// the bundle's own file (format 3), checked against its SHA-256; for a bundle written before bundles carried it,
    /// the installation's, with a message that says what to do where the installation lacks it.
    /// </summary>
    public static float[]? ReadMeanImage(string dir, BundleManifest manifest)
    {
        var p = manifest.Preprocessing;
        if (p.MeanImage is not { } name) return null;
        if (manifest.MeanImageFile is not { } file)
        {
            try { return MeanImages.Get(name); }
            catch (Exception ex) when (ex is HeadstartException or IOException)
            {
                throw new HeadstartException(
                    $"bundle '{dir}' (format {manifest.FormatVersion}) predates bundles that carry their mean image, and this installation " +
                    $"cannot supply '{name}' ({ex.Message}). Open it where Headstart's embedded weights are installed, or train it again " +
                    "with this version to get a bundle that loads anywhere.", ex);
            }
        }
        if (file.Contains('/') || file.Contains('\\') || file.Contains(".."))
            throw new HeadstartException($"bundle '{dir}': mean_image_file must be a plain file name inside the bundle");
        string path = Path.Combine(dir, file);
        if (!File.Exists(path)) throw new HeadstartException($"bundle '{dir}' is missing its mean image {file}; restore it or train again");
        if (manifest.MeanImageSha256 is { } want && FileHashes.Sha256(path) != want)
            throw new HeadstartException($"bundle '{dir}': {file} is not the mean image the model was trained with (its SHA-256 differs); restore it or train again");
        int s = p.InputSize;
        try
        {
            using var sd = Safetensors.Read(path);
            if (!sd.TryGetValue("mean_image", out var t) || !t.shape.SequenceEqual([3L, s, s]))
                throw new HeadstartException($"bundle '{dir}': {file} holds no (3, {s}, {s}) tensor 'mean_image'; restore it or train again");
            return t.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        }
        catch (WeightFileException ex)
        {
            throw new HeadstartException($"bundle '{dir}': mean image {file} is damaged ({ex.Message}); restore it or train again", ex);
        }
    }

    /// <summary>The backbone file of a frozen-backbone bundle, present and the very file it was trained with.</summary>
    private static string CheckBackbone(string dir, BundleManifest manifest)
    {
        string path = Path.Combine(dir, manifest.BackboneFile!);
        if (!File.Exists(path))
            throw new HeadstartException($"bundle '{dir}' is missing its backbone weights file {manifest.BackboneFile}; restore it or train again");
        if (manifest.BackboneSha256 is { } want && FileHashes.Sha256(path) != want)
            throw new HeadstartException($"bundle '{dir}': {manifest.BackboneFile} is not the file the model was trained with (its SHA-256 differs); restore it or train again");
        return path;
    }

    /// <summary>A frozen-backbone bundle: the frozen groups from the backbone file, then exactly the trained groups from
    /// <paramref name="trained"/>.</summary>
    private static void LoadSplit(string backbonePath, BundleManifest manifest, ModelSpec spec, ImageClassifier model, StateDict trained)
    {
        // A backbone only ONNX Runtime runs has no TorchSharp weights to load: the model runs the file itself.
        if (spec.BackboneTrainable)
            using (var backbone = WeightFile.Read(backbonePath))
                WeightLoader.Load(model, backbone, spec, new LoadOptions { Strict = true, SkipHead = true });
        var expected = Freezing.UnfrozenState(model, spec, manifest.FrozenGroups).ToDictionary();
        var missing = expected.Keys.Where(k => !trained.ContainsKey(k)).ToList();
        var unexpected = trained.Keys.Where(k => !expected.ContainsKey(k)).ToList();
        var mismatched = expected.Where(kv => trained.ContainsKey(kv.Key) && !trained[kv.Key].shape.SequenceEqual(kv.Value.shape)).Select(kv => kv.Key).ToList();
        if (missing.Count + unexpected.Count + mismatched.Count > 0)
            throw new HeadstartException($"{manifest.WeightsFile} does not hold exactly the trained layer groups" +
                (missing.Count > 0 ? $"; missing: {string.Join(", ", missing.Take(5))}" : "") +
                (unexpected.Count > 0 ? $"; unexpected: {string.Join(", ", unexpected.Take(5))}" : "") +
                (mismatched.Count > 0 ? $"; other shape: {string.Join(", ", mismatched.Take(5))}" : ""));
        using var _ = no_grad();
        foreach (var (key, t) in expected) t.copy_(trained[key]);
    }
}
