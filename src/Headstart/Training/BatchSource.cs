using Headstart.Data;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>
/// Supplies mini-batches for one epoch. Either raw images (the model's full forward runs) or cached backbone features
/// (only the classifier section runs).
/// </summary>
public interface IBatchSource
{
    /// <summary>Number of samples per epoch.</summary>
    int Count { get; }

    /// <summary>Number of batches per epoch.</summary>
    int BatchesPerEpoch { get; }

    /// <summary>True when X holds backbone features rather than images.</summary>
    bool IsFeatures { get; }

    /// <summary>The batches of one epoch: X (B, ...) and Y (B) int64. Order is deterministic for (seed, epoch) when
    /// shuffled. The caller disposes the tensors (a dispose scope per batch is enough).</summary>
    IEnumerable<(Tensor X, Tensor Y)> Batches(int epoch, bool shuffle);
}

/// <summary>A batch source over in-memory tensors, e.g. cached features (N, D) and labels (N).</summary>
public sealed class TensorBatchSource : IBatchSource
{
    private readonly Tensor x, y;
    private readonly int batchSize, seed;

    public TensorBatchSource(Tensor x, Tensor y, int batchSize, int seed, bool isFeatures = true)
    {
        if (x.shape[0] != y.shape[0]) throw new ArgumentException($"x has {x.shape[0]} rows but y has {y.shape[0]}");
        this.x = x;
        this.y = y.to_type(ScalarType.Int64);
        this.batchSize = batchSize;
        this.seed = seed;
        IsFeatures = isFeatures;
    }

    public int Count => (int)x.shape[0];
    public int BatchesPerEpoch => (Count + batchSize - 1) / batchSize;
    public bool IsFeatures { get; }
    public Tensor X => x;
    public Tensor Y => y;

    public IEnumerable<(Tensor X, Tensor Y)> Batches(int epoch, bool shuffle)
    {
        long[] order = FeatureBatchSource.EpochOrder(Count, seed, epoch, shuffle);
        for (int start = 0; start < order.Length; start += batchSize)
        {
            var idx = order.AsSpan(start, Math.Min(batchSize, order.Length - start)).ToArray();
            using var index = tensor(idx);
            yield return (x.index_select(0, index), y.index_select(0, index));
        }
    }
}
