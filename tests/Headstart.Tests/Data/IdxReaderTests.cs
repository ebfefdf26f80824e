using System.IO.Compression;
using Headstart.Data;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Data;

/// <summary>A fact that needs a local folder (outside ../shared); skipped with the reason when it is absent.</summary>
public sealed class DirectoryFactAttribute : FactAttribute
{
    public DirectoryFactAttribute(string path)
    {
        if (!Directory.Exists(path)) Skip = $"needs {path}, which is absent on this machine (Debian: apt-get install fashion-mnist)";
    }
}

public sealed class IdxReaderTests
{
    private static byte[] Idx(int[] shape, byte[] data, bool gzip)
    {
        var raw = new MemoryStream();
        raw.Write([0, 0, 0x08, (byte)shape.Length]);
        foreach (int d in shape) raw.Write([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
        raw.Write(data);
        if (!gzip) return raw.ToArray();
        var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true)) raw.WriteTo(z);
        return gz.ToArray();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsShapeAndData(bool gzip)
    {
        var data = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)i).ToArray();
        var array = IdxReader.Read(new MemoryStream(Idx([2, 3, 4], data, gzip)));
        Assert.Equal([2, 3, 4], array.Shape);
        Assert.Equal(data, array.Data);
        Assert.Equal(2, array.Count);
        Assert.Equal(12, array.ItemSize);
        Assert.Equal(data[12..24], array.Item(1).ToArray());
    }

    [Fact]
    public void FileRoundTripWithGzipExtension()
    {
        using var dir = new TempDir();
        string path = dir.Combine("labels-idx1-ubyte.gz");
        File.WriteAllBytes(path, Idx([5], [9, 8, 7, 6, 5], gzip: true));
        Assert.Equal([9, 8, 7, 6, 5], IdxReader.Read(path).Data);
    }

    [Fact]
    public void BadFilesAreRejectedBeforeAllocating()
    {
        Assert.Throws<InvalidDataException>(() => IdxReader.Read(new MemoryStream([1, 2, 8, 1, 0, 0, 0, 1, 0])));      // magic
        Assert.Throws<InvalidDataException>(() => IdxReader.Read(new MemoryStream([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0]))); // float
        Assert.Throws<EndOfStreamException>(() => IdxReader.Read(new MemoryStream(Idx([10], [1, 2, 3], gzip: false))));    // truncated
        // 65535^3 bytes declared: refused from the header, not by running out of memory.
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<InvalidDataException>(() => IdxReader.Read(new MemoryStream(Idx([65535, 65535, 65535], [], gzip: false))));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1_000_000);
    }

    [DirectoryFact(FashionMnist.DefaultDir)]
    public void DebianFashionMnistFilesLoad()
    {
        var labels = IdxReader.Read(Path.Combine(FashionMnist.DefaultDir, "t10k-labels-idx1-ubyte.gz"));
        Assert.Equal([10000], labels.Shape);
        Assert.All(Enumerable.Range(0, 10), c => Assert.Equal(1000, labels.Data.Count(l => l == c)));

        var ds = FashionMnist.Load(trainPerClass: 5, valPerClass: 3, seed: 1);
        Assert.Equal(10, ds.Classes.Count);
        Assert.Equal((50, 30), (ds.Train.Count, ds.Val.Count));
        Assert.All(Enumerable.Range(0, 10), c => Assert.Equal(5, ds.Train.Count(s => s.Label == c)));
        var img = ds.Source.Decode(ds.Train[0]);
        Assert.Equal((28, 28), (img.Width, img.Height));
        Assert.Contains(img.Rgb, b => b > 0);
        Assert.Equal(ds.Train, FashionMnist.Load(trainPerClass: 5, valPerClass: 3, seed: 1).Train);
    }
}
