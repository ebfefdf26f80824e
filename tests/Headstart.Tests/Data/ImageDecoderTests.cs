using Headstart.Data;
using Headstart.Tests.TestSupport;
using SkiaSharp;
using Xunit;
using static Headstart.Tests.Data.TestImages;

namespace Headstart.Tests.Data;

public sealed class ImageDecoderTests
{
    private static (byte R, byte G, byte B) At(DecodedImage img, int x, int y)
    {
        int o = 3 * (y * img.Width + x);
        return (img.Rgb[o], img.Rgb[o + 1], img.Rgb[o + 2]);
    }

    private static string Name((byte R, byte G, byte B) c) => c switch
    {
        ( > 200, < 60, < 60) => "red",
        ( < 60, > 200, < 60) => "green",
        ( < 60, < 60, > 200) => "blue",
        ( > 200, > 200, > 200) => "white",
        _ => $"{c}",
    };

    // Expected quadrants (TL, TR, BL, BR) after orientation, as PIL's ImageOps.exif_transpose gives for the same
    // stored image (checked with PIL 9.4 when this test was written).
    [Theory]
    [InlineData(1, 32, 16, "red", "green", "blue", "white")]
    [InlineData(2, 32, 16, "green", "red", "white", "blue")]
    [InlineData(3, 32, 16, "white", "blue", "green", "red")]
    [InlineData(4, 32, 16, "blue", "white", "red", "green")]
    [InlineData(5, 16, 32, "red", "blue", "green", "white")]
    [InlineData(6, 16, 32, "blue", "red", "white", "green")]
    [InlineData(7, 16, 32, "white", "green", "blue", "red")]
    [InlineData(8, 16, 32, "green", "white", "red", "blue")]
    public void ExifOrientationIsApplied(ushort orientation, int w, int h, string tl, string tr, string bl, string br)
    {
        var jpeg = WithExifOrientation(Jpeg(32, 16, Quadrants(32, 16), quality: 100), orientation);
        var img = ImageDecoder.Decode(jpeg);
        Assert.Equal((w, h), (img.Width, img.Height));
        Assert.Equal([tl, tr, bl, br], new[] { At(img, 2, 2), At(img, w - 3, 2), At(img, 2, h - 3), At(img, w - 3, h - 3) }.Select(Name));
        var header = ImageDecoder.Probe(jpeg);
        Assert.Equal((w, h), (header.Width, header.Height));
    }

    [Fact]
    public void GrayscalePngBecomesRgb()
    {
        var png = Png(8, 4, (x, _) => ((byte)(x * 30), 0, 0, 255), colorType: 0);
        Assert.True(ImageDecoder.Probe(png).IsGrayscale);
        var img = ImageDecoder.Decode(png);
        Assert.Equal((90, 90, 90), ((int)At(img, 3, 1).R, (int)At(img, 3, 1).G, (int)At(img, 3, 1).B));
    }

    [Fact]
    public void AlphaIsDroppedKeepingTheStoredColour()
    {
        // PIL's convert('RGB') keeps the colour of a fully transparent pixel; a premultiplied decode would give black.
        var png = Png(4, 4, (x, _) => (200, 100, 50, (byte)(x * 60)), colorType: 6);
        Assert.True(ImageDecoder.Probe(png).HasAlpha);
        var img = ImageDecoder.Decode(png);
        for (int x = 0; x < 4; x++) Assert.Equal(((byte)200, (byte)100, (byte)50), At(img, x, 0));
    }

    [Fact]
    public void CmykJpegBecomesRgbLikePil()
    {
        var header = ImageDecoder.Probe(CmykJpeg);
        Assert.True(header.IsCmyk);
        var img = ImageDecoder.Decode(CmykJpeg);
        Assert.Equal((16, 8), (img.Width, img.Height));
        Assert.Equal("white", Name(At(img, 2, 4))); // PIL gives (255, 255, 255)
        var right = At(img, 13, 4);                  // PIL gives (0, 0, 0)
        Assert.True(right.R < 20 && right.G < 20 && right.B < 20, $"{right}");
    }

    [Fact]
    public void SixteenBitPngIsReducedTo8Bit()
    {
        var png = Png(4, 2, (_, y) => (y == 0 ? (byte)255 : (byte)128, 64, 0, 255), colorType: 2, bitDepth: 16);
        var img = ImageDecoder.Decode(png);
        Assert.Equal(((byte)255, (byte)64, (byte)0), At(img, 1, 0));
        Assert.Equal(((byte)128, (byte)64, (byte)0), At(img, 1, 1));
    }

    [Fact]
    public void GifDecodesFirstFrameOnly()
    {
        (byte, byte, byte)[] palette = [(255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 255)];
        var still = Gif(4, 2, palette, [0, 0, 1, 1, 0, 0, 1, 1]);
        var img = ImageDecoder.Decode(still);
        Assert.Equal("red", Name(At(img, 0, 0)));
        Assert.Equal("blue", Name(At(img, 3, 1)));

        var animated = Gif(4, 2, palette, [0, 0, 0, 0, 0, 0, 0, 0], [2, 2, 2, 2, 2, 2, 2, 2]);
        Assert.Equal(2, ImageDecoder.Probe(animated).FrameCount);
        var first = ImageDecoder.Decode(animated);
        Assert.All(Enumerable.Range(0, 4), x => Assert.Equal("red", Name(At(first, x, 1))));
    }

    [Fact]
    public void BmpAndWebpDecode()
    {
        var bmp = ImageDecoder.Decode(Bmp(5, 3, Quadrants(5, 3)));
        Assert.Equal((5, 3), (bmp.Width, bmp.Height));
        Assert.Equal("red", Name(At(bmp, 0, 0)));
        var webp = ImageDecoder.Decode(Encode(20, 10, Quadrants(20, 10), SKEncodedImageFormat.Webp, 100));
        Assert.Equal("white", Name(At(webp, 17, 8)));
    }

    [Fact]
    public void OneByOneImageDecodes()
    {
        var img = ImageDecoder.Decode(Png(1, 1, Solid(10, 20, 30)));
        Assert.Equal([10, 20, 30], img.Rgb);
    }

    [Fact]
    public void BombHeaderIsRefusedBeforeAllocating()
    {
        // 20000 x 20000 declared in the header, a few bytes of data: 1.6 GB if the decoder trusted it.
        var pngBomb = Png(1, 1, Solid(0, 0, 0), declaredWidth: 20000, declaredHeight: 20000);
        var jpegBomb = WithJpegSize(Jpeg(16, 16, Solid(9, 9, 9)), 20000, 20000);
        foreach (var bomb in new[] { pngBomb, jpegBomb })
        {
            Assert.Equal(400_000_000, ImageDecoder.Probe(bomb).Pixels);
            long before = GC.GetAllocatedBytesForCurrentThread();
            var ex = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(bomb));
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Contains("20000x20000", ex.Reason);
            Assert.Contains("limit", ex.Reason);
            Assert.True(allocated < 1_000_000, $"allocated {allocated} bytes before refusing");
        }
        // The limit is configurable both ways.
        Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(Png(100, 100, Solid(1, 2, 3)), new DecodeOptions { MaxPixels = 5_000 }));
        Assert.Equal(100, ImageDecoder.Decode(Png(100, 100, Solid(1, 2, 3)), new DecodeOptions { MaxPixels = 10_000 }).Width);
    }

    [Fact]
    public void LargeJpegDecodesAtReducedScaleAboveTheHint()
    {
        var jpeg = Jpeg(1600, 1200, Solid(120, 60, 30), quality: 80);
        var full = ImageDecoder.Decode(jpeg);
        Assert.Equal((1600, 1200), (full.Width, full.Height));
        var scaled = ImageDecoder.Decode(jpeg, minShortSide: 512);
        Assert.True(scaled.Height >= 512 && scaled.Height < 1200, $"{scaled.Width}x{scaled.Height}");
        Assert.Equal(4.0 / 3, (double)scaled.Width / scaled.Height, 2);
        Assert.InRange(At(scaled, 10, 10).R, 115, 125);
        // PNG cannot scale at decode time: full size comes back, never smaller than the hint.
        var png = ImageDecoder.Decode(Png(600, 300, Solid(1, 2, 3)), minShortSide: 100);
        Assert.Equal(600, png.Width);
    }

    public static TheoryData<string, string> BadInputs => new()
    {
        { "zero-byte.jpg", "empty file" },
        { "truncated.jpg", "truncated" },
        { "random.jpg", "not a supported image" },
        { "text.png", "text file" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadFilesGiveReasons(string name, string reason)
    {
        using var dir = new TempDir();
        string path = dir.Combine(name);
        File.WriteAllBytes(path, Corpus(name));
        var ex = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(path));
        Assert.Contains(reason, ex.Reason);
    }

    internal static byte[] Corpus(string name) => name switch
    {
        "zero-byte.jpg" => [],
        "truncated.jpg" => Truncated(Jpeg(96, 96, (x, y) => ((byte)(x * 2), (byte)(y * 2), (byte)(x * y), 255), quality: 95)),
        "random.jpg" => RandomBytes(2048, 7),
        "text.png" => "this is not a picture\nreally, just text\n"u8.ToArray(),
        _ => throw new ArgumentException(name),
    };

    private static byte[] Truncated(byte[] jpeg) => jpeg[..(jpeg.Length * 2 / 3)];

    internal static byte[] RandomBytes(int n, int seed)
    {
        var bytes = new byte[n];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public void UnicodePathWithSpacesDecodes()
    {
        using var dir = new TempDir();
        string path = dir.Combine("fleurs d'été 🌻", "tournesol n°1 — ok.jpg");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, Jpeg(10, 10, Solid(0, 0, 200)));
        Assert.Equal(10, ImageDecoder.Decode(path).Width);
    }

    [Fact]
    public void SymlinkLoopAndMissingFileGiveReasons()
    {
        using var dir = new TempDir();
        string loop = dir.Combine("loop.jpg");
        File.CreateSymbolicLink(loop, loop);
        var ex = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(loop));
        Assert.Contains("cannot read", ex.Reason);
        Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(dir.Combine("absent.jpg")));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void UnreadableFileIsReportedOrReadAsRoot()
    {
        using var dir = new TempDir();
        string path = dir.Combine("locked.jpg");
        File.WriteAllBytes(path, Jpeg(8, 8, Solid(5, 5, 5)));
        File.SetUnixFileMode(path, UnixFileMode.None);
        try
        {
            // root (CI containers) bypasses file modes: then it simply decodes.
            var img = ImageDecoder.Decode(path);
            Assert.True(IsRoot(), "a non-root user read a chmod 000 file");
            Assert.Equal(8, img.Width);
        }
        catch (ImageDecodeException ex)
        {
            Assert.False(IsRoot());
            Assert.Contains("permission denied", ex.Reason);
        }
        finally
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    internal static bool IsRoot() => Environment.UserName == "root";
}
