using System.Text.Json;
using System.Text.Json.Serialization;
using Headstart.Data;
using Headstart.Evaluation;
using Headstart.Models;

namespace Headstart.Training;

/// <summary>Dataset summary stored in a bundle.</summary>
public sealed record DatasetSummary(
    string Root,
    string SplitKind,
    int TrainCount,
    int ValCount,
    IReadOnlyDictionary<string, int> TrainPerClass,
    IReadOnlyDictionary<string, int> ValPerClass,
    int SkippedCount,
    IReadOnlyList<SkippedEntry> Skipped);

/// <summary>A file that was skipped, with the reason.</summary>
public sealed record SkippedEntry(string Path, string Reason);

/// <summary>Library and runtime versions that produced a bundle.</summary>
public sealed record VersionInfo(string Headstart, string TorchSharp, string Dotnet)
{
    public static VersionInfo Current => new(
        HeadstartInfo.Version,
        typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "unknown",
        Environment.Version.ToString());
}

/// <summary>model.json: everything needed to rebuild, run and explain a trained model.</summary>
public sealed record BundleManifest
{
    /// <summary>2 added <see cref="BackboneFile"/> (frozen-backbone bundles); 3 added <see cref="MeanImageFile"/> (the
    /// bundle carries the mean image its preprocessing subtracts); 4 added <see cref="TestTimeFlip"/> (an older reader
    /// would ignore it and predict differently, so it refuses the bundle). Versions 1 and 2 still load, their mean image
    /// from the installation.</summary>
    public const int CurrentFormatVersion = 4;
    public string Format { get; init; } = "headstart-bundle";
    public int FormatVersion { get; init; } = CurrentFormatVersion;
    public required string Arch { get; init; }
    public required IReadOnlyList<string> Classes { get; init; }
    public required Preprocessing Preprocessing { get; init; }
    public string WeightsFile { get; init; } = "model.safetensors";
    /// <summary>
    /// A frozen-backbone bundle keeps a copy of the pretrained weights file it was trained from, unchanged and in its own
    /// format, for its first <see cref="FrozenGroups"/> layer groups; then
    /// <see cref="WeightsFile"/> holds only the groups that trained (the head: kilobytes, not the whole network).
    /// Null: <see cref="WeightsFile"/> holds everything.
    /// </summary>
    public string? BackboneFile { get; init; }
    /// <summary>SHA-256 of <see cref="BackboneFile"/>, checked on load.</summary>
    public string? BackboneSha256 { get; init; }
    public int FrozenGroups { get; init; }
    /// <summary>The mean image that <see cref="Models.Preprocessing.MeanImage"/> names, as the bundle's own file
    /// (tensor "mean_image", (3, S, S) float32), so that inference needs nothing from the installation; null when the
    /// preprocessing has none (or the bundle predates format 3).</summary>
    public string? MeanImageFile { get; init; }
    /// <summary>SHA-256 of <see cref="MeanImageFile"/>, checked on load.</summary>
    public string? MeanImageSha256 { get; init; }
    /// <summary>Every prediction averages the probabilities of the image and of its mirror image (flip test-time
    /// augmentation), as training's validation did: Classifier, evaluate, predict, report and the ONNX export all apply
    /// it, so the accuracy training reports is what the bundle delivers. Costs a second forward pass per image.</summary>
    public bool TestTimeFlip { get; init; }
    /// <summary>Where the pretrained backbone weights came from (file or embedded source id), or null (scratch).</summary>
    public string? PretrainedFrom { get; init; }
    public IReadOnlyDictionary<string, JsonElement>? Training { get; init; }
    /// <summary>What ran: the phases the options were planned into (null in bundles from before plans).</summary>
    public TrainingPlan? Plan { get; init; }
    public IReadOnlyList<EpochRecord>? History { get; init; }
    /// <summary>The L-BFGS head's fit (<see cref="HeadFit.Lbfgs"/>): the L2 strength cross-validation chose and the
    /// held-out loss of each strength it tried; null when the head trained by epochs (<see cref="History"/>).</summary>
    public HeadFitRecord? HeadFit { get; init; }
    public ClassificationMetrics? Metrics { get; init; }
    public DatasetSummary? Dataset { get; init; }
    public double TrainSeconds { get; init; }
    public VersionInfo Versions { get; init; } = VersionInfo.Current;
    public DateTime CreatedUtc { get; init; } = DateTime.UtcNow;

    /// <summary>The training options as recorded, typed: an option an older bundle lacks takes TrainOptions' own
    /// default. Null when the bundle records none.</summary>
    public TrainOptions? TrainingOptions() => Training is null
        ? null
        : JsonSerializer.Deserialize<TrainOptions>(JsonSerializer.SerializeToElement(Training, JsonOptions), JsonOptions);

    /// <summary>The train/val split the bundle was trained on (seed and fraction; the defaults when unrecorded), so
    /// that evaluate and report see the same validation images as training did.</summary>
    public ImageFolderOptions TrainingSplit()
    {
        var o = TrainingOptions() ?? new TrainOptions();
        return new ImageFolderOptions { Seed = o.Seed, ValSplit = o.ValSplit };
    }

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };
}

/// <summary>The pretrained weights file that a model's first <paramref name="FrozenGroups"/> layer groups still equal
/// (they were frozen, BatchNorm included), and its SHA-256 when already known.</summary>
public sealed record FrozenBackbone(string SourcePath, int FrozenGroups, string? Sha256 = null);
