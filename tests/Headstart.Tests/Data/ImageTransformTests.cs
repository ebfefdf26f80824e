using Headstart.Data;
using Headstart.Models;
using Xunit;

namespace Headstart.Tests.Data;

public sealed class ImageTransformTests
{
    /// <summary>Raw 0-255 output: no mean, unit std, so assertions read pixel values directly.</summary>
    private static readonly Preprocessing Raw = new()
    {
        InputSize = 224, ResizeSize = 256, Mean = [0, 0, 0], Std = [1, 1, 1], ValueScale = 255, ChannelOrder = ChannelOrder.Rgb,
    };

    private static DecodedImage Pattern(int w, int h)
    {
        var rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int o = 3 * (y * w + x);
                rgb[o] = (byte)x;
                rgb[o + 1] = (byte)y;
                rgb[o + 2] = (byte)(x * 7 + y * 3);
            }
        return new DecodedImage(w, h, rgb);
    }

    private static float[] Run(ImageTransform t, DecodedImage img, int seed = 0)
    {
        var output = new float[t.OutputLength];
        t.Apply(img, new Random(seed), output);
        return output;
    }

    [Fact]
    public void EvalIsResizeShorterSideThenCentreCrop()
    {
        // 512x256: the shorter side is already 256, so the resize is the identity and the centre crop starts at
        // x = (512 - 224) / 2 = 144, y = (256 - 224) / 2 = 16: every output pixel is one exact source pixel.
        var img = Pattern(512, 256);
        var t = ImageTransform.Eval(Raw);
        Assert.Equal(224, t.OutputSize);
        var output = Run(t, img);
        int plane = 224 * 224;
        for (int y = 0; y < 224; y += 7)
            for (int x = 0; x < 224; x += 5)
            {
                int sx = 144 + x, sy = 16 + y, o = 3 * (sy * 512 + sx);
                Assert.Equal(img.Rgb[o], output[y * 224 + x], 3);
                Assert.Equal(img.Rgb[o + 1], output[plane + y * 224 + x], 3);
                Assert.Equal(img.Rgb[o + 2], output[2 * plane + y * 224 + x], 3);
            }
    }

    [Fact]
    public void EvalMatchesTorchvisionOnPilBitForBit()
    {
        // A 97x61 pattern through torchvision 0.14's Resize(10) + CenterCrop(10) on a PIL 9.4 image (a 6.1x antialiased
        // reduction to 15x10, then a crop at x = round(2.5) = 2): the (10, 10, 3) bytes below are PIL's output.
        const string expected = "fX92f4VwgHN8fXiBgJNXf3dvgoBugFprfVyGgIB0gIeDfod9foKAf359gXl8gHV8foR4fWt3gG2DgYOLfX6HgHp/gH5+gox7f26Cfn59f4h4gHx4gX1/foiLf3qBgoSAgH17f3p7f4CDgH6DgXx1gI13f4yBgHuHgXh+f317f4KBf32Bf5B+gIeCf3yAgJZ6gJSBfnyDf3l7gIB6f4KCf3+AgI14f4GAgYB4fpl4fpd/f4KcgHWAfn2AgIp+gINwgW6GgHWGfnl5f4J5gICMgXujfniCgIOCgX2FgnaBfnSEfoCFf4WFgl59gV9/f4Z6gHh4gXl+gH98fYR+f4WDfoaHgoN8fmp2f2yAgIOAgH97foF4f4+Cf4J4gI5/f39/f31+gXt+gX2AfXqE";
        const int w = 97, h = 61;
        var rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int o = 3 * (y * w + x);
                (rgb[o], rgb[o + 1], rgb[o + 2]) = ((byte)((x * 37 + y * 11) % 256), (byte)((x * x + 3 * y) % 256), (byte)(x * y * 7 % 256));
            }
        var output = Run(ImageTransform.Eval(Raw with { InputSize = 10, ResizeSize = 10 }), new DecodedImage(w, h, rgb));
        var pil = Convert.FromBase64String(expected);
        for (int i = 0; i < 100; i++)
            for (int c = 0; c < 3; c++)
                Assert.Equal(pil[3 * i + c], output[c * 100 + i]);
    }

    [Fact]
    public void BgrOrderSwapsPlanes()
    {
        var img = new DecodedImage(300, 300, Enumerable.Repeat(new byte[] { 10, 20, 30 }, 300 * 300).SelectMany(p => p).ToArray());
        var rgb = Run(ImageTransform.Eval(Raw), img);
        var bgr = Run(ImageTransform.Eval(Raw with { ChannelOrder = ChannelOrder.Bgr }), img);
        int plane = 224 * 224;
        Assert.Equal([10f, 20f, 30f], new[] { rgb[0], rgb[plane], rgb[2 * plane] }.Select(v => MathF.Round(v, 3)));
        Assert.Equal([30f, 20f, 10f], new[] { bgr[0], bgr[plane], bgr[2 * plane] }.Select(v => MathF.Round(v, 3)));
    }

    [Fact]
    public void ValueScaleMeanImageAndNormalisation()
    {
        var img = new DecodedImage(256, 256, Enumerable.Repeat(new byte[] { 51, 102, 204 }, 256 * 256).SelectMany(p => p).ToArray());
        int plane = 224 * 224;

        // torchvision: [0, 1], then (x - mean) / std.
        var imagenet = Run(ImageTransform.Eval(Preprocessing.ImageNet), img);
        Assert.Equal((0.2f - 0.485f) / 0.229f, imagenet[5], 4);
        Assert.Equal((0.4f - 0.456f) / 0.224f, imagenet[plane + 5], 4);
        Assert.Equal((0.8f - 0.406f) / 0.225f, imagenet[2 * plane + 5], 4);

        // CNTK/Caffe: BGR in [0, 255], minus a per-pixel mean image, then per-channel mean/std.
        var p = Raw with { ChannelOrder = ChannelOrder.Bgr, Mean = [1, 2, 3], Std = [2, 2, 2] };
        var meanImage = new float[3 * plane];
        for (int i = 0; i < meanImage.Length; i++) meanImage[i] = i % 7;
        var cntk = Run(ImageTransform.Eval(p, meanImage), img);
        foreach (int i in new[] { 0, 1, 100, plane + 3, 2 * plane + 77 })
        {
            int c = i / plane;
            float value = c switch { 0 => 204, 1 => 102, _ => 51 }; // BGR
            Assert.Equal((value - meanImage[i] - p.Mean[c]) / p.Std[c], cntk[i], 3);
        }
        Assert.Throws<ArgumentException>(() => ImageTransform.Eval(p, new float[10]));
    }

    [Fact]
    public void DownscalingIsAntialiased()
    {
        // A 1-px black/white checkerboard shrunk 4x: antialiased resampling gives flat grey; point or plain
        // bilinear sampling would alias to black, white or stripes.
        const int n = 1024;
        var rgb = new byte[n * n * 3];
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++)
                if (((x + y) & 1) == 0) rgb.AsSpan(3 * (y * n + x), 3).Fill(255);
        var output = Run(ImageTransform.Eval(Raw), new DecodedImage(n, n, rgb));
        Assert.All(output, v => Assert.InRange(v, 107f, 147f));
    }

    [Fact]
    public void FlipIsTheCentreCropOrItsMirrorImageBitForBit()
    {
        var img = Pattern(300, 200);
        var flip = ImageTransform.Train(Raw, AugmentLevel.Flip);
        var centre = Run(ImageTransform.Eval(Raw), img);
        var mirror = Run(ImageTransform.EvalMirrored(Raw), img);
        Assert.NotEqual(centre, mirror);
        int mirrored = 0;
        for (int seed = 0; seed < 40; seed++)
        {
            var output = Run(flip, img, seed);
            Assert.Equal(output, Run(flip, img, seed));                 // the seed decides
            if (output.SequenceEqual(mirror)) mirrored++;
            else Assert.Equal(centre, output);
        }
        Assert.InRange(mirrored, 10, 30);                                 // p = 0.5 over 40 draws
    }

    [Fact]
    public void AugmentationIsDeterministicForASeedAndVariesAcrossSeeds()
    {
        var img = Pattern(320, 240);
        foreach (var level in new[] { AugmentLevel.Light, AugmentLevel.Standard })
        {
            var t = ImageTransform.Train(Raw, level);
            Assert.Equal(Run(t, img, seed: 3), Run(t, img, seed: 3));
            Assert.NotEqual(Run(t, img, seed: 3), Run(t, img, seed: 4));
        }
        Assert.Equal(Run(ImageTransform.Eval(Raw), img), Run(ImageTransform.Train(Raw, AugmentLevel.None), img, seed: 9));
    }

    [Fact]
    public void AugmentationKeepsFlatColoursWithinJitter()
    {
        var img = new DecodedImage(200, 150, Enumerable.Repeat(new byte[] { 90, 140, 190 }, 200 * 150).SelectMany(p => p).ToArray());
        int plane = 224 * 224;
        var light = ImageTransform.Train(Raw, AugmentLevel.Light);
        for (int seed = 0; seed < 5; seed++)
        {
            var output = Run(light, img, seed);
            Assert.All(output.AsSpan(0, plane).ToArray(), v => Assert.Equal(90f, v, 2));
        }
        // Rotation is part of the one source->output map, so it shows real image content where the crop has any
        // around it and black only beyond the image's edges; a flat image stays flat up to the colour jitter (±20%
        // per factor) and those black borders.
        var standard = ImageTransform.Train(Raw, AugmentLevel.Standard);
        for (int seed = 0; seed < 10; seed++)
        {
            var output = Run(standard, img, seed);
            float centreG = output[plane + 112 * 224 + 112];
            Assert.InRange(centreG, 140 * 0.8f * 0.8f * 0.8f - 1, 140 * 1.2f * 1.2f * 1.2f + 1);
            Assert.All(output, v => Assert.InRange(v, 0f, 255f));
        }
    }
}
