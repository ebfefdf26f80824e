using System.Diagnostics;
using Headstart.Data;
using Headstart.Models;
using Headstart.Weights;
using static TorchSharp.torch;

namespace Headstart.Inference;

/// <summary>The outcome of <see cref="OnnxVerifier.Verify"/>.</summary>
/// <param name="Images">Images compared.</param>
/// <param name="MaxAbsProbabilityDifference">max |p_ORT − p_TorchSharp| over every image and class.</param>
/// <param name="Tolerance">The bound it had to stay within.</param>
/// <param name="TopLabelAgreement">Fraction of images whose most likely class is the same in both runtimes.</param>
public sealed record OnnxVerification(int Images, float MaxAbsProbabilityDifference, float Tolerance, double TopLabelAgreement)
{
    public bool Passed => MaxAbsProbabilityDifference <= Tolerance;
}

/// <summary>
/// Checks an exported model against the TorchSharp model it came from: the same decoded images go through Headstart's
/// own preprocessing into TorchSharp, and as the plain RGB 0-1 crop into ONNX Runtime (which normalises in-graph).
/// </summary>
public static class OnnxVerifier
{
    public const float DefaultTolerance = 1e-4f;

    /// <param name="meanImage">The values of the mean image the preprocessing names (a bundle's own); null = the installation's.</param>
    /// <param name="testTimeFlip">The bundle averages each image with its mirror image (and so must the export).</param>
    public static OnnxVerification Verify(string onnxPath, ImageClassifier model, Preprocessing preprocessing,
        IReadOnlyList<DecodedImage> images, float tolerance = DefaultTolerance, float[]? meanImage = null, bool testTimeFlip = false)
    {
        if (images.Count == 0) throw new ArgumentException("at least one image is needed", nameof(images));
        int n = images.Count;
        var mean = preprocessing.MeanImage is { } mi ? meanImage ?? MeanImages.Get(mi) : null;
        var torchTransform = ImageTransform.Eval(preprocessing, mean);
        float[] rgb = Classifier.Views(images, ImageTransform.Eval(Classifier.RawRgb(preprocessing)));          // (N, 3, S, S)

        model.eval();
        float[] expected = Classifier.TorchProbabilities(model, images, torchTransform,
            testTimeFlip ? ImageTransform.EvalMirrored(preprocessing, mean) : null);                           // (N, K)
        float[] actual;
        using (var engine = new OnnxEngine(onnxPath)) actual = engine.Probabilities(rgb, n);                       // (N, K)

        int k = expected.Length / n, agree = 0;
        float maxDiff = 0;
        for (int i = 0; i < n; i++)
        {
            var e = expected.AsSpan(i * k, k);
            var a = actual.AsSpan(i * k, k);
            for (int j = 0; j < k; j++) maxDiff = Math.Max(maxDiff, Math.Abs(e[j] - a[j]));
            if (ArgMax(e) == ArgMax(a)) agree++;
        }
        return new OnnxVerification(n, maxDiff, tolerance, agree / (double)n);
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
