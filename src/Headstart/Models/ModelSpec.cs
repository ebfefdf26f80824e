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

/// <summary>A known source of pretrained weights for a model.</summary>
/// <param name="Id">Short id, e.g. "IMAGENET1K_V1".</param>
/// <param name="Format">Container format.</param>
/// <param name="FileName">File name in the weight store (or embedded folder).</param>
/// <param name="Url">Download URL, null for embedded weights.</param>
/// <param name="Sha256Prefix">Leading hex digits of the file's SHA-256 (torchvision file names end in 8 of them).</param>
/// <param name="Embedded">True when the file ships with Headstart (no download ever).</param>
public sealed record WeightSource(string Id, WeightFormat Format, string FileName, string? Url = null,
    string? Sha256Prefix = null, bool Embedded = false);

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
    public Preprocessing Preprocessing { get; init; } = Preprocessing.ImageNet;
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
    /// <summary>False when pretrained weights never include the head (e.g. resnet18-cntk ships pool5 features only).</summary>
    public bool PretrainedHasHead { get; init; } = true;

    /// <summary>Builds the model. The first model of a process runs the engine guard first (<see cref="EngineGuard"/>),
    /// so that no convolution runs on a defective engine.</summary>
    public ImageClassifier Create(int numClasses = 1000)
    {
        EngineGuard.Ensure();
        return Factory(numClasses);
    }
}
