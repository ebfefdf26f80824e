using Headstart.Runtime;

namespace Headstart.Models;

/// <summary>Order of the colour channels a model expects.</summary>
public enum ChannelOrder { Rgb, Bgr }

/// <summary>
/// How an image becomes a model input: resize the shorter side to <see cref="ResizeSize"/>, centre-crop
/// <see cref="InputSize"/>, scale pixels to [0, <see cref="ValueScale"/>], reorder channels, subtract the optional mean
/// image, then normalise per channel with <see cref="Mean"/> and <see cref="Std"/> (given in the model's channel order
/// and value scale).
/// </summary>
public sealed record Preprocessing
{
    public int InputSize { get; init; } = 224;
    public int ResizeSize { get; init; } = 256;
    public float[] Mean { get; init; } = [0.485f, 0.456f, 0.406f];
    public float[] Std { get; init; } = [0.229f, 0.224f, 0.225f];
    public ChannelOrder ChannelOrder { get; init; } = ChannelOrder.Rgb;
    /// <summary>1 for pixels in [0, 1] (torchvision), 255 for [0, 255] (CNTK, Caffe).</summary>
    public float ValueScale { get; init; } = 1f;
    /// <summary>Name of a mean image (3, InputSize, InputSize), in the model's channel order and value scale,
    /// subtracted before Mean/Std; null when the model uses per-channel means only.</summary>
    public string? MeanImage { get; init; }

    /// <summary>torchvision's ImageNet default: 256 → 224, RGB, 0-1, ImageNet mean/std.</summary>
    public static Preprocessing ImageNet { get; } = new();
}

/// <summary>Container format of a weight file.</summary>
public enum WeightFormat { PthZip, PthLegacy, Safetensors, Onnx }

/// <summary>The engines that can run a weight file as it is.</summary>
[Flags]
public enum WeightEngines
{
    /// <summary>Loaded into Headstart's TorchSharp modules (any format Headstart reads).</summary>
    TorchSharp = 1,
    /// <summary>Run by ONNX Runtime straight from the .onnx file: the frozen fast path's backbone pass.</summary>
    OnnxRuntime = 2,
}

/// <summary>
/// One source of pretrained weights, and everything that comes with the file rather than with the architecture
/// (timm's pretrained_cfg): how images must be prepared, whether it has a head, where its features end, which engines
/// run it, its checksum and where it comes from. Adding a weight file is one record.
/// </summary>
/// <param name="Id">Short id, e.g. "IMAGENET1K_V1".</param>
/// <param name="Format">Container format.</param>
/// <param name="FileName">File name in the weight store (or embedded folder).</param>
/// <param name="Url">Download URL, null for embedded weights.</param>
/// <param name="Sha256Prefix">Leading hex digits of the file's SHA-256 (torchvision file names end in 8 of them).</param>
/// <param name="Embedded">True when the file ships with Headstart (no download ever).</param>
public sealed record WeightSource(string Id, WeightFormat Format, string FileName, string? Url = null,
    string? Sha256Prefix = null, bool Embedded = false)
{
    /// <summary>How images are prepared for these weights; null = the model's own (<see cref="ModelSpec.Preprocessing"/>).</summary>
    public Preprocessing? Preprocessing { get; init; }
    /// <summary>Classes of the file's own classifier head (1000 for ImageNet); null when it ships features only (then
    /// the head is never loaded from it).</summary>
    public int? HeadClasses { get; init; } = 1000;
    /// <summary>Where the features end in the file: the ONNX output that ONNX Runtime reads as the backbone's (N, F)
    /// features; null = the graph's only output.</summary>
    public string? FeatureOutput { get; init; }
    public WeightEngines Engines { get; init; } = WeightEngines.TorchSharp;
    /// <summary>Where the file comes from, in words.</summary>
    public string Origin { get; init; } = "torchvision";
    /// <summary>A file used where it lies, outside the weight store (a backbone brought with --model onnx:PATH).</summary>
    public string? LocalFile { get; init; }

    /// <summary>True when ONNX Runtime can run this very file as the frozen backbone.</summary>
    public bool RunsOnOnnxRuntime => Format == WeightFormat.Onnx && Engines.HasFlag(WeightEngines.OnnxRuntime);

    /// <summary>The format a file name says: .onnx, .safetensors, else a .pth (zip or legacy: the reader tells).</summary>
    public static WeightFormat FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".onnx" => WeightFormat.Onnx,
        ".safetensors" => WeightFormat.Safetensors,
        _ => WeightFormat.PthZip,
    };
}

/// <summary>A named group of parameters (state-dict key prefixes), used to freeze and to set learning rates.</summary>
public sealed record LayerGroup(string Name, IReadOnlyList<string> Prefixes);

/// <summary>
/// One registry record, in the spirit of timm's: everything Headstart needs to build, split, re-head, preprocess and
/// load a model.
/// </summary>
public sealed record ModelSpec
{
    public required string Name { get; init; }
    public required string Family { get; init; }
    public required string Description { get; init; }
    /// <summary>Builds the model with the given number of classes (1000 for ImageNet), weights random.</summary>
    public required Func<int, ImageClassifier> Factory { get; init; }
    /// <summary>State-dict prefix of the classifier section (trained when the features are frozen): "fc", "classifier".</summary>
    public required string ClassifierPrefix { get; init; }
    /// <summary>State-dict prefix of the last layer, replaced when the class count differs: "fc", "classifier.6".</summary>
    public required string HeadPrefix { get; init; }
    /// <summary>Stem → stages → head; the last group is the classifier section.</summary>
    public required IReadOnlyList<LayerGroup> LayerGroups { get; init; }
    /// <summary>The architecture's own preprocessing: for random initialisation, and for weight sources that name
    /// none (<see cref="PreprocessingFor"/>).</summary>
    public Preprocessing Preprocessing { get; init; } = Preprocessing.ImageNet;
    /// <summary>Known weight files, the default first.</summary>
    public IReadOnlyList<WeightSource> WeightSources { get; init; } = [];
    /// <summary>
    /// State-dict prefixes that published weight files hold but the model deliberately lacks, skipped when loading:
    /// the training-only auxiliary classifiers of googlenet ("aux1", "aux2") and inception_v3 ("AuxLogits").
    /// </summary>
    public IReadOnlyList<string> IgnoredWeightPrefixes { get; init; } = [];
    /// <summary>
    /// Maps a published file's old key name to today's, as torchvision's own loader does (DenseNet's pre-0.3
    /// "denselayer1.norm.1.weight" → "denselayer1.norm1.weight"); applied only to keys the model lacks. Null: none.
    /// </summary>
    public Func<string, string>? LegacyKeyUpgrade { get; init; }
    /// <summary>How the forward pass runs over the named children, for the ONNX exporter; null: not exportable.</summary>
    public ForwardLayout? Layout { get; init; }
    /// <summary>The lowest ONNX opset whose operators the model needs (ConvNeXt's LayerNormalization: 17).</summary>
    public int MinOnnxOpset { get; init; } = 14;
    /// <summary>How images are prepared for <paramref name="source"/>'s weights (null: random initialisation).</summary>
    public Preprocessing PreprocessingFor(WeightSource? source) => source?.Preprocessing ?? Preprocessing;

    /// <summary>The record of a weight file: the registry's, matched by file name, or for a file it doesn't know, the
    /// default source's preprocessing and head (a fine-tuned copy of the published weights is the common case), run
    /// by TorchSharp.</summary>
    public WeightSource SourceOf(string path)
    {
        string name = Path.GetFileName(path);
        var known = WeightSources.FirstOrDefault(s => string.Equals(Path.GetFileName(s.FileName), name, StringComparison.OrdinalIgnoreCase));
        if (known is not null) return known;
        var fallback = WeightSources.FirstOrDefault();
        return new WeightSource("file", WeightSource.FormatOf(path), name)
        {
            Preprocessing = fallback?.Preprocessing, HeadClasses = fallback is null ? 1000 : fallback.HeadClasses,
            Engines = fallback?.Engines ?? WeightEngines.TorchSharp, FeatureOutput = fallback?.FeatureOutput,
            Origin = "a weights file given by the user",
        };
    }

    /// <summary>False when no weight source runs on TorchSharp (a backbone brought as ONNX): the backbone can't train,
    /// and only the frozen fast path has a plan.</summary>
    public bool BackboneTrainable => WeightSources.Count == 0 || WeightSources.Any(s => s.Engines.HasFlag(WeightEngines.TorchSharp));

    /// <summary>Builds the model. The first model of a process runs the engine guard first (<see cref="EngineGuard"/>),
    /// so that no convolution runs on a defective engine.</summary>
    public ImageClassifier Create(int numClasses = 1000)
    {
        EngineGuard.Ensure();
        return Factory(numClasses);
    }
}
