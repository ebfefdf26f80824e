using Headstart.Data;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>
/// Rows of backbone features (N, D) float32 with their labels, wherever they live: a tensor in memory
/// (<see cref="TensorRows"/>, one machine's extraction) or files on disk (<see cref="ShardRows"/>, a sharded extraction
/// merged without loading it). The head trains from either through <see cref="FeatureBatchSource"/>, batch for batch
/// the same.
/// </summary>
public interface IFeatureRows : IDisposable
{
    int Count { get; }
    int Dim { get; }
    /// <summary>(N) class indices.</summary>
    long[] Labels { get; }
    /// <summary>The rows named, in that order: (B, D) float32, owned by the caller.</summary>
    Tensor Gather(ReadOnlySpan<long> rows);
}

/// <summary>Feature rows in a tensor (N, D).</summary>
public sealed class TensorRows : IFeatureRows
{
    private readonly Tensor x;

    public TensorRows(Tensor x, long[] labels)
    {
        if (x.shape[0] != labels.Length) throw new ArgumentException($"x has {x.shape[0]} rows but there are {labels.Length} labels");
        this.x = x;
        Labels = labels;
    }

    public int Count => (int)x.shape[0];
    public int Dim => (int)x.shape[1];
    public long[] Labels { get; }

    public Tensor Gather(ReadOnlySpan<long> rows)
    {
        using var index = tensor(rows.ToArray());
        return x.index_select(0, index);
    }

    public void Dispose() => x.Dispose();
}

/// <summary>
/// Mini-batches of feature rows for the head, shuffled per epoch exactly as <see cref="TensorBatchSource"/> shuffles
/// (same permutation for a seed and epoch), so rows in memory and rows on disk train the same head.
/// </summary>
public sealed class FeatureBatchSource(IFeatureRows rows, int batchSize, int seed) : IBatchSource
{
    public int Count => rows.Count;
    public int BatchesPerEpoch => (Count + batchSize - 1) / batchSize;
    public bool IsFeatures => true;

    public IEnumerable<(Tensor X, Tensor Y)> Batches(int epoch, bool shuffle)
    {
        long[] order = EpochOrder(Count, seed, epoch, shuffle);
        long[] labels = rows.Labels;
        for (int start = 0; start < order.Length; start += batchSize)
        {
            var idx = order.AsMemory(start, Math.Min(batchSize, order.Length - start));
            var y = new long[idx.Length];
            for (int i = 0; i < y.Length; i++) y[i] = labels[idx.Span[i]];
            yield return (rows.Gather(idx.Span), tensor(y));
        }
    }

    /// <summary>The rows of one epoch in order: 0..N-1, shuffled when asked by a Random that depends only on (seed,
    /// epoch), so that the order is the same in every process (HashCode.Combine is randomised per process).</summary>
    internal static long[] EpochOrder(int count, int seed, int epoch, bool shuffle)
    {
        long[] order = new long[count];
        for (int i = 0; i < count; i++) order[i] = i;
        if (shuffle) BatchLoader.SampleRandom(seed, epoch, -1).Shuffle(order);
        return order;
    }
}
