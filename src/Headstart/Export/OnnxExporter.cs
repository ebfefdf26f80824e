using System.Text.Json;
using System.Text.Json.Serialization;
using Google.Protobuf;
using Headstart.Export.Onnx;
using Headstart.Onnx;
using Headstart.Models;
using Headstart.Weights;
using static Headstart.Onnx.TensorProto.Types;
using static TorchSharp.torch;

namespace Headstart.Export;

/// <summary>The tensor an exported model takes.</summary>
public enum OnnxInputFormat
{
    /// <summary>float32 (N, 3, S, S), RGB, values 0-1 (PyTorch / ML.NET style).</summary>
    FloatNchw,
    /// <summary>uint8 (N, S, S, 3), RGB, values 0-255: decoded pixels as they come (Cast + Transpose in the graph).</summary>
    Uint8Hwc,
}

/// <summary>Options of <see cref="OnnxExporter"/>.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>Default-domain opset of the written model (13 to 21; HardSwish needs 14).</summary>
    public long Opset { get; init; } = 17;

    /// <summary>The input tensor's layout and type.</summary>
    public OnnxInputFormat Input { get; init; } = OnnxInputFormat.FloatNchw;

    /// <summary>The preprocessing the graph builds in: the bundle's (its weights'), null = the architecture's own.</summary>
    public Preprocessing? Preprocessing { get; init; }

    /// <summary>The values of the mean image <see cref="Preprocessing"/> names ((3·S·S), channel-major), e.g. a
    /// bundle's own (<c>ModelBundle.ReadMeanImage</c>); null = the installation's.</summary>
    public float[]? MeanImage { get; init; }

    /// <summary>Average each image's probabilities with its mirror image's (a bundle's <c>TestTimeFlip</c>): the
    /// graph runs both views; <c>probabilities</c> is their mean and <c>logits</c> its log.</summary>
    public bool TestTimeFlip { get; init; }

    /// <summary>Spatial input size; null = the model's own (Preprocessing.InputSize). Tests export small.</summary>
    internal int? InputSize { get; init; }
}

/// <summary>
/// Exports a Headstart classifier to a self-contained ONNX model:
/// <list type="bullet">
/// <item>input <c>image</c>: float32 (N, 3, S, S), RGB, values 0-1 (<see cref="OnnxInputFormat.FloatNchw"/>), or uint8
/// (N, S, S, 3) RGB 0-255 (<see cref="OnnxInputFormat.Uint8Hwc"/>); S = the model's input size: resize + centre crop
/// happen outside the graph, as for training; N is dynamic;</item>
/// <item>the model's preprocessing runs inside the graph: scale to 0-255 where needed, RGB → BGR where needed, minus
/// the mean image and per-channel mean, divided by std;</item>
/// <item>outputs <c>probabilities</c> (N, K) (softmax) and <c>logits</c> (N, K); with flip test-time augmentation the
/// graph also runs each image's mirror image, <c>probabilities</c> is the mean of the two softmaxes and <c>logits</c>
/// its log;</item>
/// <item>BatchNorm is folded into the preceding Conv (eval-mode semantics);</item>
/// <item><c>metadata_props</c>: <c>headstart.model</c>, <c>headstart.classes</c> (JSON array, index = class id),
/// <c>headstart.preprocessing</c> (JSON), <c>headstart.input</c> (the input contract in words).</item>
/// </list>
/// The graph follows the record's <see cref="ModelSpec.Layout"/>; no family is known here by name.
/// </summary>
public static class OnnxExporter
{
    /// <summary>(N, 3, S, S) normalised input → (N, K) logits, re-traced from the record's
    /// <see cref="ForwardLayout"/>: ResNets from their state_dict, the others by walking their module tree
    /// (<see cref="ModuleOnnxWriter"/>).</summary>
    private static string WriteForward(OnnxGraphBuilder b, ImageClassifier model, ForwardLayout layout, string x, long size)
    {
        if (layout is ForwardLayout.ResNetBlocks) return ResNetOnnxWriter.Write(b, model.state_dict(), x);
        var w = new ModuleOnnxWriter(b);
        var v = new OnnxValue(x, 3, size, size);
        switch (layout)
        {
            case ForwardLayout.FeaturesThenClassifier f:
                v = w.Write(Child(model, f.Features), v, f.Features);
                if (f.ReluAfterFeatures) v = w.Relu(v);
                var pool = model.named_children().FirstOrDefault(c => c.name == "avgpool").module;
                v = pool is not null ? w.Write(pool, v, "avgpool") : f.GlobalPool ? w.GlobalAveragePool(v) : v;
                if (f.Flatten == FlattenAt.BeforeClassifier) v = w.Flatten(v);
                v = w.Write(Child(model, "classifier"), v, "classifier");
                return (f.Flatten == FlattenAt.AfterClassifier ? w.Flatten(v) : v).Name;
            case ForwardLayout.ChildrenInOrder c:
                if (model is ITransformsInput { TransformsInput: true })
                    v = v with { Name = TransformInput(b, x) };
                foreach (var (name, child) in model.named_children())
                {
                    if (name == c.Head) v = w.Flatten(c.GlobalPoolBeforeHead ? w.GlobalAveragePool(v) : v);
                    v = w.Write(child, v, name);
                }
                return v.Name;
            default:
                throw new InvalidOperationException($"No ONNX writer for the layout {layout.GetType().Name}.");
        }
    }

    /// <summary>torchvision's transform_input (GoogLeNet, Inception v3 with ImageNet weights): ImageNet-normalised →
    /// (x − 0.5) / 0.5, per channel x·(std/0.5) + (mean − 0.5)/0.5.</summary>
    private static string TransformInput(OnnxGraphBuilder b, string x)
    {
        x = b.Mul(x, b.Initializer("transform_scale", [(float)(0.229 / 0.5), (float)(0.224 / 0.5), (float)(0.225 / 0.5)], 1, 3, 1, 1));
        return b.Add(x, b.Initializer("transform_shift", [(float)((0.485 - 0.5) / 0.5), (float)((0.456 - 0.5) / 0.5), (float)((0.406 - 0.5) / 0.5)], 1, 3, 1, 1));
    }

    private static nn.Module Child(ImageClassifier model, string name) =>
        model.named_children().FirstOrDefault(c => c.name == name).module
        ?? throw new HeadstartException($"ONNX export: {model.GetType().Name} has no '{name}' module.");

    internal static readonly JsonSerializerOptions MetadataJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public const string InputName = "image";
    public const string ProbabilitiesName = "probabilities";
    public const string LogitsName = "logits";
    /// <summary>metadata_props key: "true" when the graph averages each image with its mirror image.</summary>
    public const string TestTimeFlipKey = "headstart.test_time_flip";

    /// <summary>True when the record describes its forward pass (<see cref="ModelSpec.Layout"/>).</summary>
    public static bool CanExport(ModelSpec spec) => spec.Layout is not null;

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
        var layout = spec.Layout ?? throw new HeadstartException(
            $"ONNX export does not support '{spec.Name}': its model record describes no forward layout to write (a backbone brought as ONNX has none).");
        if (classNames.Count != model.NumClasses)
            throw new HeadstartException($"{classNames.Count} class names given for a model with {model.NumClasses} outputs.");

        if (options.Opset is < 14 or > 21)
            throw new HeadstartException($"ONNX opset {options.Opset} is not supported; use 14 to 21 (17 is the default).");
        if (options.Opset < spec.MinOnnxOpset)
            throw new HeadstartException($"'{spec.Name}' needs ONNX opset {spec.MinOnnxOpset} or later; got {options.Opset}.");
        var pre = options.Preprocessing ?? spec.Preprocessing;
        long size = options.InputSize ?? pre.InputSize;
        var b = new OnnxGraphBuilder(spec.Name);
        string x;
        if (options.Input == OnnxInputFormat.Uint8Hwc)
        {
            x = b.Input(InputName, DataType.Uint8, "N", size, size, 3L);             // (N, S, S, 3) uint8
            x = b.Transpose(b.Cast(x, DataType.Float), 0, 3, 1, 2);                  // (N, 3, S, S) 0-255
            x = b.Div(x, b.Initializer("pixel_scale", [255f]));                      // 0-1
        }
        else x = b.Input(InputName, DataType.Float, "N", 3L, size, size);             // (N, 3, S, S) 0-1
        long k = classNames.Count;
        if (options.TestTimeFlip)
        {
            // The images, then their mirror images, as one batch: mirrored before normalisation, as training's view is.
            var reversed = b.Int64Initializer("width_reversed", Enumerable.Range(0, (int)size).Select(i => size - 1 - i).ToArray());
            x = b.Concat([x, b.Gather(x, reversed, axis: 3)], axis: 0);              // (2N, 3, S, S)
        }
        x = Preprocess(b, x, pre, size, options.MeanImage);                          // (V·N, 3, S, S) as the network reads it
        string logits;
        using (no_grad()) logits = WriteForward(b, model, layout, x, size);          // (V·N, K)
        if (options.TestTimeFlip)
        {
            var views = b.Reshape(b.Softmax(logits, axis: 1), b.Int64Initializer("views_n_k", 2, -1, k));   // (2, N, K)
            var sum = b.Add(b.Gather(views, b.Int64Initializer("plain_view", 0), axis: 0),
                            b.Gather(views, b.Int64Initializer("mirrored_view", 1), axis: 0));                 // (1, N, K)
            var mean = b.Reshape(b.Mul(sum, b.Initializer("half", [0.5f])), b.Int64Initializer("n_k", -1, k));  // (N, K)
            b.Output(b.Identity(mean, ProbabilitiesName), DataType.Float, "N", k);
            b.Output(b.Identity(b.Log(mean), LogitsName), DataType.Float, "N", k);
        }
        else
        {
            b.Output(b.Softmax(logits, axis: 1, stem: ProbabilitiesName), DataType.Float, "N", k);
            b.Output(b.Identity(logits, LogitsName), DataType.Float, "N", k);
        }

        var metadata = new Dictionary<string, string>
        {
            ["headstart.model"] = spec.Name,
            ["headstart.classes"] = JsonSerializer.Serialize(classNames),
            ["headstart.preprocessing"] = JsonSerializer.Serialize(pre, MetadataJson),
            ["headstart.input_format"] = options.Input == OnnxInputFormat.Uint8Hwc ? "uint8-hwc" : "float-nchw",
            [TestTimeFlipKey] = options.TestTimeFlip ? "true" : "false",
            ["headstart.input"] = (options.Input == OnnxInputFormat.Uint8Hwc
                                      ? $"uint8 (N, {size}, {size}, 3) RGB in [0, 255]"
                                      : $"float32 (N, 3, {size}, {size}) RGB in [0, 1]") +
                                  $", resized to {pre.ResizeSize} on the shorter side and centre-cropped to {size}; " +
                                  "the graph applies the model's own normalisation" +
                                  (options.TestTimeFlip ? " and averages each image with its mirror image" : ""),
        };
        return b.Build(options.Opset, metadata, HeadstartInfo.Version);
    }

    /// <summary>RGB 0-1 → the network's input: ×ValueScale, channel order, − (mean image + Mean), ÷ Std.</summary>
    private static string Preprocess(OnnxGraphBuilder b, string x, Preprocessing pre, long s, float[]? meanImage)
    {
        if (pre.ValueScale != 1f) x = b.Mul(x, b.Initializer("value_scale", [pre.ValueScale], 1));
        if (pre.ChannelOrder == ChannelOrder.Bgr) x = b.Gather(x, b.Int64Initializer("bgr_order", 2, 1, 0), axis: 1);
        if (pre.MeanImage is { } name)
        {
            var mean = (float[]?)meanImage?.Clone() ?? MeanImages.Get(name);         // (3·S·S), model order and scale
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
