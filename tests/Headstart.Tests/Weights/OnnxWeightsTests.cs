using Headstart.Onnx;
using Headstart.Models;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Headstart.Weights;
using Microsoft.ML.OnnxRuntime;
using SkiaSharp;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Headstart.Tests.Weights;

/// <summary>The resnet18-cntk model and its inputs, built once for the class (parsing the 63 MB file takes a second).</summary>
public sealed class CntkResNet18Fixture : IDisposable
{
    public CntkResNet18Fixture()
    {
        ModelPath = EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNet18);
        Mean = MeanImages.Get(MeanImages.CntkResNet);
        Model = ModelRegistry.Get("resnet18-cntk").Create();
        using (var state = OnnxWeights.ReadCntkResNet18(ModelPath))
        {
            var (missing, unexpected) = Model.load_state_dict(state.ToDictionary(kv => kv.Key, kv => kv.Value), strict: false);
            MissingKeys = missing;
            UnexpectedKeys = unexpected;
        }
        Model.eval();

        // Two synthetic images (noise; smooth gradients) and, when ../shared is present, a real flower photo.
        var rgb = new List<Tensor> { torch.rand(3, 224, 224, generator: torch.manual_seed(7)) * 255f };
        using (var yy = torch.linspace(0, 255, 224).view(1, 224, 1))
        using (var xx = torch.linspace(0, 255, 224).view(1, 1, 224))
            rgb.Add(torch.cat([yy.expand(1, 224, 224), xx.expand(1, 224, 224), (255f - (yy + xx) / 2).expand(1, 224, 224)]));
        if (SharedData.Has("datasets/flowers-small/val/daisy"))
            rgb.Add(DecodeRgb(Directory.EnumerateFiles(SharedData.PathTo("datasets/flowers-small/val/daisy")).Order().First()));
        using var stacked = torch.stack(rgb);
        Input = Preprocess(stacked, Mean);
        foreach (var t in rgb) t.Dispose();
    }

    public string ModelPath { get; }
    public float[] Mean { get; }
    public ImageClassifier Model { get; }
    public IList<string> MissingKeys { get; }
    public IList<string> UnexpectedKeys { get; }
    /// <summary>(B, 3, 224, 224) BGR 0-255 minus the mean image: what the CNTK network reads.</summary>
    public Tensor Input { get; }

    /// <summary>(B, 3, H, W) RGB 0-255 → BGR minus the (3, H, W) BGR mean image.</summary>
    public static Tensor Preprocess(Tensor rgb255, float[] mean)
    {
        using var m = torch.tensor(mean, [1, 3, 224, 224]);
        using var bgr = rgb255.flip(1);
        return bgr - m;
    }

    /// <summary>An image file → (3, 224, 224) RGB 0-255 (plain resize: any realistic photo content will do here).</summary>
    public static Tensor DecodeRgb(string path)
    {
        using var bitmap = SKBitmap.Decode(path);
        using var resized = bitmap.Resize(new SKImageInfo(224, 224, SKColorType.Rgba8888), new SKSamplingOptions(SKFilterMode.Linear));
        var pixels = resized.GetPixelSpan().ToArray();                                 // (224·224·4) RGBA
        using var hwc = torch.tensor(pixels, [224, 224, 4]);
        return hwc[.., .., ..3].permute(2, 0, 1).to(ScalarType.Float32).contiguous();  // (3, 224, 224)
    }

    public void Dispose()
    {
        Model.Dispose();
        Input.Dispose();
    }
}

public sealed class OnnxWeightsTests(CntkResNet18Fixture fx, ITestOutputHelper output) : IClassFixture<CntkResNet18Fixture>
{
    private Tensor TorchFeatures(Tensor input)
    {
        using var _ = torch.no_grad();
        return fx.Model.ForwardFeatures(input);   // (B, 512)
    }

    /// <summary>The unmodified ResNet18.onnx in ORT, one image at a time (the file pins batch 1).</summary>
    private float[][] OrtFeatures(Tensor input)
    {
        using var session = new InferenceSession(fx.ModelPath);
        var inputName = session.InputMetadata.Keys.Single();
        var result = new float[input.shape[0]][];
        for (int i = 0; i < result.Length; i++)
        {
            using var one = input[i].unsqueeze(0).contiguous();
            using var value = OrtValue.CreateTensorValueFromMemory(one.data<float>().ToArray(), [1, 3, 224, 224]);
            using var outputs = session.Run(new RunOptions(), [inputName], [value], session.OutputNames);
            result[i] = outputs[0].GetTensorDataAsSpan<float>().ToArray();   // (512·1·1)
        }
        return result;
    }

    [Fact]
    public void Import_FillsEveryTorchvisionKeyButTheHead()
    {
        Assert.Equal(["fc.bias", "fc.weight"], fx.MissingKeys.Order());
        Assert.Empty(fx.UnexpectedKeys);
        using var state = OnnxWeights.ReadCntkResNet18(fx.ModelPath);
        Assert.Contains("layer4.2.conv2.weight", state.Keys);
        Assert.Contains("layer2.0.downsample.1.running_var", state.Keys);
        Assert.DoesNotContain("layer1.0.downsample.0.weight", state.Keys);
        Assert.Equal([128, 64, 1, 1], state["layer2.0.downsample.0.weight"].shape);
    }

    [Fact]
    public void Import_MatchesOnnxRuntime_OnTheSameFile()
    {
        using var ours = TorchFeatures(fx.Input);
        var reference = OrtFeatures(fx.Input);
        Assert.Equal(512, ours.shape[1]);
        for (int i = 0; i < reference.Length; i++)
        {
            var mine = ours[i].data<float>().ToArray();
            float maxAbs = reference[i].Max(MathF.Abs);
            float maxDiff = mine.Zip(reference[i], (a, b) => MathF.Abs(a - b)).Max();
            output.WriteLine($"image {i}: max|feature| {maxAbs:F4}, max abs diff {maxDiff:E3}, relative {maxDiff / maxAbs:E3}");
            Assert.True(maxAbs > 0.1f, "features are all ~zero: the comparison would be vacuous");
            Assert.True(maxDiff <= 1e-4f * maxAbs, $"image {i}: max abs diff {maxDiff} > 1e-4 x {maxAbs}");
        }
    }

    [Fact]
    public void OrtFeatureExtractor_BatchesAndMatchesTorchSharp()
    {
        using var extractor = new OrtFeatureExtractor(EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNet18), intraOpThreads: 2);
        using var ort = extractor.Extract(fx.Input);   // (B, 512) in one call, although the file pins batch 1
        using var ours = TorchFeatures(fx.Input);
        Assert.Equal(ours.shape, ort.shape);
        float maxAbs = ort.abs().max().item<float>();
        float maxDiff = (ort - ours).abs().max().item<float>();
        output.WriteLine($"batch {fx.Input.shape[0]}: max|feature| {maxAbs:F4}, max abs diff {maxDiff:E3}, relative {maxDiff / maxAbs:E3}");
        Assert.True(maxDiff <= 1e-4f * maxAbs, $"max abs diff {maxDiff} > 1e-4 x {maxAbs}");
    }

    [Fact]
    public void MeanImage_IsWhatThePreprocessGraphSubtracts_InBgrOrder()
    {
        Assert.Equal(3 * 224 * 224, fx.Mean.Length);
        using var rgb = torch.rand(1, 3, 224, 224, generator: torch.manual_seed(3)) * 255f;
        using var ours = CntkResNet18Fixture.Preprocess(rgb, fx.Mean);

        using var session = new InferenceSession(EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNetPreprocess));
        using var value = OrtValue.CreateTensorValueFromMemory(rgb.contiguous().data<float>().ToArray(), [1, 3, 224, 224]);
        using var outputs = session.Run(new RunOptions(), [session.InputNames.Single()], [value], session.OutputNames);
        var reference = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        float maxDiff = ours.data<float>().ToArray().Zip(reference, (a, b) => MathF.Abs(a - b)).Max();
        Assert.True(maxDiff <= 1e-4f, $"max abs diff {maxDiff}");

        // ImageNet's mean pixel is about (B, G, R) = (104, 117, 123) in 0-255: blue lowest, red highest.
        var channelMeans = Enumerable.Range(0, 3).Select(c => fx.Mean.AsSpan(c * 224 * 224, 224 * 224).ToArray().Average()).ToArray();
        output.WriteLine($"mean image channel averages (B, G, R): {string.Join(", ", channelMeans.Select(v => v.ToString("F2")))}");
        Assert.InRange(channelMeans[0], 95, 112);
        Assert.InRange(channelMeans[2], 115, 132);
    }

    [Fact]
    public void Read_RejectsAGraphThatIsNotAResNet()
    {
        var e = Assert.Throws<HeadstartException>(() => OnnxWeights.Read(EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNetPreprocess)));
        Assert.Contains("not an ONNX architecture Headstart can import", e.Message);
        Assert.Throws<HeadstartException>(() => OnnxWeights.ReadMeanImage(fx.ModelPath));
    }

    [Fact]
    public void EmbeddedWeights_MissingFile_SaysHowToFix()
    {
        var e = Assert.Throws<HeadstartException>(() => EmbeddedWeights.GetPath("NoSuch/model.onnx"));
        Assert.Contains("Microsoft.ML.DnnImageFeaturizer.ResNet18", e.Message);
        Assert.Contains("dotnet build", e.Message);
    }
}
