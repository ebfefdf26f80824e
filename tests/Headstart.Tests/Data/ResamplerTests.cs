using Headstart.Data;
using Xunit;

namespace Headstart.Tests.Data;

/// <summary>
/// The resampler's vectorised passes must give exactly PIL's fixed-point result for any window width, including rows
/// that are not a multiple of the vector width (the scalar tail). The reference below is the plain two-pass loop.
/// </summary>
public sealed class ResamplerTests
{
    private static byte Clip(int v) => (byte)Math.Clamp(v >> Resampler.PrecisionBits, 0, 255);

    private static byte[] Reference(DecodedImage src, int outW, int outH, int winX, int winY, int winW, int winH)
    {
        var hs = Resampler.Coefficients(0, src.Width, src.Width, outW, winX, winW);
        var vs = Resampler.Coefficients(0, src.Height, src.Height, outH, winY, winH);
        var temp = new byte[src.Height, winW * 3];
        for (int y = 0; y < src.Height; y++)
            for (int x = 0; x < winW; x++)
                for (int c = 0; c < 3; c++)
                {
                    int s = 1 << (Resampler.PrecisionBits - 1);
                    for (int k = 0; k < hs[x].Weights.Length; k++) s += src.Rgb[(y * src.Width + hs[x].First + k) * 3 + c] * hs[x].Weights[k];
                    temp[y, x * 3 + c] = Clip(s);
                }
        var output = new byte[winH * winW * 3];
        for (int y = 0; y < winH; y++)
            for (int i = 0; i < winW * 3; i++)
            {
                int s = 1 << (Resampler.PrecisionBits - 1);
                for (int k = 0; k < vs[y].Weights.Length; k++) s += temp[vs[y].First + k, i] * vs[y].Weights[k];
                output[y * winW * 3 + i] = Clip(s);
            }
        return output;
    }

    [Theory]
    [InlineData(500, 333, 336, 224, 56, 0, 224, 224)]   // flowers-small's usual reduction, centre crop
    [InlineData(97, 61, 43, 27, 0, 0, 43, 27)]          // 129 bytes a row: 4 vectors of 32 and a tail of 1
    [InlineData(64, 64, 150, 150, 3, 5, 101, 77)]       // enlarging, an off-centre window
    [InlineData(31, 400, 11, 140, 0, 10, 11, 100)]      // rows narrower than one vector
    public void MatchesThePlainTwoPassLoop(int w, int h, int outW, int outH, int winX, int winY, int winW, int winH)
    {
        var rng = new Random(w * 31 + h);
        var rgb = new byte[w * h * 3];
        rng.NextBytes(rgb);
        var src = new DecodedImage(w, h, rgb);
        var actual = new byte[winH * winW * 3];
        Resampler.Resize(src, 0, 0, w, h, outW, outH, winX, winY, winW, winH, actual);
        Assert.Equal(Reference(src, outW, outH, winX, winY, winW, winH), actual);
    }
}
