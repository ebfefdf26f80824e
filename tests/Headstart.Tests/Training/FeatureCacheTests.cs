using System.Security.Cryptography;
using Headstart.Data;
using Headstart.Models;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Training;

/// <summary>
/// The on-disk feature cache: a hit equals a fresh extraction, and anything that changes features (the image, the
/// weights, the preprocessing) or damages the cache (a corrupt or truncated segment, a torn index line) leads to a
/// recompute, never to wrong features or a crash. A random resnet18 at 64 px keeps each extraction fast.
/// </summary>
public sealed class FeatureCacheTests : IDisposable
{
    private const int N = 6;
    private readonly TempDir tmp = new("feature-cache");
    private readonly ImageClassifier model = ModelRegistry.Get("resnet18").Create(2);
    private readonly IImageSource source = new FileImageSource();
    private readonly ImageTransform transform =
        ImageTransform.Eval(ModelRegistry.Get("resnet18").Preprocessing with { InputSize = 64, ResizeSize = 72 });
    private readonly List<ImageSample> samples = [];

    public FeatureCacheTests()
    {
        model.eval();
        Directory.CreateDirectory(tmp.Combine("images"));
        for (int i = 0; i < N; i++)
        {
            string path = tmp.Combine("images", $"img{i}.jpg");
            File.WriteAllBytes(path, SyntheticImages.Shape(i % 2, seed: i, size: 64));
            samples.Add(new ImageSample(path, i % 2));
        }
    }

    private string Root => tmp.Combine("cache");

    private float[] Uncached()
    {
        var (f, _, _) = FeatureExtractor.Extract(model, source, samples, transform, batchSize: 4, seed: 0, workers: 1);
        using (f) return f.data<float>().ToArray();
    }

    private (float[] Features, int Hits) Cached(string ns = "ns")
    {
        using var cache = new FeatureCache(Root, ns);
        var (f, _, idx, hits) = CachedFeatures.Extract(cache, model.ForwardFeatures, source, samples, transform, 4, 0, 0, 1, null, null);
        Assert.Equal(Enumerable.Range(0, N), idx);
        using (f) return (f.data<float>().ToArray(), hits);
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        float max = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(max <= 1e-5f, $"max |cached - uncached| = {max}");
    }

    private string Segment(string ns = "ns") => Directory.GetFiles(Path.Combine(Root, ns), "seg-*.f32").Single();

    [Fact]
    public void CachedFeaturesEqualUncachedAndTheSecondRunReadsThemAll()
    {
        var fresh = Uncached();
        var (first, hits1) = Cached();
        var (second, hits2) = Cached();
        Assert.Equal(0, hits1);
        Assert.Equal(N, hits2);
        AssertClose(fresh, first);
        AssertClose(fresh, second);
    }

    [Fact]
    public void AChangedImageIsRecomputed()
    {
        Cached();
        string changed = samples[2].Path;
        File.WriteAllBytes(changed, SyntheticImages.Shape(1, seed: 999, size: 64));
        File.SetLastWriteTimeUtc(changed, DateTime.UtcNow.AddMinutes(5));
        var (features, hits) = Cached();
        Assert.Equal(N - 1, hits);
        AssertClose(Uncached(), features);
    }

    [Fact]
    public void ACorruptRowIsDetectedByItsChecksumAndRecomputed()
    {
        Cached();
        string seg = Segment();
        int rowBytes = (int)(new FileInfo(seg).Length / N);
        using (var fs = new FileStream(seg, FileMode.Open, FileAccess.ReadWrite))
        {
            fs.Position = 3L * rowBytes + 17;
            int b = fs.ReadByte();
            fs.Position--;
            fs.WriteByte((byte)(b ^ 0x5A));
        }
        var (features, hits) = Cached();
        Assert.Equal(N - 1, hits);
        AssertClose(Uncached(), features);
    }

    [Fact]
    public void ATruncatedOrMissingSegmentIsRecomputed()
    {
        Cached();
        string seg = Segment();
        long rowBytes = new FileInfo(seg).Length / N;
        using (var fs = new FileStream(seg, FileMode.Open, FileAccess.ReadWrite)) fs.SetLength(2 * rowBytes + 5);
        var (features, hits) = Cached();
        Assert.Equal(2, hits);
        AssertClose(Uncached(), features);

        foreach (var f in Directory.GetFiles(Path.Combine(Root, "ns"), "seg-*.f32")) File.Delete(f);
        (features, hits) = Cached();
        Assert.Equal(0, hits);
        AssertClose(Uncached(), features);
    }

    [Fact]
    public void ATornIndexLineIsIgnoredAndLaterEntriesStayReadable()
    {
        Cached();
        string index = Path.Combine(Root, "ns", "index.tsv");
        // A killed append: the last line stops mid-number (a width of 5 instead of 512).
        File.AppendAllText(index, "0123456789abcdef0123456789abcdef\tseg-dead.f32\t0\t4242\t5");
        using (var cache = new FeatureCache(Root, "ns"))
        {
            Assert.Equal(N, cache.Count);
            Assert.Equal(512, cache.Dim);
        }
        string changed = samples[0].Path;
        File.WriteAllBytes(changed, SyntheticImages.Shape(1, seed: 4242, size: 64));
        File.SetLastWriteTimeUtc(changed, DateTime.UtcNow.AddMinutes(5));
        Assert.Equal(N - 1, Cached().Hits);   // recomputes the changed image, appends after the torn line
        var (features, hits) = Cached();
        Assert.Equal(N, hits);                 // ... and that entry is readable on the next run
        AssertClose(Uncached(), features);
    }

    [Fact]
    public void ATornFirstIndexLineDoesNotPoisonTheNamespace()
    {
        Directory.CreateDirectory(Path.Combine(Root, "ns"));
        File.WriteAllText(Path.Combine(Root, "ns", "index.tsv"), "0123456789abcdef0123456789abcdef\tseg-dead.f32\t0\t4242\t5");
        var (first, hits1) = Cached();
        var (second, hits2) = Cached();
        Assert.Equal((0, N), (hits1, hits2));
        AssertClose(first, second);
    }

    [Fact]
    public void ACorruptIndexWidthCannotSizeAnAllocation()
    {
        Directory.CreateDirectory(Path.Combine(Root, "ns"));
        File.WriteAllText(Path.Combine(Root, "ns", "index.tsv"), "0123456789abcdef0123456789abcdef\tseg-dead.f32\t0\t4242\t2000000000\n");
        using (var cache = new FeatureCache(Root, "ns")) Assert.Equal(0, cache.Dim);
        Assert.Equal(0, Cached().Hits);
    }

    [Fact]
    public void ChangedWeightsOrPreprocessingSelectAnotherNamespaceAndRecompute()
    {
        string weights = tmp.Combine("w.bin");
        File.WriteAllBytes(weights, [1, 2, 3, 4]);
        File.SetLastWriteTimeUtc(weights, new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        string h1 = FeatureCache.WeightsFingerprint(weights, Root);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(weights))), h1);
        File.WriteAllBytes(weights, [1, 2, 3, 5]); // same size, new bytes, new mtime
        string h2 = FeatureCache.WeightsFingerprint(weights, Root);
        Assert.NotEqual(h1, h2);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(weights))), h2);

        string pre = "{\"input_size\":64}", pre2 = "{\"input_size\":72}";
        string ns = FeatureCache.Namespace("resnet18", h1, pre, "None", "centre");
        Assert.Equal(ns, FeatureCache.Namespace("resnet18", h1, pre, "None", "centre"));
        Assert.NotEqual(ns, FeatureCache.Namespace("resnet18", h2, pre, "None", "centre"));
        Assert.NotEqual(ns, FeatureCache.Namespace("resnet18", h1, pre2, "None", "centre"));
        Assert.NotEqual(ns, FeatureCache.Namespace("resnet34", h1, pre, "None", "centre"));

        Assert.Equal(0, Cached(ns).Hits);
        Assert.Equal(N, Cached(ns).Hits);
        Assert.Equal(0, Cached(FeatureCache.Namespace("resnet18", h2, pre, "None", "centre")).Hits);
    }

    [Fact]
    public void ACorruptWeightsFingerprintMemoIsIgnored()
    {
        string weights = tmp.Combine("w.bin");
        File.WriteAllBytes(weights, [9, 8, 7]);
        string h = FeatureCache.WeightsFingerprint(weights, Root);
        string memo = Directory.GetFiles(Path.Combine(Root, "weights-sha256")).Single();
        File.WriteAllText(memo, "garbage");
        Assert.Equal(h, FeatureCache.WeightsFingerprint(weights, Root));
    }

    public void Dispose()
    {
        model.Dispose();
        tmp.Dispose();
    }
}
