using Headstart.Data;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>
/// Batches of decoded, transformed images (augmented on the fly when the transform is a training one). A deterministic
/// transform (no augmentation: validation, <c>--augment none</c>) gives the same floats every epoch, so its outputs
/// are kept in memory after the first epoch when they fit in <see cref="MemoBytes"/>: later epochs skip decoding.
/// </summary>
public sealed class ImageBatchSource(IImageSource source, IReadOnlyList<ImageSample> samples, ImageTransform transform,
    int batchSize, int seed, int workers = 0, Action<SkippedFile>? onSkipped = null) : IBatchSource
{
    /// <summary>The most a source keeps decoded: 200 images at 224 px are 120 MB, 10,000 at 32 px 123 MB.</summary>
    public const long MemoBytes = 256L << 20;

    // Per sample: its (3, S, S) floats once decoded; Failed once it failed to decode (reported then, left out after).
    private readonly float[]?[]? memo = transform.Level == AugmentLevel.None && 4L * transform.OutputLength * samples.Count <= MemoBytes
        ? new float[]?[samples.Count] : null;
    private static readonly float[] Failed = [];
    private bool complete;

    public int Count => samples.Count;
    public int BatchesPerEpoch => (samples.Count + batchSize - 1) / batchSize;
    public bool IsFeatures => false;

    /// <summary>True once every sample's transformed image is held in memory (deterministic transforms only).</summary>
    public bool Memoised => complete;

    public IEnumerable<(Tensor X, Tensor Y)> Batches(int epoch, bool shuffle)
    {
        int[] order = Enumerable.Range(0, samples.Count).ToArray();
        // Process-independent: HashCode.Combine is randomised per process and would break run-to-run determinism.
        if (shuffle) BatchLoader.SampleRandom(seed, epoch, -1).Shuffle(order);
        return complete ? FromMemo(order) : Decode(order, epoch);
    }

    private IEnumerable<(Tensor X, Tensor Y)> Decode(int[] order, int epoch)
    {
        int len = transform.OutputLength;
        foreach (var batch in BatchLoader.Batches(source, samples, order, transform, batchSize, seed, epoch, workers, SkipAndRemember))
        {
            if (memo is not null)
            {
                float[] all = batch.Images.data<float>().ToArray();   // (B, 3, S, S) row-major
                for (int i = 0; i < batch.Indices.Length; i++)
                    memo[batch.Indices[i]] = all.AsSpan(i * len, len).ToArray();
            }
            yield return (batch.Images, tensor(batch.Labels));
        }
        // Only a full pass completes the memo (a consumer that stopped early saw part of the samples).
        if (memo is not null && memo.All(m => m is not null)) complete = true;
    }

    private void SkipAndRemember(SkippedFile skip)
    {
        if (memo is not null)
            for (int i = 0; i < samples.Count; i++)
                if (samples[i].Path == skip.Path) memo[i] = Failed;
        onSkipped?.Invoke(skip);
    }

    private IEnumerable<(Tensor X, Tensor Y)> FromMemo(int[] order)
    {
        int s = transform.OutputSize, len = transform.OutputLength;
        for (int start = 0; start < order.Length; start += batchSize)
        {
            // Batches keep the decoding pass's boundaries (failed samples leave a batch smaller, as they did there).
            var idx = order.AsSpan(start, Math.Min(batchSize, order.Length - start)).ToArray().Where(i => memo![i]!.Length > 0).ToArray();
            if (idx.Length == 0) continue;
            var data = new float[idx.Length * len];
            for (int i = 0; i < idx.Length; i++) memo![idx[i]].AsSpan().CopyTo(data.AsSpan(i * len, len));
            yield return (tensor(data, [idx.Length, 3, s, s]), tensor(idx.Select(i => (long)samples[i].Label).ToArray()));
        }
    }
}
