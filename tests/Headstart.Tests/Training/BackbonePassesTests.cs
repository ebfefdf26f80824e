using Headstart.Data;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Xunit;

namespace Headstart.Tests.Training;

/// <summary>
/// The compute a comparison shows: each run counts the images it sent through the backbone, forward only (extraction,
/// validation, evaluation) or forward and backward (training steps), and the feature cache's hits cost none.
/// </summary>
[Collection(GlobalRngCollection.Name)]
public class BackbonePassesTests
{
    [Fact]
    public void FrozenRunsCountTheirExtractionOnceAndCachedRerunsNone()
    {
        using var tmp = new TempDir("passes-frozen");
        SyntheticImages.WriteImageFolder(tmp.Combine("data"), classes: 2, trainPerClass: 5, valPerClass: 3);
        var data = ImageFolder.Load(tmp.Combine("data"));
        var o = new TrainOptions { Epochs = 3, CacheDir = tmp.Combine("cache"), HeadFit = HeadFit.Sgd };
        using var first = new TransferTrainer().Train(data, o);
        // 10 training images x (centre + mirror: the SGD head's views on a small set) + 6 validation images; the head's
        // 3 epochs run on cached features.
        Assert.Equal(new BackbonePasses(10 * 2 + 6, 0), first.Passes);
        using var again = new TransferTrainer().Train(data, o with { Seed = 7 });
        Assert.Equal(new BackbonePasses(0, 0), again.Passes);
        // The default L-BFGS head needs the centre crop alone: all cached already.
        using var convex = new TransferTrainer().Train(data, o with { HeadFit = null });
        Assert.Equal(new BackbonePasses(0, 0), convex.Passes);
    }

    [Fact]
    public void FullTrainingCountsEveryStepValidationAndTheFinalEvaluation()
    {
        using var tmp = new TempDir("passes-full");
        SyntheticImages.WriteImageFolder(tmp.Combine("data"), classes: 2, trainPerClass: 6, valPerClass: 2);
        var data = ImageFolder.Load(tmp.Combine("data"));
        using var r = new TransferTrainer().Train(data, new TrainOptions
        {
            Model = "small_cnn", Pretrained = false, Strategy = Strategy.Full, Epochs = 2, BatchSize = 5, CacheDir = "none",
        });
        // 2 epochs x 12 training images forward and backward; 4 validation images after each epoch and once more to evaluate.
        Assert.Equal(new BackbonePasses(2 * 4 + 4, 2 * 12), r.Passes);
    }
}

public class ImageBatchSourceMemoTests
{
    private sealed class Counting(IImageSource inner, string? broken = null) : IImageSource
    {
        public int Decodes;
        public DecodedImage Decode(ImageSample sample)
        {
            Interlocked.Increment(ref Decodes);
            if (sample.Path == broken) throw new ImageDecodeException("truncated on purpose");
            return inner.Decode(sample);
        }
    }

    private static (List<ImageSample> Samples, InMemoryImageSource Source) Images(int n)
    {
        var images = new Dictionary<string, DecodedImage>();
        var samples = new List<ImageSample>();
        var rng = new Random(3);
        for (int i = 0; i < n; i++)
        {
            var px = new byte[20 * 20];
            rng.NextBytes(px);
            images[$"img{i}"] = DecodedImage.FromGray(20, 20, px);
            samples.Add(new ImageSample($"img{i}", i % 2));
        }
        return (samples, new InMemoryImageSource(images));
    }

    private static List<(float[] X, long[] Y)> Epoch(IBatchSource s, int epoch, bool shuffle) =>
        s.Batches(epoch, shuffle).Select(b => (b.X.data<float>().ToArray(), b.Y.data<long>().ToArray())).ToList();

    [Fact]
    public void DeterministicTransformsDecodeOnceAndGiveTheSameBatchesEveryEpoch()
    {
        var (samples, inner) = Images(11);
        var pre = new Headstart.Models.Preprocessing { InputSize = 16, ResizeSize = 16 };
        var counting = new Counting(inner);
        var memo = new ImageBatchSource(counting, samples, ImageTransform.Eval(pre), batchSize: 4, seed: 1, workers: 2);
        var fresh = new ImageBatchSource(inner, samples, ImageTransform.Eval(pre), batchSize: 4, seed: 1, workers: 2);
        var e0 = Epoch(memo, 0, shuffle: true);
        Assert.True(memo.Memoised);
        var e1 = Epoch(memo, 1, shuffle: true);
        Assert.Equal(11, counting.Decodes);
        // Epoch 1 from memory equals epoch 1 decoded afresh, batch for batch (same shuffle, same floats).
        var f1 = Epoch(fresh, 1, shuffle: true);
        Assert.Equal(f1.Count, e1.Count);
        for (int b = 0; b < f1.Count; b++)
        {
            Assert.Equal(f1[b].Y, e1[b].Y);
            Assert.Equal(f1[b].X, e1[b].X);
        }
        Assert.Equal(e0.SelectMany(b => b.Y).Order(), e1.SelectMany(b => b.Y).Order());

        // Augmentation draws anew every epoch: nothing is kept.
        var augmenting = new Counting(inner);
        var train = new ImageBatchSource(augmenting, samples, ImageTransform.Train(pre, AugmentLevel.Light), batchSize: 4, seed: 1);
        Epoch(train, 0, true);
        Epoch(train, 1, true);
        Assert.False(train.Memoised);
        Assert.Equal(22, augmenting.Decodes);
    }

    [Fact]
    public void AFileThatFailsIsReportedOnceAndLeftOutOfLaterEpochs()
    {
        var (samples, inner) = Images(6);
        var pre = new Headstart.Models.Preprocessing { InputSize = 16, ResizeSize = 16 };
        var counting = new Counting(inner, broken: "img2");
        var skipped = new List<string>();
        var s = new ImageBatchSource(counting, samples, ImageTransform.Eval(pre), batchSize: 4, seed: 1, onSkipped: f => skipped.Add(f.Path));
        Assert.Equal(5, Epoch(s, 0, false).Sum(b => b.Y.Length));
        Assert.Equal(5, Epoch(s, 1, false).Sum(b => b.Y.Length));
        Assert.Equal(["img2"], skipped);
        Assert.Equal(6, counting.Decodes);
    }
}
