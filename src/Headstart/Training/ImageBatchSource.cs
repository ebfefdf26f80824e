using Headstart.Data;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>Batches of decoded, transformed images (augmented on the fly when the transform is a training one).</summary>
public sealed class ImageBatchSource(IImageSource source, IReadOnlyList<ImageSample> samples, ImageTransform transform,
    int batchSize, int seed, int workers = 0, Action<SkippedFile>? onSkipped = null) : IBatchSource
{
    public int Count => samples.Count;
    public int BatchesPerEpoch => (samples.Count + batchSize - 1) / batchSize;
    public bool IsFeatures => false;

    public IEnumerable<(Tensor X, Tensor Y)> Batches(int epoch, bool shuffle)
    {
        int[] order = Enumerable.Range(0, samples.Count).ToArray();
        if (shuffle) new Random(HashCode.Combine(seed, epoch, 0x5eed)).Shuffle(order);
        foreach (var batch in BatchLoader.Batches(source, samples, order, transform, batchSize, seed, epoch, workers, onSkipped))
        {
            yield return (batch.Images, tensor(batch.Labels));
        }
    }
}
