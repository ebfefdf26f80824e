namespace Headstart.Weights;

/// <summary>
/// Safety bounds applied while reading weight files, so that a hostile or corrupt file fails with a clear error
/// instead of exhausting memory or time. The defaults are far above any real torchvision file
/// (vgg16's pickle is ~2 KB, resnet152's ~60 KB; the largest storage is vgg's 411 MB classifier.0.weight).
/// </summary>
public sealed record WeightReadLimits
{
    /// <summary>Largest pickle (zip data.pkl, or the legacy main pickle) in bytes.</summary>
    public long MaxPickleBytes { get; init; } = 64L << 20;

    /// <summary>Deepest MARK nesting in a pickle.</summary>
    public int MaxPickleNesting { get; init; } = 1_000;

    /// <summary>Most values on the unpickler stack, and most memo entries.</summary>
    public int MaxPickleItems { get; init; } = 4_000_000;

    /// <summary>Total tensor bytes a file may declare (also bounded by the file's real size).</summary>
    public long MaxTotalBytes { get; init; } = 64L << 30;

    /// <summary>Largest uncompressed/compressed ratio of a deflated zip entry (torch stores entries uncompressed).</summary>
    public double MaxCompressionRatio { get; init; } = 100;

    /// <summary>Largest safetensors JSON header (the reference implementation's bound is 100 MB).</summary>
    public long MaxHeaderBytes { get; init; } = 100L << 20;

    public static WeightReadLimits Default { get; } = new();
}
