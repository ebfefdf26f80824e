using System.Runtime.InteropServices;
using Headstart.Data;
using SkiaSharp;

namespace Headstart.Reporting;

/// <summary>Small JPEG thumbnails as data: URIs, so a report carries its images inside the one HTML file.</summary>
public static class Thumbnails
{
    /// <summary>Encodes <paramref name="image"/> scaled to fit <paramref name="maxSide"/> px (small images are scaled
    /// up to it too, so 28-px digits stay visible) as a JPEG.</summary>
    public static byte[] Jpeg(DecodedImage image, int maxSide = 128, int quality = 82)
    {
        ArgumentNullException.ThrowIfNull(image);
        int w = image.Width, h = image.Height;
        var rgba = new byte[w * h * 4];
        var rgb = image.Rgb;
        for (int i = 0, j = 0; i < rgba.Length; i += 4, j += 3)
        {
            rgba[i] = rgb[j]; rgba[i + 1] = rgb[j + 1]; rgba[i + 2] = rgb[j + 2]; rgba[i + 3] = 255;
        }
        double scale = maxSide / (double)Math.Max(w, h);
        int tw = Math.Max(1, (int)Math.Round(w * scale)), th = Math.Max(1, (int)Math.Round(h * scale));
        var srcInfo = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var handle = GCHandle.Alloc(rgba, GCHandleType.Pinned);
        try
        {
            using var src = SKImage.FromPixelCopy(srcInfo, handle.AddrOfPinnedObject(), srcInfo.RowBytes)
                ?? throw new InvalidOperationException("Skia could not wrap the thumbnail pixels");
            using var surface = SKSurface.Create(new SKImageInfo(tw, th, SKColorType.Rgba8888, SKAlphaType.Premul))
                ?? throw new InvalidOperationException($"Skia could not create a {tw}x{th} surface");
            // Downscaling: mipmaps antialias; upscaling tiny images: cubic keeps edges readable.
            var sampling = scale < 1 ? new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear) : new SKSamplingOptions(SKCubicResampler.Mitchell);
            surface.Canvas.DrawImage(src, new SKRect(0, 0, tw, th), sampling);
            using var snapshot = surface.Snapshot();
            using var data = snapshot.Encode(SKEncodedImageFormat.Jpeg, quality)
                ?? throw new InvalidOperationException("Skia could not encode the thumbnail as JPEG");
            return data.ToArray();
        }
        finally
        {
            handle.Free();
        }
    }

    /// <summary>The thumbnail as a <c>data:image/jpeg;base64,...</c> URI.</summary>
    public static string DataUri(DecodedImage image, int maxSide = 128, int quality = 82) =>
        "data:image/jpeg;base64," + Convert.ToBase64String(Jpeg(image, maxSide, quality));
}
