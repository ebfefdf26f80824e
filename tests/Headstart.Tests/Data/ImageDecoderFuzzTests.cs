using CsCheck;
using Headstart.Data;
using SkiaSharp;
using Xunit;
using static Headstart.Tests.Data.TestImages;

namespace Headstart.Tests.Data;

/// <summary>
/// Bounded property tests of the image loader on hostile bytes: whatever the input, the only exception is
/// ImageDecodeException and managed allocation stays under a bound set by the pixel limit.
/// </summary>
public sealed class ImageDecoderFuzzTests
{
    // 1 MP limit: RGBA scratch (4 MB, pooled) + RGB output (3 MB) + codec bookkeeping.
    private static readonly DecodeOptions Limits = new() { MaxPixels = 1_000_000 };
    private const long AllocationBound = 16_000_000;

    private static readonly byte[][] Seeds =
    [
        Jpeg(48, 32, Quadrants(48, 32), quality: 90),
        Png(24, 16, Quadrants(24, 16), colorType: 6),
        Png(24, 16, Quadrants(24, 16), colorType: 0, bitDepth: 16),
        Gif(8, 8, [(255, 0, 0), (0, 0, 255)], new byte[64], Enumerable.Repeat((byte)1, 64).ToArray()),
        Bmp(9, 7, Quadrants(9, 7)),
        Encode(20, 20, Quadrants(20, 20), SKEncodedImageFormat.Webp, 80),
        WithExifOrientation(Jpeg(16, 16, Quadrants(16, 16)), 6),
    ];

    /// <summary>Cases per property: bounded for CI; HEADSTART_FUZZ_ITER raises it for a longer local run.</summary>
    private static long Iterations(long ci) =>
        long.TryParse(Environment.GetEnvironmentVariable("HEADSTART_FUZZ_ITER"), out long n) && n > 0 ? n : ci;

    private static void DecodeBounded(byte[] bytes)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            var img = ImageDecoder.Decode(bytes, Limits, minShortSide: bytes.Length % 2 == 0 ? 0 : 64);
            Assert.Equal((long)img.Width * img.Height * 3, img.Rgb.LongLength);
            ImageDecoder.Probe(bytes);
        }
        catch (ImageDecodeException ex)
        {
            Assert.False(string.IsNullOrWhiteSpace(ex.Reason));
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < AllocationBound, $"allocated {allocated} bytes");
    }

    [Fact]
    public void RandomBytesNeverEscapeAsOtherExceptions() =>
        Gen.Byte.Array[0, 4096].Sample(DecodeBounded, iter: Iterations(300), threads: 1);

    [Fact]
    public void MutatedRealHeadersNeverEscapeAsOtherExceptions()
    {
        // Overwrite 1-8 bytes (biased to the first 64: headers, sizes, segment lengths), then maybe truncate.
        var gen =
            from seed in Gen.Int[0, Seeds.Length - 1]
            from edits in Gen.Select(Gen.Int[0, 4095], Gen.Byte, Gen.Bool).Array[1, 8]
            from cut in Gen.Int[0, 100]
            select Mutate(Seeds[seed], edits, cut);
        gen.Sample(DecodeBounded, iter: Iterations(400), threads: 1);
    }

    private static byte[] Mutate(byte[] original, (int Pos, byte Value, bool Head)[] edits, int cut)
    {
        var bytes = (byte[])original.Clone();
        foreach (var (pos, value, head) in edits) bytes[head ? pos % Math.Min(64, bytes.Length) : pos % bytes.Length] = value;
        return cut < 20 ? bytes[..(bytes.Length * cut / 20)] : bytes;
    }
}
