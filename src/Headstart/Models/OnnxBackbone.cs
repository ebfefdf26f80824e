using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using Headstart.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Headstart.Models;

/// <summary>
/// The sidecar of a brought ONNX backbone, <c>MODEL.onnx.json</c> next to it: which output carries the features and how
/// images are prepared. Both optional: the graph's only output, and torchvision's ImageNet preprocessing at the graph's
/// input size.
/// </summary>
public sealed record OnnxBackboneConfig
{
    public string? FeatureOutput { get; init; }
    public Preprocessing? Preprocessing { get; init; }

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };
}

/// <summary>
/// A backbone Headstart does not know, brought as an ONNX file: <c>--model onnx:PATH</c>. Its registry record is made
/// from the file (the feature width from the chosen output's shape) and its sidecar; its one weight source runs on ONNX
/// Runtime only, so the frozen fast path is its one plan, and only the new head ("fc": Linear(F, classes)) trains.
/// </summary>
public static class OnnxBackbone
{
    public const string Scheme = "onnx:";
    public const string SidecarSuffix = ".json";

    private static readonly ConcurrentDictionary<(string Path, DateTime Written, long Length, DateTime SidecarWritten), ModelSpec> specs = new();

    public static bool Names(string model) => model.StartsWith(Scheme, StringComparison.Ordinal);

    /// <summary>The sidecar path of a backbone file.</summary>
    public static string SidecarOf(string onnxPath) => onnxPath + SidecarSuffix;

    /// <summary>The record of <c>onnx:PATH</c> (PATH relative to the working directory), read from the file once per
    /// version of it.</summary>
    public static ModelSpec Spec(string model)
    {
        string given = Names(model) ? model[Scheme.Length..] : model;
        if (given.Length == 0) throw new HeadstartException("--model onnx:PATH needs the path of an .onnx file after 'onnx:'");
        string path = Path.GetFullPath(given);
        if (!File.Exists(path))
            throw new HeadstartException($"--model {model}: '{path}' does not exist" + (Directory.Exists(path) ? " as a file (it is a folder)" : ""));
        string sidecar = SidecarOf(path);
        var file = new FileInfo(path);
        var key = (path, file.LastWriteTimeUtc, file.Length, File.Exists(sidecar) ? File.GetLastWriteTimeUtc(sidecar) : default);
        return specs.GetOrAdd(key, _ => Build(path, sidecar));
    }

    private static ModelSpec Build(string path, string sidecar)
    {
        OnnxBackboneConfig config;
        try
        {
            config = File.Exists(sidecar)
                ? JsonSerializer.Deserialize<OnnxBackboneConfig>(File.ReadAllText(sidecar), OnnxBackboneConfig.Json) ?? new()
                : new();
        }
        catch (JsonException e)
        {
            throw new HeadstartException($"'{sidecar}' is not a valid backbone sidecar ({e.Message}); it holds {{\"feature_output\": NAME, \"preprocessing\": {{...}}}}", e);
        }
        // The graph's input (N, 3, H, W) and feature output (N, F[, 1, 1]), reading only the graph's descriptions.
        var edit = OnnxProtoExtensions.ReadMapped(path, bytes => OnnxBatchEdit.MakeBatchSymbolic(bytes, path, featureOutput: config.FeatureOutput));
        var input = edit.Input.Shape();
        var output = edit.Output.Shape();
        if (input.Length != 4 || input[1] != 3 || output.Length < 2 || output.Skip(1).Any(d => d is null))
            throw new HeadstartException($"'{path}' has input [{string.Join(", ", input)}] and output '{edit.Output.Name}' " +
                                         $"[{string.Join(", ", output)}]; a backbone takes (N, 3, H, W) images and gives (N, F) features");
        long features = output.Skip(1).Aggregate(1L, (a, d) => a * d!.Value);
        int size = (int)(input[2] ?? 224);
        var pre = config.Preprocessing ?? new Preprocessing { InputSize = size, ResizeSize = (int)Math.Round(size * 256 / 224.0) };
        if (input[2] is { } h && input[3] is { } w && (h != pre.InputSize || w != pre.InputSize))
            throw new HeadstartException($"'{path}' takes {h}x{w} images but its preprocessing crops {pre.InputSize}; fix input_size in '{sidecar}'");
        string name = Scheme + path, outputName = edit.Output.Name;
        return new ModelSpec
        {
            Name = name,
            Family = "onnx",
            Description = $"ONNX backbone {Path.GetFileName(path)}: {features}-d features from output '{outputName}'",
            Factory = n => new OnnxBackboneClassifier(path, outputName, features, n),
            ClassifierPrefix = "fc",
            HeadPrefix = "fc",
            LayerGroups = [new("backbone", ["backbone"]), new("head", ["fc"])],
            Preprocessing = pre,
            WeightSources =
            [
                new WeightSource("ONNX", WeightFormat.Onnx, Path.GetFileName(path))
                {
                    LocalFile = path, Preprocessing = pre, HeadClasses = null, FeatureOutput = outputName,
                    Engines = WeightEngines.OnnxRuntime, Origin = $"an ONNX file brought with --model {Scheme}",
                },
            ],
        };
    }
}

/// <summary>
/// A classifier over a backbone that ONNX Runtime runs from its file: (B, 3, H, W) → the file's (B, F) features → fc →
/// (B, classes). The backbone has no TorchSharp parameters, so it is frozen by construction; its session is opened on
/// the first forward through it (training on cached features never needs one).
/// </summary>
public sealed class OnnxBackboneClassifier : ImageClassifier
{
    private readonly Linear fc;
    private readonly string path;
    private readonly string featureOutput;
    private readonly Lock gate = new();
    private OrtFeatureExtractor? session;

    public OnnxBackboneClassifier(string path, string featureOutput, long features, int numClasses) : base("onnx_backbone")
    {
        this.path = path;
        this.featureOutput = featureOutput;
        NumClasses = numClasses;
        fc = nn.Linear(features, numClasses);
        RegisterComponents();
    }

    public override int NumClasses { get; }

    public override Tensor ForwardFeatures(Tensor input)
    {
        lock (gate) session ??= new OrtFeatureExtractor(path, featureOutput: featureOutput);
        return session.Extract(input);
    }

    public override Tensor ForwardClassifier(Tensor features) => fc.forward(features);

    protected override void Dispose(bool disposing)
    {
        if (disposing) session?.Dispose();
        base.Dispose(disposing);
    }
}
