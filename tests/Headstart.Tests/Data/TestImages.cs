using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using SkiaSharp;

namespace Headstart.Tests.Data;

/// <summary>
/// Builds test images in memory. SkiaSharp encodes JPEG/PNG/WebP; the formats and variants it cannot write (GIF,
/// animated GIF, BMP, 16-bit PNG, exact RGBA PNG, EXIF orientation, bomb headers) are assembled byte by byte here.
/// </summary>
public static class TestImages
{
    public delegate (byte R, byte G, byte B, byte A) Pixel(int x, int y);

    public static Pixel Solid(byte r, byte g, byte b) => (_, _) => (r, g, b, 255);

    /// <summary>Four flat quadrants: red, green / blue, white (top-left, top-right / bottom-left, bottom-right).</summary>
    public static Pixel Quadrants(int w, int h) => (x, y) => (x < w / 2, y < h / 2) switch
    {
        (true, true) => (255, 0, 0, 255),
        (false, true) => (0, 255, 0, 255),
        (true, false) => (0, 0, 255, 255),
        _ => (255, 255, 255, 255),
    };

    public static byte[] Encode(int w, int h, Pixel pixel, SKEncodedImageFormat format, int quality = 95)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (r, g, b, a) = pixel(x, y);
                bitmap.SetPixel(x, y, new SKColor(r, g, b, a));
            }
        using var data = bitmap.Encode(format, quality) ?? throw new InvalidOperationException($"Skia cannot encode {format}");
        return data.ToArray();
    }

    public static byte[] Jpeg(int w, int h, Pixel pixel, int quality = 95) => Encode(w, h, pixel, SKEncodedImageFormat.Jpeg, quality);

    /// <summary>Inserts an EXIF APP1 segment holding only an Orientation tag right after the JPEG's SOI marker.</summary>
    public static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        var tiff = new List<byte>();
        tiff.AddRange("II*\0"u8.ToArray());            // little-endian TIFF
        tiff.AddRange(BitConverter.GetBytes(8u));       // first IFD at offset 8
        tiff.AddRange(BitConverter.GetBytes((ushort)1)); // one entry
        tiff.AddRange(BitConverter.GetBytes((ushort)0x0112)); // Orientation
        tiff.AddRange(BitConverter.GetBytes((ushort)3)); // SHORT
        tiff.AddRange(BitConverter.GetBytes(1u));       // count
        tiff.AddRange(BitConverter.GetBytes((uint)orientation));
        tiff.AddRange(BitConverter.GetBytes(0u));       // no next IFD
        var payload = "Exif\0\0"u8.ToArray().Concat(tiff).ToArray();
        int length = payload.Length + 2;
        return [.. jpeg[..2], 0xFF, 0xE1, (byte)(length >> 8), (byte)length, .. payload, .. jpeg[2..]];
    }

    /// <summary>Rewrites the size in a JPEG's SOF0/SOF2 segment (a "bomb" header over tiny data).</summary>
    public static byte[] WithJpegSize(byte[] jpeg, int width, int height)
    {
        var copy = (byte[])jpeg.Clone();
        for (int i = 2; i + 9 < copy.Length;)
        {
            byte marker = copy[i + 1];
            int length = (copy[i + 2] << 8) | copy[i + 3];
            if (marker is 0xC0 or 0xC2)
            {
                BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(i + 5), (ushort)height);
                BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(i + 7), (ushort)width);
                return copy;
            }
            i += 2 + length;
        }
        throw new InvalidOperationException("no SOF segment");
    }

    /// <summary>A PNG written chunk by chunk. colorType: 0 gray, 2 RGB, 6 RGBA; bitDepth 8 or 16 (samples big-endian).
    /// <paramref name="declaredWidth"/>/<paramref name="declaredHeight"/> override IHDR only (bomb headers).</summary>
    public static byte[] Png(int w, int h, Pixel pixel, int colorType = 2, int bitDepth = 8, int? declaredWidth = null,
        int? declaredHeight = null)
    {
        int channels = colorType switch { 0 => 1, 2 => 3, 6 => 4, _ => throw new ArgumentException("colorType") };
        int bytesPerSample = bitDepth / 8;
        var raw = new MemoryStream();
        for (int y = 0; y < h; y++)
        {
            raw.WriteByte(0); // filter: none
            for (int x = 0; x < w; x++)
            {
                var (r, g, b, a) = pixel(x, y);
                byte[] samples = channels switch { 1 => [r], 3 => [r, g, b], _ => [r, g, b, a] };
                foreach (byte s in samples)
                {
                    raw.WriteByte(s);
                    if (bytesPerSample == 2) raw.WriteByte(s); // 16-bit sample = s * 257
                }
            }
        }
        var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true)) raw.WriteTo(z);
        var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, declaredWidth ?? w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), declaredHeight ?? h);
        ihdr[8] = (byte)bitDepth;
        ihdr[9] = (byte)colorType;
        Chunk(png, "IHDR", ihdr);
        Chunk(png, "IDAT", idat.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len);
        byte[] typeAndData = [.. Encoding.ASCII.GetBytes(type), .. data];
        s.Write(typeAndData);
        BinaryPrimitives.WriteUInt32BigEndian(len, Crc32(typeAndData));
        s.Write(len);
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>A 24-bit bottom-up BMP.</summary>
    public static byte[] Bmp(int w, int h, Pixel pixel)
    {
        int stride = (w * 3 + 3) & ~3;
        var bmp = new byte[54 + stride * h];
        "BM"u8.CopyTo(bmp);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(2), bmp.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), w);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), h);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(28), 24);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (r, g, b, _) = pixel(x, y);
                int o = 54 + (h - 1 - y) * stride + 3 * x;
                bmp[o] = b; bmp[o + 1] = g; bmp[o + 2] = r;
            }
        return bmp;
    }

    /// <summary>A GIF with a 4-colour palette and one frame per entry of <paramref name="frames"/> (palette indices,
    /// row-major). LZW: a Clear code before every pair of pixels keeps the code width at 3 bits — valid, if not small.</summary>
    public static byte[] Gif(int w, int h, (byte R, byte G, byte B)[] palette, params byte[][] frames)
    {
        var s = new MemoryStream();
        s.Write("GIF89a"u8);
        s.Write([(byte)w, (byte)(w >> 8), (byte)h, (byte)(h >> 8), 0x81, 0, 0]); // global table of 4 colours
        for (int i = 0; i < 4; i++)
        {
            var c = i < palette.Length ? palette[i] : ((byte)0, (byte)0, (byte)0);
            s.Write([c.Item1, c.Item2, c.Item3]);
        }
        if (frames.Length > 1)
            s.Write([0x21, 0xFF, 11, .. "NETSCAPE2.0"u8, 3, 1, 0, 0, 0]); // loop forever
        foreach (var frame in frames)
        {
            s.Write([0x21, 0xF9, 4, 0x04, 10, 0, 0, 0]); // graphic control: 100 ms, keep previous frame
            s.Write([0x2C, 0, 0, 0, 0, (byte)w, (byte)(w >> 8), (byte)h, (byte)(h >> 8), 0]);
            s.WriteByte(2); // LZW minimum code size
            var data = Lzw(frame);
            for (int i = 0; i < data.Length; i += 255)
            {
                int n = Math.Min(255, data.Length - i);
                s.WriteByte((byte)n);
                s.Write(data, i, n);
            }
            s.WriteByte(0);
        }
        s.WriteByte(0x3B);
        return s.ToArray();
    }

    private static byte[] Lzw(byte[] indices)
    {
        const int clear = 4, end = 5, width = 3;
        var codes = new List<int>();
        for (int i = 0; i < indices.Length; i++)
        {
            if (i % 2 == 0) codes.Add(clear);
            codes.Add(indices[i]);
        }
        codes.Add(end);
        var bytes = new List<byte>();
        int acc = 0, bits = 0;
        foreach (int code in codes)
        {
            acc |= code << bits;
            bits += width;
            while (bits >= 8) { bytes.Add((byte)acc); acc >>= 8; bits -= 8; }
        }
        if (bits > 0) bytes.Add((byte)acc);
        return [.. bytes];
    }

    /// <summary>
    /// A 16x8 CMYK JPEG (Adobe APP14, 4 components) written by PIL 9.4 (SkiaSharp cannot encode CMYK):
    /// <c>Image.new('CMYK', (16, 8), (0, 0, 0, 0)); paste((0, 0, 0, 255), (8, 0, 16, 8)); save(quality=95)</c>
    /// — left half white, right half black.
    /// </summary>
    public static byte[] CmykJpeg => Convert.FromBase64String(CmykJpegBase64);

    private const string CmykJpegBase64 = "/9j/7gAOQWRvYmUAZAAAAAAA/9sAQwACAQEBAQECAQEBAgICAgIEAwICAgIFBAQDBAYFBgYGBQYGBgcJCAYHCQcGBggLCAkKCgoKCgYICwwLCgwJCgoK/8AAFAgACAAQBEMRAE0RAFkRAEsRAP/EAB8AAAEFAQEBAQEBAAAAAAAAAAABAgMEBQYHCAkKC//EALUQAAIBAwMCBAMFBQQEAAABfQECAwAEEQUSITFBBhNRYQcicRQygZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6g4SFhoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2drh4uPk5ebn6Onq8fLz9PX29/j5+v/aAA4EQwBNAFkASwAAPwD9/K/fyv38r9/KKKK/gDr/2Q==";
}
