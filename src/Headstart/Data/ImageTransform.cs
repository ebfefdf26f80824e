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
    /// <summary>The evaluation geometry (resize + centre crop), mirrored left-right at random (p = 0.5): the frozen
    /// recipe's two cached views, drawn on the fly. The mildest augmentation, for fine-tuning on few images.</summary>
    Flip,
}

/// <summary>
/// Turns a <see cref="DecodedImage"/> into a model input (3, S, S) following the model's <see cref="Preprocessing"/>,
/// with torchvision's semantics: resize + centre crop (eval), or RandomResizedCrop, flip, rotation and colour jitter
/// (train). Resizing is PIL's antialiased bilinear (see <see cref="Resampler"/>); then channel order, value scale,
/// mean-image subtraction and per-channel (x - mean) / std. Thread-safe; all randomness comes from the caller's Random.
/// </summary>
public sealed class ImageTransform
{
    private const float MinScale = 0.08f, MaxRotationDegrees = 10f, Jitter = 0.2f;
    private static readonly SKSamplingOptions Sampling = new(SKFilterMode.Linear, SKMipmapMode.None);

    private readonly Preprocessing _p;
    private readonly float[]? _meanImage;
    private readonly bool _mirror;

    private ImageTransform(Preprocessing p, AugmentLevel level, float[]? meanImage, bool mirror = false)
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
        _mirror = mirror;
    }

    /// <summary>Resize the shorter side to <see cref="Preprocessing.ResizeSize"/>, centre crop <see cref="Preprocessing.InputSize"/>
    /// (torchvision's Resize + CenterCrop geometry).</summary>
    public static ImageTransform Eval(Preprocessing p, float[]? meanImage = null) => new(p, AugmentLevel.None, meanImage);

    public static ImageTransform Train(Preprocessing p, AugmentLevel level, float[]? meanImage = null) => new(p, level, meanImage);

    /// <summary>The evaluation geometry mirrored left-right: the deterministic "flip view" used for cached
    /// augmentation and flip test-time augmentation.</summary>
    public static ImageTransform EvalMirrored(Preprocessing p, float[]? meanImage = null) => new(p, AugmentLevel.None, meanImage, mirror: true);

    /// <summary>True for <see cref="EvalMirrored"/>.</summary>
    public bool Mirrored => _mirror;

    public AugmentLevel Level { get; }
    public Preprocessing Preprocessing => _p;

    /// <summary>S: the output is (3, S, S).</summary>
    public int OutputSize => _p.InputSize;

    /// <summary>Floats written by <see cref="Apply"/>: 3 * S * S.</summary>
    public int OutputLength => 3 * OutputSize * OutputSize;

    /// <summary>Shorter side the decoder may downscale large JPEGs to: twice the resize target, so the remaining
    /// antialiased resize still averages over 2+ decoded pixels per output pixel. Images whose shorter side is
    /// under twice the target (all of flowers-small) decode at full size, exactly as PIL does.</summary>
    public int DecodeHint => 2 * Math.Max(_p.ResizeSize, _p.InputSize);

    /// <summary>Writes the (3, S, S) CHW input for one image into <paramref name="destination"/>.</summary>
    // Hot loop of a short-lived process: compiled fully optimised at once instead of starting as tier-0 code.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Apply(DecodedImage image, Random rng, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (destination.Length < OutputLength)
            throw new ArgumentException($"destination holds {destination.Length} floats, needs {OutputLength}", nameof(destination));
        int s = OutputSize, plane = s * s;
        byte[] rgb = ArrayPool<byte>.Shared.Rent(plane * 3);
        try
        {
            var pixels = rgb.AsSpan(0, plane * 3);
            Geometry(image, rng, pixels);
            // Planes in the model's channel order; values stay 0-255 until normalised (exact for CNTK's 255 scale).
            int r = _p.ChannelOrder == ChannelOrder.Bgr ? 2 : 0, b = 2 - r;
            var dst = destination[..OutputLength];
            if (Level != AugmentLevel.Standard)
            {
                // One pass per plane: the same float operations as the unfused path below, so the same bits.
                NormalisePlane(pixels, component: 0, dst.Slice(r * plane, plane), r);
                NormalisePlane(pixels, component: 1, dst.Slice(plane, plane), 1);
                NormalisePlane(pixels, component: 2, dst.Slice(b * plane, plane), b);
                return;
            }
            for (int i = 0; i < plane; i++)
            {
                dst[r * plane + i] = pixels[3 * i];
                dst[plane + i] = pixels[3 * i + 1];
                dst[b * plane + i] = pixels[3 * i + 2];
            }
            ColourJitter(dst, plane, r, b, rng);
            Normalise(dst, plane);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgb);
        }
    }

    /// <summary>Writes the (S, S, 3) geometric result; consumes the Random in a fixed order so a seed fixes it.</summary>
    private void Geometry(DecodedImage image, Random rng, Span<byte> pixels)
    {
        int s = OutputSize, w = image.Width, h = image.Height;
        if (Level is AugmentLevel.None or AugmentLevel.Flip)
        {
            // torchvision Resize(int): shorter side -> ResizeSize, longer side truncated; CenterCrop rounds half to
            // even. (A resize target below the crop size is raised to it rather than zero-padded.)
            int target = Math.Max(_p.ResizeSize, s);
            int ow, oh;
            if (w <= h) { ow = target; oh = (int)((long)target * h / w); }
            else { oh = target; ow = (int)((long)target * w / h); }
            ow = Math.Max(ow, s);
            oh = Math.Max(oh, s);
            int left = (int)Math.Round((ow - s) / 2.0, MidpointRounding.ToEven);
            int top = (int)Math.Round((oh - s) / 2.0, MidpointRounding.ToEven);
            Resampler.Resize(image, 0, 0, w, h, ow, oh, left, top, s, s, pixels);
            if (_mirror || (Level == AugmentLevel.Flip && rng.NextDouble() < 0.5)) MirrorRows(pixels, s);
            return;
        }
        var (cx, cy, cw, ch) = RandomResizedCrop(w, h, rng);
        bool flip = rng.NextDouble() < 0.5;
        float angle = Level == AugmentLevel.Standard ? (float)((rng.NextDouble() * 2 - 1) * MaxRotationDegrees) : 0f;
        Resampler.Resize(image, cx, cy, cw, ch, s, s, 0, 0, s, s, pixels);
        if (flip) MirrorRows(pixels, s);
        if (angle != 0) Rotate(pixels, s, angle);
    }

    /// <summary>Horizontal flip of an (S, S, 3) image in place.</summary>
    // Hot loop of a short-lived process: compiled fully optimised at once instead of starting as tier-0 code.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void MirrorRows(Span<byte> pixels, int s)
    {
        for (int y = 0; y < s; y++)
        {
            var row = pixels.Slice(y * s * 3, s * 3);
            for (int a = 0, z = s - 1; a < z; a++, z--)
                for (int c = 0; c < 3; c++) (row[3 * a + c], row[3 * z + c]) = (row[3 * z + c], row[3 * a + c]);
        }
    }

    /// <summary>torchvision's RandomResizedCrop.get_params: 10 tries at a random area and log-uniform aspect ratio,
    /// then a centre crop clamped to the ratio range.</summary>
    private static (int Left, int Top, int W, int H) RandomResizedCrop(int width, int height, Random rng)
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

    /// <summary>Rotates the (S, S, 3) image about its centre with bilinear sampling (torchvision's RandomRotation
    /// defaults to nearest); uncovered corners are black, as its fill=0. No resize happens here, so Skia's bilinear
    /// sampling is exact enough.</summary>
    private static unsafe void Rotate(Span<byte> pixels, int s, float angle)
    {
        int plane = s * s;
        byte[] rgba = ArrayPool<byte>.Shared.Rent(plane * 8);
        try
        {
            for (int i = 0; i < plane; i++)
            {
                rgba[4 * i] = pixels[3 * i];
                rgba[4 * i + 1] = pixels[3 * i + 1];
                rgba[4 * i + 2] = pixels[3 * i + 2];
                rgba[4 * i + 3] = 255;
            }
            var info = new SKImageInfo(s, s, SKColorType.Rgba8888, SKAlphaType.Premul);
            fixed (byte* src = rgba)
            {
                byte* dst = src + plane * 4;
                using (var pixmap = new SKPixmap(info, (IntPtr)src, s * 4))
                using (var image = SKImage.FromPixels(pixmap) ?? throw new InvalidOperationException("Skia refused the pixels"))
                using (var surface = SKSurface.Create(info, (IntPtr)dst, s * 4) ?? throw new InvalidOperationException("Skia surface"))
                using (var paint = new SKPaint { BlendMode = SKBlendMode.Src })
                {
                    var canvas = surface.Canvas;
                    canvas.Clear(SKColors.Black);
                    canvas.RotateDegrees(angle, s / 2f, s / 2f);
                    canvas.DrawImage(image, 0, 0, Sampling, paint);
                    canvas.Flush();
                }
                for (int i = 0; i < plane; i++)
                {
                    pixels[3 * i] = dst[4 * i];
                    pixels[3 * i + 1] = dst[4 * i + 1];
                    pixels[3 * i + 2] = dst[4 * i + 2];
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgba);
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

    /// <summary>Normalise for one channel, straight from the (S, S, 3) bytes: RGB component <paramref name="component"/>
    /// into output plane <paramref name="plane"/>.</summary>
    // Hot loop of a short-lived process: compiled fully optimised at once instead of starting as tier-0 code.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void NormalisePlane(ReadOnlySpan<byte> pixels, int component, Span<float> channel, int plane)
    {
        float scale = _p.ValueScale / 255f, invStd = 1f / _p.Std[plane], mean = _p.Mean[plane];
        int n = channel.Length;
        var src = pixels[component..];
        if (_meanImage is null)
        {
            for (int i = 0; i < n; i++) channel[i] = ((float)src[3 * i] * scale - mean) * invStd;
        }
        else
        {
            var meanPlane = _meanImage.AsSpan(plane * n, n);
            for (int i = 0; i < n; i++) channel[i] = ((float)src[3 * i] * scale - meanPlane[i] - mean) * invStd;
        }
    }

    /// <summary>0-255 → model scale, minus the mean image, then (x - mean) / std per channel.</summary>
    // Hot loop of a short-lived process: compiled fully optimised at once instead of starting as tier-0 code.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
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
