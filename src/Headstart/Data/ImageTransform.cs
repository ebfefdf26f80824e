using System.Buffers;
using Headstart.Models;
using SkiaSharp;

namespace Headstart.Data;

/// <summary>Training-time augmentation strength.</summary>
public enum AugmentLevel
{
    /// <summary>Same as evaluation: resize + centre crop.</summary>
    None,
    /// <summary>RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) + horizontal flip, as torchvision's ImageNet recipe.</summary>
    Light,
    /// <summary>Light + rotation within ±10° + colour jitter (brightness, contrast, saturation ±20%).</summary>
    Standard,
}

/// <summary>
/// Turns a <see cref="DecodedImage"/> into a model input (3, S, S) following the model's <see cref="Preprocessing"/>:
/// geometry (resize + centre crop, or random resized crop / flip / rotation) is one affine draw in Skia with bilinear +
/// linear-mipmap sampling, so downscaling is antialiased like PIL's; then colour jitter, channel order, value scale,
/// mean-image subtraction and per-channel (x - mean) / std. Thread-safe; all randomness comes from the caller's Random.
/// </summary>
public sealed class ImageTransform
{
    private const float MinScale = 0.08f, MaxRotationDegrees = 10f, Jitter = 0.2f;
    private static readonly SKSamplingOptions Sampling = new(SKFilterMode.Linear, SKMipmapMode.Linear);

    private readonly Preprocessing _p;
    private readonly float[]? _meanImage;

    private ImageTransform(Preprocessing p, AugmentLevel level, float[]? meanImage)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (p.InputSize < 1 || p.ResizeSize < 1) throw new ArgumentException("InputSize and ResizeSize must be positive");
        if (p.Mean.Length != 3 || p.Std.Length != 3 || p.Std.Any(s => !(s > 0)))
            throw new ArgumentException("Preprocessing needs 3 means and 3 positive stds");
        if (meanImage is not null && meanImage.Length != 3 * p.InputSize * p.InputSize)
            throw new ArgumentException(
                $"mean image has {meanImage.Length} values, expected 3x{p.InputSize}x{p.InputSize} = {3 * p.InputSize * p.InputSize}");
        _p = p;
        Level = level;
        _meanImage = meanImage;
    }

    /// <summary>Resize the shorter side to <see cref="Preprocessing.ResizeSize"/>, centre crop <see cref="Preprocessing.InputSize"/>
    /// (torchvision's Resize + CenterCrop geometry).</summary>
    public static ImageTransform Eval(Preprocessing p, float[]? meanImage = null) => new(p, AugmentLevel.None, meanImage);

    public static ImageTransform Train(Preprocessing p, AugmentLevel level, float[]? meanImage = null) => new(p, level, meanImage);

    public AugmentLevel Level { get; }
    public Preprocessing Preprocessing => _p;

    /// <summary>S: the output is (3, S, S).</summary>
    public int OutputSize => _p.InputSize;

    /// <summary>Floats written by <see cref="Apply"/>: 3 * S * S.</summary>
    public int OutputLength => 3 * OutputSize * OutputSize;

    /// <summary>Shorter side the decoder may downscale large JPEGs to. Twice the resize target: the remaining
    /// reduction is done by mipmapped bilinear sampling, and halving never costs detail that survives the resize.</summary>
    public int DecodeHint => 2 * Math.Max(_p.ResizeSize, _p.InputSize);

    /// <summary>Writes the (3, S, S) CHW input for one image into <paramref name="destination"/>.</summary>
    public void Apply(DecodedImage image, Random rng, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (destination.Length < OutputLength)
            throw new ArgumentException($"destination holds {destination.Length} floats, needs {OutputLength}", nameof(destination));
        int s = OutputSize;
        var matrix = Geometry(image.Width, image.Height, rng);
        int plane = s * s;
        byte[] rgba = ArrayPool<byte>.Shared.Rent(plane * 4);
        try
        {
            Render(image, matrix, rgba);
            // Planes in the model's channel order; values stay 0-255 until Normalise (exact for CNTK's 255 scale).
            int r = _p.ChannelOrder == ChannelOrder.Bgr ? 2 : 0, b = 2 - r;
            var dst = destination[..OutputLength];
            for (int i = 0; i < plane; i++)
            {
                dst[r * plane + i] = rgba[4 * i];
                dst[plane + i] = rgba[4 * i + 1];
                dst[b * plane + i] = rgba[4 * i + 2];
            }
            if (Level == AugmentLevel.Standard) ColourJitter(dst, plane, r, b, rng);
            Normalise(dst, plane);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgba);
        }
    }

    /// <summary>The source→output affine map; consumes the Random in a fixed order so a seed fixes the result.</summary>
    private SKMatrix Geometry(int w, int h, Random rng)
    {
        int s = OutputSize;
        float left, top, cropW, cropH;
        bool flip = false;
        float angle = 0;
        if (Level == AugmentLevel.None)
        {
            // torchvision Resize(int): shorter side -> ResizeSize, longer side truncated; CenterCrop rounds half to even.
            int ow, oh;
            if (w <= h) { ow = _p.ResizeSize; oh = (int)((long)_p.ResizeSize * h / w); }
            else { oh = _p.ResizeSize; ow = (int)((long)_p.ResizeSize * w / h); }
            float sx = (float)w / ow, sy = (float)h / oh;
            left = (float)Math.Round((ow - s) / 2.0, MidpointRounding.ToEven) * sx;
            top = (float)Math.Round((oh - s) / 2.0, MidpointRounding.ToEven) * sy;
            cropW = s * sx;
            cropH = s * sy;
        }
        else
        {
            (left, top, cropW, cropH) = RandomResizedCrop(w, h, rng);
            flip = rng.NextDouble() < 0.5;
            if (Level == AugmentLevel.Standard) angle = (float)((rng.NextDouble() * 2 - 1) * MaxRotationDegrees);
        }
        // Output = R · F · S · T(-crop origin) · source.
        var m = SKMatrix.CreateTranslation(-left, -top);
        m = m.PostConcat(SKMatrix.CreateScale(s / cropW, s / cropH));
        if (flip) m = m.PostConcat(SKMatrix.CreateScale(-1, 1, s / 2f, 0));
        if (angle != 0) m = m.PostConcat(SKMatrix.CreateRotationDegrees(angle, s / 2f, s / 2f));
        return m;
    }

    /// <summary>torchvision's RandomResizedCrop.get_params: 10 tries at a random area and log-uniform aspect ratio,
    /// then a centre crop clamped to the ratio range.</summary>
    private static (float Left, float Top, float W, float H) RandomResizedCrop(int width, int height, Random rng)
    {
        double area = (double)width * height;
        double logLo = Math.Log(3.0 / 4), logHi = Math.Log(4.0 / 3);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double targetArea = area * (MinScale + rng.NextDouble() * (1 - MinScale));
            double ratio = Math.Exp(logLo + rng.NextDouble() * (logHi - logLo));
            int cw = (int)Math.Round(Math.Sqrt(targetArea * ratio));
            int ch = (int)Math.Round(Math.Sqrt(targetArea / ratio));
            if (cw > 0 && ch > 0 && cw <= width && ch <= height)
                return (rng.Next(width - cw + 1), rng.Next(height - ch + 1), cw, ch);
        }
        double inRatio = (double)width / height;
        int fw = width, fh = height;
        if (inRatio < 3.0 / 4) fh = (int)Math.Round(fw / (3.0 / 4));
        else if (inRatio > 4.0 / 3) fw = (int)Math.Round(fh * (4.0 / 3));
        return ((width - fw) / 2, (height - fh) / 2, fw, fh);
    }

    /// <summary>Draws the source through <paramref name="matrix"/> onto an S x S RGBA8888 buffer.</summary>
    private unsafe void Render(DecodedImage image, SKMatrix matrix, byte[] rgba)
    {
        int s = OutputSize, w = image.Width, h = image.Height;
        int srcBytes = w * h * 4;
        byte[] rgbx = ArrayPool<byte>.Shared.Rent(srcBytes);
        try
        {
            // Skia has no 3-byte pixel format; RGBX with an ignored 4th byte is its opaque 8-bit RGB.
            var rgb = image.Rgb;
            for (int i = 0, j = 0; i < w * h; i++, j += 3)
            {
                rgbx[4 * i] = rgb[j];
                rgbx[4 * i + 1] = rgb[j + 1];
                rgbx[4 * i + 2] = rgb[j + 2];
                rgbx[4 * i + 3] = 255;
            }
            fixed (byte* src = rgbx)
            fixed (byte* dst = rgba)
            {
                var srcInfo = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque);
                using var pixmap = new SKPixmap(srcInfo, (IntPtr)src, w * 4);
                using var skImage = SKImage.FromPixels(pixmap)
                    ?? throw new InvalidOperationException("Skia refused the source pixels");
                var dstInfo = new SKImageInfo(s, s, SKColorType.Rgba8888, SKAlphaType.Premul);
                using var surface = SKSurface.Create(dstInfo, (IntPtr)dst, s * 4)
                    ?? throw new InvalidOperationException("Skia could not create the output surface");
                var canvas = surface.Canvas;
                // The buffer is pooled (stale pixels); and rotation uncovers corners: black, as torchvision's
                // RandomRotation(fill=0).
                canvas.Clear(SKColors.Black);
                canvas.SetMatrix(matrix);
                using var paint = new SKPaint { BlendMode = SKBlendMode.Src };
                canvas.DrawImage(skImage, 0, 0, Sampling, paint);
                canvas.Flush();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgbx);
        }
    }

    /// <summary>torchvision ColorJitter(0.2, 0.2, 0.2) on 0-255 planes, in a fixed order: brightness, contrast
    /// (blend with the mean grey), saturation (blend with each pixel's grey). Grey = ITU-R 601 luma, as PIL's "L".</summary>
    private static void ColourJitter(Span<float> x, int plane, int r, int b, Random rng)
    {
        float brightness = 1 + (float)((rng.NextDouble() * 2 - 1) * Jitter);
        float contrast = 1 + (float)((rng.NextDouble() * 2 - 1) * Jitter);
        float saturation = 1 + (float)((rng.NextDouble() * 2 - 1) * Jitter);
        for (int i = 0; i < x.Length; i++) x[i] = Math.Clamp(x[i] * brightness, 0f, 255f);
        double meanGrey = 0;
        for (int i = 0; i < plane; i++) meanGrey += Grey(x, plane, r, b, i);
        float m = (float)(meanGrey / plane);
        for (int i = 0; i < x.Length; i++) x[i] = Math.Clamp((x[i] - m) * contrast + m, 0f, 255f);
        for (int i = 0; i < plane; i++)
        {
            float g = Grey(x, plane, r, b, i);
            for (int c = 0; c < 3; c++) x[c * plane + i] = Math.Clamp((x[c * plane + i] - g) * saturation + g, 0f, 255f);
        }
    }

    private static float Grey(Span<float> x, int plane, int r, int b, int i) =>
        0.299f * x[r * plane + i] + 0.587f * x[plane + i] + 0.114f * x[b * plane + i];

    /// <summary>0-255 → model scale, minus the mean image, then (x - mean) / std per channel.</summary>
    private void Normalise(Span<float> x, int plane)
    {
        float scale = _p.ValueScale / 255f;
        for (int c = 0; c < 3; c++)
        {
            float invStd = 1f / _p.Std[c], mean = _p.Mean[c];
            var channel = x.Slice(c * plane, plane);
            if (_meanImage is null)
            {
                for (int i = 0; i < plane; i++) channel[i] = (channel[i] * scale - mean) * invStd;
            }
            else
            {
                var meanPlane = _meanImage.AsSpan(c * plane, plane);
                for (int i = 0; i < plane; i++) channel[i] = (channel[i] * scale - meanPlane[i] - mean) * invStd;
            }
        }
    }
}
