using System.Collections.Concurrent;

namespace Headstart.Weights;

/// <summary>
/// Resolves the mean images named by <see cref="Models.Preprocessing.MeanImage"/>. Each is (3, H, W) flattened, in the
/// model's channel order and value scale, and is subtracted from the input before Mean/Std normalisation.
/// </summary>
public static class MeanImages
{
    /// <summary>The CNTK ResNet18's mean image: (3, 224, 224), BGR, 0-255.</summary>
    public const string CntkResNet = "resnet18-cntk";

    private static readonly ConcurrentDictionary<string, Lazy<float[]>> cache = new(StringComparer.Ordinal);

    /// <summary>The names <see cref="Get"/> knows.</summary>
    public static IReadOnlyList<string> Names { get; } = [CntkResNet];

    /// <summary>A fresh copy of the named mean image (3·H·W floats, channel-major).</summary>
    public static float[] Get(string name)
    {
        if (!Names.Contains(name))
            throw new HeadstartException($"unknown mean image '{name}'; known: {string.Join(", ", Names)}.");
        var image = cache.GetOrAdd(name, n => new Lazy<float[]>(() => Load(n))).Value;
        return (float[])image.Clone();
    }

    private static float[] Load(string name) => name switch
    {
        CntkResNet => OnnxWeights.ReadMeanImage(EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNetPreprocess)),
        _ => throw new HeadstartException($"unknown mean image '{name}'."),
    };
}
