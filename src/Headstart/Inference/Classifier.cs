using Google.Protobuf;
using Headstart.Bundles;
using Headstart.Data;
using Headstart.Export;
using Headstart.Models;
using Headstart.Weights;
using Headstart.Training;
using static TorchSharp.torch;

namespace Headstart.Inference;

/// <summary>A class label with its probability.</summary>
public sealed record LabelProbability(string Label, float Probability);

/// <summary>The prediction for one image: the best label, its probability, and the top-K list.</summary>
public sealed record Prediction(string Label, float Probability, IReadOnlyList<LabelProbability> Top);

/// <summary>
/// Runs a trained model on images, for apps and the CLI: <c>using var clf = Classifier.Load("bundle-or-model.onnx");
/// var p = clf.Predict(File.ReadAllBytes("x.jpg"));</c>. A bundle runs in TorchSharp (or ONNX Runtime with
/// <see cref="InferenceEngine.Onnx"/>, exported in memory); an .onnx written by <see cref="OnnxExporter"/> runs in ONNX
/// Runtime, with its classes and preprocessing read from the model's metadata. Thread-safe (TorchSharp forward passes
/// are serialised on one model, ORT sessions run concurrently; decoding and resizing run in parallel), disposable, no
/// global state.
/// </summary>
public sealed class Classifier : IDisposable
{
    private readonly ImageClassifier? model;   // Torch engine
    private readonly OnnxEngine? onnx;         // Onnx engine
    private readonly ImageTransform transform;
    private readonly ImageTransform? mirrored; // Torch engine, bundle with flip TTA: the mirrored view
    private readonly DecodeOptions decode;
    private readonly object gate = new();
    private bool disposed;

    private Classifier(ImageClassifier? model, OnnxEngine? onnx, BundleManifest manifest, DecodeOptions? decode, float[]? meanImage = null)
    {
        this.model = model;
        this.onnx = onnx;
        Manifest = manifest;
        var p = manifest.Preprocessing;
        // ORT models normalise inside the graph, so they take the plain RGB 0-1 crop.
        transform = onnx is null
            ? ImageTransform.Eval(p, meanImage)
            : ImageTransform.Eval(RawRgb(p));
        // An ORT model averages the mirrored view inside its graph (exported with the bundle's TestTimeFlip).
        mirrored = onnx is null && manifest.TestTimeFlip ? ImageTransform.EvalMirrored(p, meanImage) : null;
        this.decode = decode ?? DecodeOptions.Default;
    }

    /// <summary>The resize + centre crop of <paramref name="p"/> with no normalisation: planar RGB in [0, 1].</summary>
    internal static Preprocessing RawRgb(Preprocessing p) =>
        p with { Mean = [0f, 0f, 0f], Std = [1f, 1f, 1f], ChannelOrder = ChannelOrder.Rgb, ValueScale = 1f, MeanImage = null };

    /// <summary>
    /// Opens a bundle directory written by 'headstart train', or an .onnx file written by 'headstart export'.
    /// </summary>
    /// <param name="weightsOverride">Weights to use instead of the bundle's own (same arch and class count).</param>
    /// <param name="engine">For a bundle: TorchSharp (default) or ONNX Runtime. An .onnx file always runs in ORT.</param>
    public static Classifier Load(string path, DecodeOptions? decode = null, string? weightsOverride = null,
        InferenceEngine engine = InferenceEngine.Torch)
    {
        if (File.Exists(path) && path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            if (weightsOverride is not null) throw new HeadstartException("--weights applies to bundles, not to .onnx models.");
            var session = new OnnxEngine(path);
            var manifest = new BundleManifest
            {
                Arch = session.Arch, Classes = session.Classes, Preprocessing = session.Preprocessing, TestTimeFlip = session.TestTimeFlip,
            };
            return new Classifier(null, session, manifest, decode);
        }
        var (bundle, spec, model) = ModelBundle.Load(path, weightsOverride);
        float[]? mean;
        try { mean = ModelBundle.ReadMeanImage(path, bundle); }
        catch
        {
            model.Dispose();
            throw;
        }
        if (engine == InferenceEngine.Torch) return new Classifier(model, null, bundle, decode, mean);
        using (model)
        {
            model.eval();
            var bytes = OnnxExporter.Build(model, spec, bundle.Classes,
                new OnnxExportOptions { Preprocessing = bundle.Preprocessing, MeanImage = mean, TestTimeFlip = bundle.TestTimeFlip }).ToByteArray();
            return new Classifier(null, new OnnxEngine(bytes), bundle, decode);
        }
    }

    /// <summary>The runtime this classifier uses.</summary>
    public InferenceEngine Engine => onnx is null ? InferenceEngine.Torch : InferenceEngine.Onnx;

    public BundleManifest Manifest { get; }
    public IReadOnlyList<string> Classes => Manifest.Classes;

    /// <summary>Classifies an encoded image (JPEG, PNG, GIF, BMP, WebP).</summary>
    public Prediction Predict(byte[] encodedImage, int top = 1) =>
        PredictDecoded([ImageDecoder.Decode(encodedImage, decode, transform.DecodeHint)], top)[0];

    /// <summary>Classifies an image file.</summary>
    public Prediction PredictFile(string path, int top = 1) =>
        PredictDecoded([ImageDecoder.Decode(path, decode, transform.DecodeHint)], top)[0];

    /// <summary>Classifies decoded images in one batched forward pass.</summary>
    public IReadOnlyList<Prediction> PredictDecoded(IReadOnlyList<DecodedImage> images, int top = 1)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (images.Count == 0) return [];
        int n = images.Count;
        float[] probs;                                                          // (B, C)
        if (onnx is not null) probs = onnx.Probabilities(Views(images, transform), n);
        else lock (gate) probs = TorchProbabilities(model!, images, transform, mirrored);
        int c = Classes.Count;
        top = Math.Clamp(top, 1, c);
        return Enumerable.Range(0, n).Select(i =>
        {
            var ranked = Enumerable.Range(0, c).OrderByDescending(j => probs[i * c + j]).Take(top)
                .Select(j => new LabelProbability(Classes[j], probs[i * c + j])).ToList();
            return new Prediction(ranked[0].Label, ranked[0].Probability, ranked);
        }).ToList();
    }

    /// <summary>(N, K) softmax probabilities of <paramref name="model"/> (eval mode) on the images seen through
    /// <paramref name="view"/>, averaged with those through <paramref name="mirroredView"/> when given (flip TTA, as
    /// training validates: the mirror is taken before normalisation, so a mean image still lines up).</summary>
    internal static float[] TorchProbabilities(ImageClassifier model, IReadOnlyList<DecodedImage> images, ImageTransform view,
        ImageTransform? mirroredView)
    {
        int n = images.Count, s = view.OutputSize, views = mirroredView is null ? 1 : 2;
        var buffer = mirroredView is null ? Views(images, view) : Views(images, view, mirroredView);   // (V·N, 3, S, S)
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var p = nn.functional.softmax(model.forward(tensor(buffer).reshape(views * n, 3, s, s)), 1);   // (V·N, K)
        if (views == 2) p = p.reshape(2, n, -1).mean([0]);                       // (N, K)
        return p.contiguous().data<float>().ToArray();
    }

    /// <summary>(V·N, 3, S, S) planar floats: every image through the first view, then every image through the next
    /// (decoding and resizing in parallel over the images).</summary>
    internal static float[] Views(IReadOnlyList<DecodedImage> images, params ImageTransform[] views)
    {
        int n = images.Count, len = views[0].OutputLength;
        var buffer = new float[views.Length * n * len];
        Parallel.For(0, n, i =>
        {
            for (int v = 0; v < views.Length; v++) views[v].Apply(images[i], new Random(0), buffer.AsSpan((v * n + i) * len, len));
        });
        return buffer;
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        model?.Dispose();
        onnx?.Dispose();
    }
}
