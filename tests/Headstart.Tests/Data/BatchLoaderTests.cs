using System.Collections.Concurrent;
using Headstart.Data;
using Headstart.Models;
using Xunit;

namespace Headstart.Tests.Data;

public sealed class BatchLoaderTests
{
    private static readonly Preprocessing Tiny = new()
    {
        InputSize = 8, ResizeSize = 8, Mean = [0, 0, 0], Std = [1, 1, 1], ValueScale = 255,
    };

    /// <summary>Image i is a flat colour (i, 2i, 3i); its label is i % 3. Ids listed in <paramref name="broken"/> fail.</summary>
    private sealed class FakeSource(int count, ISet<int>? broken = null, Action<int>? onDecode = null) : IImageSource
    {
        public readonly ImageSample[] Samples = Enumerable.Range(0, count).Select(i => new ImageSample($"img{i}", i % 3)).ToArray();

        public DecodedImage Decode(ImageSample sample)
        {
            int i = int.Parse(sample.Path.AsSpan(3));
            onDecode?.Invoke(i);
            if (broken?.Contains(i) == true) throw new ImageDecodeException($"broken #{i}");
            // Non-flat so that augmentation has something to move around.
            var rgb = new byte[12 * 10 * 3];
            for (int p = 0; p < 120; p++) { rgb[3 * p] = (byte)i; rgb[3 * p + 1] = (byte)(2 * i + p); rgb[3 * p + 2] = (byte)(3 * i); }
            return new DecodedImage(12, 10, rgb);
        }
    }

    private static int[] Shuffled(int n, int seed)
    {
        var order = Enumerable.Range(0, n).ToArray();
        new Random(seed).Shuffle(order);
        return order;
    }

    [Fact]
    public void BatchesFollowTheOrderWithLabelsAndPixels()
    {
        var source = new FakeSource(23);
        var order = Shuffled(23, 1);
        var batches = BatchLoader.Batches(source, source.Samples, order, ImageTransform.Eval(Tiny), batchSize: 5, seed: 0, workers: 3).ToList();
        try
        {
            Assert.Equal([5, 5, 5, 5, 3], batches.Select(b => b.Count));
            Assert.Equal(order, batches.SelectMany(b => b.Indices));
            Assert.Equal(order.Select(i => (long)(i % 3)), batches.SelectMany(b => b.Labels));
            foreach (var b in batches)
            {
                Assert.Equal([b.Count, 3, 8, 8], b.Images.shape);
                var red = b.Images[.., 0, 0, 0].data<float>().ToArray();
                Assert.Equal(b.Indices.Select(i => (float)i), red);
            }
        }
        finally
        {
            foreach (var b in batches) b.Dispose();
        }
    }

    [Fact]
    public void AugmentedBatchesAreIdenticalForAnyWorkerCount()
    {
        var source = new FakeSource(17);
        var order = Shuffled(17, 2);
        var transform = ImageTransform.Train(Tiny, AugmentLevel.Standard);
        float[] Collect(int workers, int epoch)
        {
            var all = new List<float>();
            foreach (var b in BatchLoader.Batches(source, source.Samples, order, transform, 4, seed: 5, epoch: epoch, workers: workers))
                using (b) all.AddRange(b.Images.data<float>().ToArray());
            return [.. all];
        }
        var one = Collect(1, 0);
        Assert.Equal(one, Collect(4, 0));
        Assert.Equal(one, Collect(2, 0));
        Assert.NotEqual(one, Collect(2, 1)); // a new epoch draws new augmentations
    }

    [Fact]
    public void FailedSamplesAreSkippedAndReportedInOrder()
    {
        // 4 and 5 fill the whole second batch: that batch is not yielded at all.
        var source = new FakeSource(10, new HashSet<int> { 1, 4, 5, 9 });
        var skipped = new List<SkippedFile>();
        var batches = BatchLoader.Batches(source, source.Samples, Enumerable.Range(0, 10).ToArray(), ImageTransform.Eval(Tiny),
            batchSize: 2, seed: 0, workers: 2, onSkipped: skipped.Add).ToList();
        Assert.Equal(["img1", "img4", "img5", "img9"], skipped.Select(s => s.Path));
        Assert.Equal("broken #4", skipped[1].Reason);
        Assert.Equal([0, 2, 3, 6, 7, 8], batches.SelectMany(b => b.Indices));
        Assert.Equal(4, batches.Count);
        // Compaction moved sample 2 into the first row of its batch.
        Assert.Equal(2f, batches[1].Images[0, 0, 0, 0].item<float>());
        foreach (var b in batches) b.Dispose();
    }

    [Fact]
    public void WorkersStayWithinThePrefetchWindow()
    {
        var decoded = new ConcurrentBag<int>();
        var source = new FakeSource(40, onDecode: decoded.Add);
        const int batchSize = 4, prefetch = 2;
        using var e = BatchLoader.Batches(source, source.Samples, Enumerable.Range(0, 40).ToArray(), ImageTransform.Eval(Tiny),
            batchSize, seed: 0, workers: 4, prefetch: prefetch).GetEnumerator();
        Assert.True(e.MoveNext());
        e.Current.Dispose();
        Thread.Sleep(300); // a slow consumer: workers must block, not run ahead
        // Holding batch 0 (consumed = 1): batches 1 and 2 may be in flight, batch 3 not.
        Assert.True(decoded.Max() < (1 + prefetch) * batchSize, $"decoded up to sample {decoded.Max()}");
        Assert.True(decoded.Count >= 2 * batchSize);
    }

    [Fact]
    public void EarlyBreakStopsWorkersAndHeldBatchesStayIntact()
    {
        var source = new FakeSource(64);
        Batch? first = null;
        int seen = 0;
        foreach (var b in BatchLoader.Batches(source, source.Samples, Enumerable.Range(0, 64).ToArray(), ImageTransform.Eval(Tiny), 4, 0, workers: 3))
        {
            if (first is null) first = b; else b.Dispose();
            if (++seen == 5) break; // buffers of batch 0 have been recycled by now
        }
        Assert.NotNull(first);
        Assert.Equal([0f, 1f, 2f, 3f], first!.Images[.., 0, 0, 0].data<float>().ToArray());
        first.Dispose();
    }

    [Fact]
    public void BugsInTheSourcePropagateInsteadOfHanging()
    {
        var samples = new[] { new ImageSample("x", 0), new ImageSample("y", 1) };
        var ex = Assert.Throws<InvalidOperationException>(() =>
            BatchLoader.Batches(new ThrowingSource(), samples, [0, 1], ImageTransform.Eval(Tiny), 2, 0, workers: 2).ToList());
        Assert.Equal("boom", ex.Message);
    }

    private sealed class ThrowingSource : IImageSource
    {
        public DecodedImage Decode(ImageSample sample) => throw new InvalidOperationException("boom");
    }
}
