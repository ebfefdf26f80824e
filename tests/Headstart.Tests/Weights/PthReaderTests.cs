using System.IO.Compression;
using Headstart.Tests.TestSupport;
using Headstart.Weights;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Weights;

public class PthReaderTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Weights", "Fixtures", name);

    [Theory]
    [InlineData("shared_views.legacy.pth", "pth-legacy")]
    [InlineData("shared_views.zip.pth", "pth-zip")]
    public void KeepsViewsDtypesStridesAndSharedStorage(string file, string format)
    {
        using var sd = PthReader.Read(Fixture(file));
        Assert.Equal(format, sd.Metadata["format"]);
        Assert.Equal(["base", "slice", "grid_t", "every_other", "half", "bf16", "counter", "flags"], sd.Keys);

        var expectedBase = Enumerable.Range(0, 24).Select(i => (float)i).ToArray();
        Assert.Equal(expectedBase, sd["base"].data<float>().ToArray());
        Assert.Equal([4f, 5, 6, 7, 8, 9], sd["slice"].data<float>().ToArray());
        Assert.Equal(4, sd["slice"].storage_offset());
        Assert.Equal([4L, 3], sd["grid_t"].shape);
        Assert.Equal([1L, 4], sd["grid_t"].stride());
        Assert.Equal(8f, sd["grid_t"][0, 2].item<float>()); // base.view(3, 4).t()[0, 2] = base[2 * 4 + 0]
        Assert.Equal([2L], sd["every_other"].stride());
        Assert.Equal(23f, sd["every_other"][11].item<float>());

        // One storage: writing through a view shows in the base tensor, as in PyTorch.
        sd["slice"][0] = tensor(-1f);
        Assert.Equal(-1f, sd["base"][4].item<float>());

        Assert.Equal(ScalarType.Float16, sd["half"].dtype);
        Assert.Equal([0f, 0.25f, 0.5f, 0.75f, 1f, 1.25f], sd["half"].to_type(ScalarType.Float32).data<float>().ToArray());
        Assert.Equal(ScalarType.BFloat16, sd["bf16"].dtype);
        Assert.Equal([1.5f, -2f, 3.25f], sd["bf16"].to_type(ScalarType.Float32).data<float>().ToArray());
        Assert.Equal(ScalarType.Int64, sd["counter"].dtype);
        Assert.Empty(sd["counter"].shape);
        Assert.Equal(7L, sd["counter"].item<long>());
        Assert.Equal([true, false, true], sd["flags"].data<bool>().ToArray());
    }

    [SharedFact("fixtures/torchvision-extra/manifest.json")]
    public void Float16FixturesLoadAsFloat16WithAllKeys()
    {
        foreach (var (file, keys) in new[] { ("densenet121.legacy.fp16.pth", 727), ("efficientnet_b0.zip.fp16.pth", 360),
                     ("shufflenet_v2_x1_0.zip.fp16.pth", 0), ("mnasnet1_0.legacy.fp16.pth", 0) })
        {
            using var sd = WeightFile.Read(SharedData.PathTo($"fixtures/torchvision-extra/{file}"));
            if (keys > 0) Assert.Equal(keys, sd.Count);
            Assert.All(sd, kv => Assert.Contains(kv.Value.dtype, new[] { ScalarType.Float16, ScalarType.Int64 }));
            Assert.Contains(sd, kv => kv.Key.EndsWith("num_batches_tracked") && kv.Value.dtype == ScalarType.Int64);
        }
    }

    [Fact]
    public void CheckpointWrapperAndDataParallelPrefixAreRemoved()
    {
        using var dir = new TempDir();
        // {"epoch": 3, "state_dict": {"module.w": tensor}}
        var pickle = new PickleBuilder().Proto().Op((byte)'}').Mark().Unicode("epoch").Int(3).Unicode("state_dict")
            .OrderedDict().Mark().Unicode("module.w").ZipTensor("FloatStorage", "0", 2, 0, [2], [1]).SetItems()
            .SetItems().Stop().ToArray();
        var path = dir.Combine("ckpt.pth");
        File.WriteAllBytes(path, Zip(pickle, ("archive/data/0", new byte[8], CompressionLevel.NoCompression)));
        using var sd = PthReader.Read(path);
        Assert.Equal(["w"], sd.Keys);
        Assert.Equal("state_dict", sd.Metadata["checkpoint_key"]);
        Assert.Equal("module.", sd.Metadata["stripped_prefix"]);
    }

    [Fact]
    public void MaliciousPickleInsideAZipPthIsRefused()
    {
        using var dir = new TempDir();
        var pickle = new PickleBuilder().Proto().Global("os", "system").Mark().Unicode("touch /tmp/pwned").Tuple().Reduce().Stop().ToArray();
        var path = dir.Combine("evil.pth");
        File.WriteAllBytes(path, Zip(pickle));
        var ex = Assert.Throws<UnsafePickleException>(() => WeightFile.Read(path));
        Assert.Equal("os.system", ex.GlobalName);
    }

    [Fact]
    public void ZipBombStorageIsRefused()
    {
        using var dir = new TempDir();
        const long numel = 16L << 20; // 64 MB of zeros deflate to ~64 KB: ratio ~1000
        var path = dir.Combine("bomb.pth");
        File.WriteAllBytes(path, PickleBuilder.ZipPth(numel, [numel], zip =>
        {
            using var s = zip.CreateEntry("archive/data/0", CompressionLevel.Fastest).Open();
            var zeros = new byte[1 << 20];
            for (int i = 0; i < 64; i++) s.Write(zeros);
        }));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<WeightFileException>(() => PthReader.Read(path));
        Assert.Contains("zip bomb", ex.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20);
    }

    [Fact]
    public void DeclaredAndActualSizesMustAgree()
    {
        using var dir = new TempDir();
        var path = dir.Combine("lying.pth");
        // The pickle declares 4 floats; the archive entry holds 1 MB.
        File.WriteAllBytes(path, PickleBuilder.ZipPth(4, [4], zip =>
        {
            using var s = zip.CreateEntry("archive/data/0", CompressionLevel.NoCompression).Open();
            s.Write(new byte[1 << 20]);
        }));
        Assert.Contains("declares", Assert.Throws<WeightFileException>(() => PthReader.Read(path)).Message);
    }

    [Theory]
    [InlineData(1L << 60, new long[] { 1L << 60 })]          // absurd storage
    [InlineData(4L, new long[] { 1L << 40, 1L << 40 })]     // view far outside its storage
    [InlineData(4L, new long[] { -3 })]                     // negative size
    public void AbsurdSizesAreRefused(long numel, long[] size)
    {
        using var dir = new TempDir();
        var path = dir.Combine("absurd.pth");
        File.WriteAllBytes(path, PickleBuilder.ZipPth(numel, size, zip =>
        {
            using var s = zip.CreateEntry("archive/data/0", CompressionLevel.NoCompression).Open();
            s.Write(new byte[16]);
        }));
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<WeightFileException>(() => PthReader.Read(path));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20);
    }

    [Fact]
    public void TruncatedLegacyFileFailsCleanly()
    {
        using var dir = new TempDir();
        var bytes = File.ReadAllBytes(Fixture("shared_views.legacy.pth"));
        foreach (int cut in new[] { 0, 10, 300, bytes.Length - 40, bytes.Length - 1 })
        {
            var path = dir.Combine($"cut{cut}.pth");
            File.WriteAllBytes(path, bytes[..cut]);
            Assert.ThrowsAny<WeightFileException>(() => WeightFile.Read(path));
        }
    }

    [Fact]
    public void NotAWeightFileSaysSo()
    {
        using var dir = new TempDir();
        var path = dir.Combine("notes.pth");
        File.WriteAllText(path, "hello");
        Assert.Contains("unrecognised", Assert.Throws<WeightFileException>(() => WeightFile.Read(path)).Message);
        Assert.Contains("not found", Assert.Throws<WeightFileException>(() => WeightFile.Read(dir.Combine("absent.pth"))).Message);
    }

    internal static byte[] Zip(byte[] pickle, params (string Name, byte[] Data, CompressionLevel Level)[] entries)
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            using (var s = zip.CreateEntry("archive/data.pkl", CompressionLevel.NoCompression).Open()) s.Write(pickle);
            foreach (var (name, data, level) in entries)
                using (var s = zip.CreateEntry(name, level).Open()) s.Write(data);
        }
        return ms.ToArray();
    }
}
