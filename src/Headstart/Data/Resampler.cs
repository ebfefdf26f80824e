using System.Buffers;
using System.Numerics;

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
    internal const int PrecisionBits = 32 - 8 - 2; // as PIL's Resample.c

    /// <summary>Taps of one output pixel: the first source index and fixed-point weights.</summary>
    internal readonly record struct Taps(int First, int[] Weights);

    /// <summary>
    /// Resizes the source box (boxX, boxY, boxW, boxH) to (outW, outH) and writes the output window
    /// (winX, winY, winW, winH) as RGB bytes into <paramref name="dst"/> (winH, winW, 3).
    /// </summary>
    // Hot loop of a short-lived process: compiled fully optimised at once instead of starting as tier-0 code.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Resize(DecodedImage src, double boxX, double boxY, double boxW, double boxH, int outW, int outH,
        int winX, int winY, int winW, int winH, Span<byte> dst)
    {
        var horizontal = Coefficients(boxX, boxW, src.Width, outW, winX, winW);
        var vertical = Coefficients(boxY, boxH, src.Height, outH, winY, winH);
        int rowFirst = vertical.Min(t => t.First), rowLast = vertical.Max(t => t.First + t.Weights.Length);
        int rows = rowLast - rowFirst, stride = winW * 3;
        if (dst.Length < winH * stride) throw new ArgumentException($"destination holds {dst.Length} bytes, needs {winH * stride}", nameof(dst));
        if (rowFirst < 0 || rowLast > src.Height || horizontal.Any(t => t.First < 0 || t.First + t.Weights.Length > src.Width))
            throw new InvalidOperationException("resampling taps outside the source image");

        byte[] temp = ArrayPool<byte>.Shared.Rent(rows * stride);
        int[] acc = ArrayPool<int>.Shared.Rent(stride + Vector<int>.Count);
        try
        {
            fixed (byte* rgb = src.Rgb, tmp = temp, output = dst)
            fixed (int* sums = acc)
            {
                // Horizontal pass over the source rows the vertical pass will read, rounded to 8 bits as PIL does.
                for (int r = 0; r < rows; r++)
                {
                    byte* srcRow = rgb + (long)(rowFirst + r) * src.Width * 3, o = tmp + r * stride;
                    for (int x = 0; x < winW; x++)
                    {
                        var (first, w) = horizontal[x];
                        int s0 = 1 << (PrecisionBits - 1), s1 = s0, s2 = s0;
                        byte* p = srcRow + first * 3;
                        fixed (int* wk = w)
                            for (int k = 0; k < w.Length; k++, p += 3)
                            {
                                s0 += p[0] * wk[k];
                                s1 += p[1] * wk[k];
                                s2 += p[2] * wk[k];
                            }
                        o[0] = Clip8(s0);
                        o[1] = Clip8(s1);
                        o[2] = Clip8(s2);
                        o += 3;
                    }
                }

                // Vertical pass: each output row is a weighted sum of whole temp rows, vectorised along the row.
                for (int y = 0; y < winH; y++)
                {
                    var (first, w) = vertical[y];
                    new Span<int>(sums, stride).Fill(1 << (PrecisionBits - 1));
                    for (int k = 0; k < w.Length; k++)
                        AddScaledRow(tmp + (first - rowFirst + k) * stride, w[k], sums, stride);
                    StoreClipped(sums, output + y * stride, stride);
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(acc);
            ArrayPool<byte>.Shared.Return(temp);
        }
    }

    /// <summary>o[i] = Clip8(sums[i]) for i &lt; n, several lanes at a time.</summary>
    private static unsafe void StoreClipped(int* sums, byte* o, int n)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int lanes = Vector<byte>.Count, q = Vector<int>.Count;
            var max = new Vector<int>(255);
            for (; i + lanes <= n; i += lanes)
            {
                var a = Vector.AsVectorUInt32(Vector.Clamp(Vector.ShiftRightArithmetic(Vector.Load(sums + i), PrecisionBits), Vector<int>.Zero, max));
                var b = Vector.AsVectorUInt32(Vector.Clamp(Vector.ShiftRightArithmetic(Vector.Load(sums + i + q), PrecisionBits), Vector<int>.Zero, max));
                var c = Vector.AsVectorUInt32(Vector.Clamp(Vector.ShiftRightArithmetic(Vector.Load(sums + i + 2 * q), PrecisionBits), Vector<int>.Zero, max));
                var d = Vector.AsVectorUInt32(Vector.Clamp(Vector.ShiftRightArithmetic(Vector.Load(sums + i + 3 * q), PrecisionBits), Vector<int>.Zero, max));
                Vector.Store(Vector.Narrow(Vector.Narrow(a, b), Vector.Narrow(c, d)), o + i);
            }
        }
        for (; i < n; i++) o[i] = Clip8(sums[i]);
    }

    /// <summary>sums[i] += row[i] * weight for i &lt; n, several lanes at a time (the integer result is exact).</summary>
    private static unsafe void AddScaledRow(byte* row, int weight, int* sums, int n)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var wv = new Vector<int>(weight);
            int lanes = Vector<byte>.Count;
            for (; i + lanes <= n; i += lanes)
            {
                Vector.Widen(Vector.Load(row + i), out Vector<ushort> lo, out Vector<ushort> hi);
                Vector.Widen(lo, out Vector<uint> a, out Vector<uint> b);
                Vector.Widen(hi, out Vector<uint> c, out Vector<uint> d);
                int q = Vector<int>.Count;
                Vector.Store(Vector.Load(sums + i) + Vector.AsVectorInt32(a) * wv, sums + i);
                Vector.Store(Vector.Load(sums + i + q) + Vector.AsVectorInt32(b) * wv, sums + i + q);
                Vector.Store(Vector.Load(sums + i + 2 * q) + Vector.AsVectorInt32(c) * wv, sums + i + 2 * q);
                Vector.Store(Vector.Load(sums + i + 3 * q) + Vector.AsVectorInt32(d) * wv, sums + i + 3 * q);
            }
        }
        for (; i < n; i++) sums[i] += row[i] * weight;
    }

    private static byte Clip8(int value)
    {
        int v = value >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    /// <summary>PIL's precompute_coeffs for the triangle filter (support 1, widened by the reduction factor), for output
    /// indices winStart .. winStart + winLen - 1.</summary>
    internal static Taps[] Coefficients(double in0, double inLen, int inSize, int outSize, int winStart, int winLen)
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
