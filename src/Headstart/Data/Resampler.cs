using System.Buffers;

namespace Headstart.Data;

/// <summary>
/// PIL's antialiased bilinear resize (Image.resize(size, BILINEAR, box)), the resize torchvision applies to PIL images,
/// reproduced with PIL's fixed-point arithmetic: on flowers-small, resize 256 + centre crop 224 matches torchvision's
/// output byte for byte. (Skia's mipmapped bilinear sampling, tried first, was off by up to 80/255 at edges for the
/// typical 1.3x reduction.)
/// Only the requested output window is computed, so resize + centre crop costs no more than the crop.
/// </summary>
internal static class Resampler
{
    private const int PrecisionBits = 32 - 8 - 2; // as PIL's Resample.c

    /// <summary>Taps of one output pixel: the first source index and fixed-point weights.</summary>
    private readonly record struct Taps(int First, int[] Weights);

    /// <summary>
    /// Resizes the source box (boxX, boxY, boxW, boxH) to (outW, outH) and writes the output window
    /// (winX, winY, winW, winH) as RGB bytes into <paramref name="dst"/> (winH, winW, 3).
    /// </summary>
    // Hot loop of a short-lived process: compiled fully optimised at once instead of starting as tier-0 code.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Resize(DecodedImage src, double boxX, double boxY, double boxW, double boxH, int outW, int outH,
        int winX, int winY, int winW, int winH, Span<byte> dst)
    {
        var horizontal = Coefficients(boxX, boxW, src.Width, outW, winX, winW);
        var vertical = Coefficients(boxY, boxH, src.Height, outH, winY, winH);
        int rowFirst = vertical[0].First, rowLast = vertical.Max(t => t.First + t.Weights.Length);
        int rows = rowLast - rowFirst;

        // Horizontal pass over the source rows the vertical pass will read, rounded to 8 bits as PIL does.
        byte[] temp = ArrayPool<byte>.Shared.Rent(rows * winW * 3);
        var rgb = src.Rgb;
        for (int r = 0; r < rows; r++)
        {
            int srcRow = (rowFirst + r) * src.Width * 3, o = r * winW * 3;
            for (int x = 0; x < winW; x++)
            {
                var (first, w) = horizontal[x];
                int s0 = 1 << (PrecisionBits - 1), s1 = s0, s2 = s0, p = srcRow + first * 3;
                for (int k = 0; k < w.Length; k++, p += 3)
                {
                    s0 += rgb[p] * w[k];
                    s1 += rgb[p + 1] * w[k];
                    s2 += rgb[p + 2] * w[k];
                }
                temp[o++] = Clip8(s0);
                temp[o++] = Clip8(s1);
                temp[o++] = Clip8(s2);
            }
        }

        // Vertical pass.
        int stride = winW * 3;
        for (int y = 0; y < winH; y++)
        {
            var (first, w) = vertical[y];
            int baseRow = (first - rowFirst) * stride, o = y * stride;
            for (int i = 0; i < stride; i++)
            {
                int s = 1 << (PrecisionBits - 1);
                for (int k = 0, p = baseRow + i; k < w.Length; k++, p += stride) s += temp[p] * w[k];
                dst[o + i] = Clip8(s);
            }
        }
        ArrayPool<byte>.Shared.Return(temp);
    }

    private static byte Clip8(int value)
    {
        int v = value >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    /// <summary>PIL's precompute_coeffs for the triangle filter (support 1, widened by the reduction factor), for output
    /// indices winStart .. winStart + winLen - 1.</summary>
    private static Taps[] Coefficients(double in0, double inLen, int inSize, int outSize, int winStart, int winLen)
    {
        double scale = inLen / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = filterScale; // bilinear support 1.0
        var taps = new Taps[winLen];
        var k = new double[(int)Math.Ceiling(support) * 2 + 1];
        for (int i = 0; i < winLen; i++)
        {
            int xx = winStart + i;
            double center = in0 + (xx + 0.5) * scale;
            int xmin = Math.Max((int)(center - support + 0.5), 0);
            int xmax = Math.Min((int)(center + support + 0.5), inSize) - xmin;
            double total = 0;
            for (int x = 0; x < xmax; x++)
            {
                double d = Math.Abs((x + xmin - center + 0.5) / filterScale);
                k[x] = d < 1 ? 1 - d : 0;
                total += k[x];
            }
            var weights = new int[Math.Max(xmax, 0)];
            for (int x = 0; x < weights.Length; x++)
            {
                double w = total != 0 ? k[x] / total : 0;
                weights[x] = (int)(w < 0 ? -0.5 + w * (1 << PrecisionBits) : 0.5 + w * (1 << PrecisionBits));
            }
            taps[i] = new Taps(xmin, weights);
        }
        return taps;
    }
}
