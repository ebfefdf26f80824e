using Headstart.Bundles;
using Headstart.Data;
using Headstart.Models;
using Headstart.Weights;
using static TorchSharp.torch;

namespace Headstart.Inference;

/// <summary>A class label with its probability.</summary>
public sealed record LabelProbability(string Label, float Probability);

/// <summary>The prediction for one image: the best label, its probability, and the top-K list.</summary>
public sealed record Prediction(string Label, float Probability, IReadOnlyList<LabelProbability> Top);

/// <summary>
/// Runs a trained bundle on images, for apps and the CLI: <c>using var clf = Classifier.Load("bundle");
/// var p = clf.Predict(File.ReadAllBytes("x.jpg"));</c>. Thread-safe (forward passes are serialised on one model;
/// decoding and preprocessing run concurrently), disposable, no global state.
/// </summary>
public sealed class Classifier : IDisposable
{
    private readonly ImageClassifier model;
    private readonly ImageTransform transform;
    private readonly DecodeOptions decode;
    private readonly object gate = new();
    private bool disposed;

    private Classifier(ImageClassifier model, BundleManifest manifest, DecodeOptions? decode)
    {
        this.model = model;
        Manifest = manifest;
        var p = manifest.Preprocessing;
        transform = ImageTransform.Eval(p, p.MeanImage is { } mi ? MeanImages.Get(mi) : null);
        this.decode = decode ?? DecodeOptions.Default;
    }

    /// <summary>Opens a bundle directory written by 'headstart train'.</summary>
    /// <param name="weightsOverride">Weights to use instead of the bundle's own (same arch and class count).</param>
    public static Classifier Load(string bundleDir, DecodeOptions? decode = null, string? weightsOverride = null)
    {
        var (manifest, _, model) = ModelBundle.Load(bundleDir, weightsOverride);
        return new Classifier(model, manifest, decode);
    }

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
        int n = images.Count, len = transform.OutputLength, s = transform.OutputSize;
        var buffer = new float[n * len];
        Parallel.For(0, n, i => transform.Apply(images[i], new Random(0), buffer.AsSpan(i * len, len)));
        float[] probs;
        lock (gate)
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var x = tensor(buffer).reshape(n, 3, s, s);                        // (B, 3, S, S)
            probs = nn.functional.softmax(model.forward(x), 1).data<float>().ToArray(); // (B, C)
        }
        int c = Classes.Count;
        top = Math.Clamp(top, 1, c);
        return Enumerable.Range(0, n).Select(i =>
        {
            var ranked = Enumerable.Range(0, c).OrderByDescending(j => probs[i * c + j]).Take(top)
                .Select(j => new LabelProbability(Classes[j], probs[i * c + j])).ToList();
            return new Prediction(ranked[0].Label, ranked[0].Probability, ranked);
        }).ToList();
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        model.Dispose();
    }
}
