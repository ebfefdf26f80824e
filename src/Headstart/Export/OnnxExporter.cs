using System.Text.Json;
using System.Text.Json.Serialization;
using Google.Protobuf;
using Headstart.Export.Onnx;
using Headstart.Models;
using Headstart.Weights;
using static Headstart.Export.Onnx.TensorProto.Types;
using static TorchSharp.torch;

namespace Headstart.Export;

/// <summary>Options of <see cref="OnnxExporter"/>.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>Default-domain opset of the written model.</summary>
    public long Opset { get; init; } = 17;
}

/// <summary>
/// Exports a Headstart classifier to a self-contained ONNX model:
/// <list type="bullet">
/// <item>input <c>image</c>: float32 (N, 3, S, S), RGB, values 0-1, S = the model's input size (resize + centre crop
/// happen outside, as for training); N is dynamic;</item>
/// <item>the model's preprocessing runs inside the graph: scale to 0-255 where needed, RGB → BGR where needed, minus
/// the mean image and per-channel mean, divided by std;</item>
/// <item>outputs <c>probabilities</c> (N, K) (softmax) and <c>logits</c> (N, K);</item>
/// <item>BatchNorm is folded into the preceding Conv (eval-mode semantics);</item>
/// <item><c>metadata_props</c>: <c>headstart.model</c>, <c>headstart.classes</c> (JSON array, index = class id),
/// <c>headstart.preprocessing</c> (JSON), <c>headstart.input</c> (the input contract in words).</item>
/// </list>
/// Families register a writer (state_dict → graph) in <see cref="writers"/>; today: the ResNet family.
/// </summary>
public static class OnnxExporter
{
    private delegate string FamilyWriter(OnnxGraphBuilder builder, IReadOnlyDictionary<string, Tensor> state, string input);

    private static readonly Dictionary<string, FamilyWriter> writers = new(StringComparer.Ordinal)
    {
        ["resnet"] = ResNetOnnxWriter.Write,
    };

    private static readonly JsonSerializerOptions json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public const string InputName = "image";
    public const string ProbabilitiesName = "probabilities";
    public const string LogitsName = "logits";

    /// <summary>True when the model's family has an ONNX writer.</summary>
    public static bool CanExport(ModelSpec spec) => writers.ContainsKey(spec.Family);

    /// <summary>Writes <paramref name="model"/> (built from <paramref name="spec"/>) to <paramref name="path"/>.</summary>
    public static void Export(ImageClassifier model, ModelSpec spec, IReadOnlyList<string> classNames, string path, OnnxExportOptions? options = null)
    {
        var proto = Build(model, spec, classNames, options ?? new OnnxExportOptions());
        var temp = path + ".tmp";
        using (var stream = File.Create(temp)) proto.WriteTo(stream);
        File.Move(temp, path, overwrite: true);
    }

    internal static ModelProto Build(ImageClassifier model, ModelSpec spec, IReadOnlyList<string> classNames, OnnxExportOptions options)
    {
        if (!writers.TryGetValue(spec.Family, out var writer))
            throw new HeadstartException(
                $"ONNX export does not support the '{spec.Family}' family of '{spec.Name}' yet; exportable families: {string.Join(", ", writers.Keys)}.");
        if (classNames.Count != model.NumClasses)
            throw new HeadstartException($"{classNames.Count} class names given for a model with {model.NumClasses} outputs.");

        var pre = spec.Preprocessing;
        long size = pre.InputSize;
        var b = new OnnxGraphBuilder(spec.Name);
        var x = b.Input(InputName, DataType.Float, "N", 3L, size, size);
        x = Preprocess(b, x, pre);                                                   // (N, 3, S, S) as the network reads it
        var state = model.state_dict();
        var logits = writer(b, state, x);                                            // (N, K)
        b.Output(b.Softmax(logits, axis: 1, stem: ProbabilitiesName), DataType.Float, "N", (long)classNames.Count);
        b.Output(b.Identity(logits, LogitsName), DataType.Float, "N", (long)classNames.Count);

        var metadata = new Dictionary<string, string>
        {
            ["headstart.model"] = spec.Name,
            ["headstart.classes"] = JsonSerializer.Serialize(classNames),
            ["headstart.preprocessing"] = JsonSerializer.Serialize(pre, json),
            ["headstart.input"] = $"float32 (N, 3, {size}, {size}) RGB in [0, 1], resized to {pre.ResizeSize} on the shorter side and centre-cropped to {size}; " +
                                  "the graph applies the model's own normalisation",
        };
        return b.Build(options.Opset, metadata, HeadstartInfo.Version);
    }

    /// <summary>RGB 0-1 → the network's input: ×ValueScale, channel order, − (mean image + Mean), ÷ Std.</summary>
    private static string Preprocess(OnnxGraphBuilder b, string x, Preprocessing pre)
    {
        long s = pre.InputSize;
        if (pre.ValueScale != 1f) x = b.Mul(x, b.Initializer("value_scale", [pre.ValueScale], 1));
        if (pre.ChannelOrder == ChannelOrder.Bgr) x = b.Gather(x, b.Int64Initializer("bgr_order", 2, 1, 0), axis: 1);
        if (pre.MeanImage is { } name)
        {
            var mean = MeanImages.Get(name);                                         // (3·S·S), model order and scale
            if (mean.Length != 3 * s * s) throw new HeadstartException($"mean image '{name}' is not 3x{s}x{s}.");
            for (int c = 0; c < 3; c++)
                for (long i = 0; i < s * s; i++) mean[c * s * s + i] += pre.Mean[c];
            x = b.Sub(x, b.Initializer("mean_image", mean, 1, 3, s, s));
        }
        else if (pre.Mean.Any(m => m != 0f))
        {
            x = b.Sub(x, b.Initializer("mean", pre.Mean, 1, 3, 1, 1));
        }
        if (pre.Std.Any(v => v != 1f)) x = b.Div(x, b.Initializer("std", pre.Std, 1, 3, 1, 1));
        return x;
    }
}
