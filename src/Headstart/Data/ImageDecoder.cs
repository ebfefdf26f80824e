using System.Buffers;
using System.Runtime.InteropServices;
using SkiaSharp;

namespace Headstart.Data;

/// <summary>Limits and policy for decoding untrusted image files.</summary>
public sealed record DecodeOptions
{
    /// <summary>Images whose header declares more pixels are refused before any pixel buffer is allocated.</summary>
    public long MaxPixels { get; init; } = 100_000_000;
    /// <summary>Larger files are refused without being read.</summary>
    public long MaxFileBytes { get; init; } = 1L << 30;
    /// <summary>PIL refuses truncated files by default (LOAD_TRUNCATED_IMAGES = False); so do we, since Skia would
    /// otherwise fill the missing rows with black and train on them.</summary>
    public bool AllowTruncated { get; init; }

    public static DecodeOptions Default { get; } = new();
}

/// <summary>What a header says about an image, without decoding its pixels.</summary>
/// <param name="Width">Width as displayed, after EXIF orientation.</param>
/// <param name="Height">Height as displayed, after EXIF orientation.</param>
/// <param name="Format">"jpeg", "png", "gif", "bmp", "webp", ...</param>
/// <param name="IsGrayscale">Single-channel encoding.</param>
/// <param name="HasAlpha">The encoding carries an alpha channel (dropped when decoding, like PIL's convert('RGB')).</param>
/// <param name="IsCmyk">A 4-component (CMYK/YCCK) JPEG.</param>
/// <param name="FrameCount">Frames in an animation (only the first is used), 1 for still images.</param>
/// <param name="Origin">EXIF orientation.</param>
public sealed record ImageHeader(int Width, int Height, string Format, bool IsGrayscale, bool HasAlpha, bool IsCmyk,
    int FrameCount, SKEncodedOrigin Origin)
{
    public long Pixels => (long)Width * Height;
}

/// <summary>
/// Decodes JPEG, PNG, GIF (first frame), BMP and WebP with SkiaSharp into <see cref="DecodedImage"/> RGB: EXIF
/// orientation applied, gray/CMYK expanded, alpha dropped (decoded unpremultiplied, as PIL's convert('RGB') does), no
/// colour management (PIL ignores ICC profiles too). Every failure is an <see cref="ImageDecodeException"/> with a reason.
/// </summary>
public static class ImageDecoder
{
    /// <summary>File extensions treated as images (lower case, with the dot), as torchvision's IMG_EXTENSIONS plus WebP.</summary>
    public static IReadOnlySet<string> Extensions { get; } =
        new HashSet<string>([".jpg", ".jpeg", ".jfif", ".png", ".gif", ".bmp", ".webp"], StringComparer.OrdinalIgnoreCase);

    public static bool HasImageExtension(string path) => Extensions.Contains(Path.GetExtension(path));

    /// <summary>Decodes a file. <paramref name="minShortSide"/> &gt; 0 lets large JPEGs/WebPs decode at a reduced scale
    /// whose shorter side stays &gt;= it (libjpeg-turbo's DCT scaling: cheaper and still a proper low-pass).</summary>
    public static DecodedImage Decode(string path, DecodeOptions? options = null, int minShortSide = 0) =>
        Guard(path, () =>
        {
            options ??= DecodeOptions.Default;
            using var file = EncodedBytes.Read(path, options.MaxFileBytes);
            return DecodeCore(file.Span, options, minShortSide);
        });

    /// <summary>Decodes encoded bytes (same rules as the file overload).</summary>
    public static DecodedImage Decode(byte[] encoded, DecodeOptions? options = null, int minShortSide = 0) =>
        Guard(null, () => DecodeCore(encoded, options ?? DecodeOptions.Default, minShortSide));

    /// <summary>Reads only the header: size, format, colour type, orientation. Cheap (reads at most the first
    /// 256 KB unless the header runs longer); used to screen files early.</summary>
    public static ImageHeader Probe(string path, DecodeOptions? options = null) =>
        Guard(path, () =>
        {
            options ??= DecodeOptions.Default;
            using (var head = EncodedBytes.Read(path, options.MaxFileBytes, limit: 256 * 1024))
            {
                if (!head.Partial) return ProbeCore(head.Span);
                try
                {
                    return ProbeCore(head.Span);
                }
                catch (ImageDecodeException) { } // header longer than the prefix (huge EXIF/ICC): read it all
            }
            using var file = EncodedBytes.Read(path, options.MaxFileBytes);
            return ProbeCore(file.Span);
        });

    public static ImageHeader Probe(byte[] encoded) => Guard(null, () => ProbeCore(encoded));

    private static T Guard<T>(string? path, Func<T> body)
    {
        try
        {
            return body();
        }
        catch (ImageDecodeException)
        {
            throw;
        }
        catch (FileNotFoundException) { throw new ImageDecodeException("file not found"); }
        catch (DirectoryNotFoundException) { throw new ImageDecodeException("folder not found"); }
        catch (UnauthorizedAccessException ex) { throw new ImageDecodeException("permission denied (check the file's read permission)", ex); }
        catch (IOException ex)
        {
            // e.g. ELOOP for a symlink loop, EIO on a failing disk: the OS message is the useful part.
            throw new ImageDecodeException($"cannot read{(path is null ? "" : " file")}: {ex.Message}", ex);
        }
        catch (OutOfMemoryException ex) { throw new ImageDecodeException("not enough memory to decode this image", ex); }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Native decoders surface odd inputs as assorted exceptions; one bad image must never stop a run.
            throw new ImageDecodeException($"decoder error: {ex.GetType().Name}: {ex.Message}", ex);
        }
    }

    private static SKCodec CreateCodec(SKData data, ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) throw new ImageDecodeException("empty file (0 bytes)");
        // Codecs read from native memory (SKData), never through a managed-stream callback: an exception thrown in
        // such a callback (hostile sizes) cannot be caught and would take the process down.
        using var stream = new SKMemoryStream(data); // native stream; the codec takes ownership when it succeeds
        var codec = SKCodec.Create(stream, out var result);
        if (codec is null)
        {
            throw new ImageDecodeException(result switch
            {
                SKCodecResult.IncompleteInput => "truncated header",
                SKCodecResult.Unimplemented or SKCodecResult.InvalidInput or SKCodecResult.ErrorInInput =>
                    $"not a supported image (JPEG, PNG, GIF, BMP, WebP){Sniff(bytes)}",
                _ => $"cannot decode ({result})",
            });
        }
        return codec;
    }

    private static ImageHeader ProbeCore(ReadOnlySpan<byte> bytes)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = CreateCodec(data, bytes);
        var info = codec.Info;
        var origin = codec.EncodedOrigin;
        bool swap = SwapsAxes(origin);
        var format = codec.EncodedFormat;
        bool cmyk = format == SKEncodedImageFormat.Jpeg && JpegComponents(bytes) == 4;
        return new ImageHeader(swap ? info.Height : info.Width, swap ? info.Width : info.Height,
            format.ToString().ToLowerInvariant(), info.ColorType == SKColorType.Gray8, info.AlphaType != SKAlphaType.Opaque,
            cmyk, Math.Max(1, codec.FrameCount), origin);
    }

    private static DecodedImage DecodeCore(ReadOnlySpan<byte> bytes, DecodeOptions options, int minShortSide)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = CreateCodec(data, bytes);
        var info = codec.Info;
        if (info.Width <= 0 || info.Height <= 0) throw new ImageDecodeException($"invalid size {info.Width}x{info.Height}");
        long pixels = (long)info.Width * info.Height;
        if (pixels > options.MaxPixels)
            throw new ImageDecodeException(
                $"header declares {info.Width}x{info.Height} ({pixels / 1e6:F0} MP), over the {options.MaxPixels / 1e6:F0} MP " +
                "limit (possible decompression bomb; raise the pixel limit if the image is genuine)");

        var size = new SKSizeI(info.Width, info.Height);
        int shortSide = Math.Min(info.Width, info.Height);
        if (minShortSide > 0 && shortSide > minShortSide)
        {
            // Skia rounds to the nearest supported scale (k/8 for JPEG), possibly below the hint: step up until it fits.
            for (float scale = (float)minShortSide / shortSide; scale < 1; scale += 1f / 16)
            {
                var scaled = codec.GetScaledDimensions(scale);
                if (Math.Min(scaled.Width, scaled.Height) < minShortSide) continue;
                size = scaled;
                break;
            }
        }

        // Unpremultiplied RGBA: alpha is then simply dropped, keeping the stored colour (PIL's convert('RGB')).
        var dstInfo = new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        byte[] rgba = ArrayPool<byte>.Shared.Rent(checked(dstInfo.BytesSize));
        try
        {
            SKCodecResult result;
            unsafe
            {
                fixed (byte* p = rgba) result = codec.GetPixels(dstInfo, (IntPtr)p);
            }
            if (result == SKCodecResult.IncompleteInput && !options.AllowTruncated)
                throw new ImageDecodeException("truncated or corrupt image data (the file ends early)");
            if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
                throw new ImageDecodeException($"corrupt image data ({result})");
            return ToRgb(rgba, size.Width, size.Height, codec.EncodedOrigin);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgba);
        }
    }

    private static bool SwapsAxes(SKEncodedOrigin origin) => origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop
        or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;

    /// <summary>Drops alpha and applies the EXIF orientation in one pass (an exact index permutation, no resampling;
    /// the same result as PIL's ImageOps.exif_transpose).</summary>
    // Hot loop of a short-lived process: compiled fully optimised at once instead of starting as tier-0 code.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static DecodedImage ToRgb(byte[] rgba, int w, int h, SKEncodedOrigin origin)
    {
        bool swap = SwapsAxes(origin);
        int outW = swap ? h : w, outH = swap ? w : h;
        var rgb = new byte[(long)outW * outH * 3];
        var src = MemoryMarshal.Cast<byte, uint>(rgba.AsSpan(0, w * h * 4));
        int o = 0;
        if (origin == SKEncodedOrigin.TopLeft)
        {
            foreach (uint px in src)
            {
                rgb[o++] = (byte)px;
                rgb[o++] = (byte)(px >> 8);
                rgb[o++] = (byte)(px >> 16);
            }
            return new DecodedImage(outW, outH, rgb);
        }
        for (int y = 0; y < outH; y++)
        {
            for (int x = 0; x < outW; x++)
            {
                // Source pixel (sx, sy) in the stored raster for display pixel (x, y).
                (int sx, int sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (w - 1 - x, y),        // 2: mirrored
                    SKEncodedOrigin.BottomRight => (w - 1 - x, h - 1 - y), // 3: rotated 180
                    SKEncodedOrigin.BottomLeft => (x, h - 1 - y),      // 4: flipped vertically
                    SKEncodedOrigin.LeftTop => (y, x),                 // 5: transposed
                    SKEncodedOrigin.RightTop => (y, h - 1 - x),        // 6: needs 90° clockwise
                    SKEncodedOrigin.RightBottom => (w - 1 - y, h - 1 - x), // 7: transversed
                    SKEncodedOrigin.LeftBottom => (w - 1 - y, x),      // 8: needs 90° anticlockwise
                    _ => (x, y),
                };
                uint px = src[sy * w + sx]; // little-endian RGBA8888: R in the low byte
                rgb[o++] = (byte)px;
                rgb[o++] = (byte)(px >> 8);
                rgb[o++] = (byte)(px >> 16);
            }
        }
        return new DecodedImage(outW, outH, rgb);
    }

    /// <summary>Number of colour components in a JPEG's SOF segment (4 = CMYK/YCCK), or 0 when not found. Walks the
    /// marker segments by their lengths.</summary>
    internal static int JpegComponents(ReadOnlySpan<byte> jpeg)
    {
        if (jpeg.Length < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8) return 0;
        int i = 2;
        while (i + 4 <= jpeg.Length && jpeg[i] == 0xFF)
        {
            byte marker = jpeg[i + 1];
            int length = (jpeg[i + 2] << 8) | jpeg[i + 3];
            bool sof = marker is >= 0xC0 and <= 0xCF && marker is not (0xC4 or 0xC8 or 0xCC);
            if (sof) return i + 9 < jpeg.Length ? jpeg[i + 9] : 0; // length(2) precision(1) height(2) width(2) components(1)
            if (marker is 0xD9 or 0xDA || length < 2) return 0;
            i += 2 + length;
        }
        return 0;
    }

    private static string Sniff(ReadOnlySpan<byte> bytes)
    {
        var head = bytes[..Math.Min(bytes.Length, 64)];
        if (head.IndexOf((byte)0) < 0 && IsMostlyText(head)) return "; it looks like a text file";
        return head.StartsWith("RIFF"u8) ? "; RIFF container but not WebP" : "";
    }

    private static bool IsMostlyText(ReadOnlySpan<byte> bytes)
    {
        int printable = 0;
        foreach (byte c in bytes) if (c is >= 0x20 and < 0x7F or (byte)'\n' or (byte)'\r' or (byte)'\t') printable++;
        return printable * 10 >= bytes.Length * 9;
    }
}

/// <summary>A file's bytes in a pooled buffer (returned on dispose, on every path).</summary>
internal readonly struct EncodedBytes : IDisposable
{
    private readonly byte[] _buffer;
    private readonly int _length;

    private EncodedBytes(byte[] buffer, int length, bool partial)
    {
        _buffer = buffer;
        _length = length;
        Partial = partial;
    }

    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, _length);

    /// <summary>Only the first <c>limit</c> bytes were read.</summary>
    public bool Partial { get; }

    public static EncodedBytes Read(string path, long maxFileBytes, int limit = int.MaxValue)
    {
        // stat before open: opening a named pipe blocks until a writer comes, and a device (/dev/zero) never ends.
        if (IO.SpecialFiles.IsEmptyOrSpecial(path)) throw new ImageDecodeException(EmptyOrSpecial);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        long length = file.Length;
        if (length > maxFileBytes || length > Array.MaxLength)
            throw new ImageDecodeException($"file is {length / 1e6:F0} MB, over the {maxFileBytes / 1e6:F0} MB limit");
        int n = (int)Math.Min(length, limit);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(n, 1));
        try
        {
            file.ReadExactly(buffer, 0, n);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
        return new EncodedBytes(buffer, n, n < length);
    }

    internal const string EmptyOrSpecial = "empty file (0 bytes), or not a regular file (pipe, device)";

    public void Dispose() => ArrayPool<byte>.Shared.Return(_buffer);
}

/// <summary>Decodes image files from disk with <see cref="ImageDecoder"/>.</summary>
public sealed class FileImageSource(DecodeOptions? options = null) : IImageSource
{
    public DecodeOptions Options { get; } = options ?? DecodeOptions.Default;

    public DecodedImage Decode(ImageSample sample) => ImageDecoder.Decode(sample.Path, Options);

    public DecodedImage Decode(ImageSample sample, int minShortSide) => ImageDecoder.Decode(sample.Path, Options, minShortSide);
}
