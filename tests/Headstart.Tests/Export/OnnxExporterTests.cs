using Headstart.Export;
using Headstart.Models;
using Headstart.Tests.TestSupport;
using Headstart.Tests.Weights;
using Headstart.Weights;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Headstart.Tests.Export;

/// <summary>Exported models run in ONNX Runtime and agree with TorchSharp: max abs probability difference ≤ 1e-4.</summary>
public sealed class OnnxExporterTests(ITestOutputHelper output)
{
    /// <summary>(N, 3, S, S) RGB 0-1 → the model input, written independently of the exporter from the spec's contract.</summary>
    private static Tensor Preprocess(Tensor rgb01, Preprocessing pre)
    {
        var x = rgb01 * pre.ValueScale;
        if (pre.ChannelOrder == ChannelOrder.Bgr) x = x.flip(1);
        if (pre.MeanImage is { } name) x = x - torch.tensor(MeanImages.Get(name), [1, 3, pre.InputSize, pre.InputSize]);
        x = x - torch.tensor(pre.Mean).view(1, 3, 1, 1);
        return x / torch.tensor(pre.Std).view(1, 3, 1, 1);
    }

    /// <summary>Random BN statistics and affine parameters, so that folding BN into Conv is really exercised, and a
    /// non-negligible ConvNeXt layer scale.</summary>
    private static void RandomiseBatchNorm(ImageClassifier model)
    {
        using var _ = torch.no_grad();
        var g = torch.manual_seed(11);
        foreach (var (_, m) in model.named_modules())
        {
            if (m is not TorchSharp.Modules.BatchNorm2d bn) continue;
            bn.running_mean!.copy_(torch.randn(bn.running_mean.shape, generator: g) * 0.1f);
            bn.running_var!.copy_(torch.rand(bn.running_var.shape, generator: g) + 0.5f);
            bn.weight!.copy_(torch.rand(bn.weight.shape, generator: g) + 0.5f);
            bn.bias!.copy_(torch.rand(bn.bias.shape, generator: g) - 0.5f);
        }
        // ConvNeXt's layer scale starts at 1e-6, which would hide its blocks' arithmetic from the comparison.
        foreach (var (name, p) in model.named_parameters())
            if (name.EndsWith("layer_scale")) p.copy_(torch.rand(p.shape, generator: g) * 0.5f);
    }

    /// <summary>Every model the exporter claims to support, with the input size its test runs at: small where the
    /// architecture allows (a fixed 6x6 / 7x7 adaptive pool after 32x downsampling needs 32 for VGG; Inception v3's
    /// unpadded reductions need at least 75).</summary>
    public static TheoryData<string, int> Exportable()
    {
        var data = new TheoryData<string, int>();
        foreach (var spec in ModelRegistry.All.Where(OnnxExporter.CanExport).OrderBy(s => s.Name, StringComparer.Ordinal))
            if (spec.Name != "resnet18-cntk") data.Add(spec.Name, spec.Family switch { "vgg" => 32, "inception" => 96, _ => 64 });
        return data;
    }

    /// <summary>Random weights, a 3-class head and random BN statistics, at a small input size.</summary>
    [Theory]
    [MemberData(nameof(Exportable))]
    public void Export_EveryExportableModel_MatchesTorchSharp(string name, int size)
    {
        using var scope = torch.NewDisposeScope();
        var spec = ModelRegistry.Get(name);
        using var model = spec.Create(3);
        RandomiseBatchNorm(model);
        model.eval();
        var rgb = torch.rand(4, 3, size, size, generator: torch.manual_seed(5));
        Check(spec, model, rgb, new OnnxExportOptions { InputSize = size });
    }

    [Theory]
    [InlineData(14)]
    [InlineData(18)]
    [InlineData(21)]
    public void Export_SupportedOpsets_LoadAndMatch(long opset)
    {
        using var scope = torch.NewDisposeScope();
        var spec = ModelRegistry.Get("mobilenet_v3_small");   // HardSwish needs opset 14
        using var model = spec.Create(3);
        RandomiseBatchNorm(model);
        model.eval();
        Check(spec, model, torch.rand(2, 3, 64, 64, generator: torch.manual_seed(2)), new OnnxExportOptions { InputSize = 64, Opset = opset });
    }

    [Fact]
    public void Export_UnsupportedOpset_Throws()
    {
        var spec = ModelRegistry.Get("squeezenet1_1");
        using var model = spec.Create(2);
        var e = Assert.Throws<HeadstartException>(() => OnnxExporter.Build(model, spec, ["a", "b"], new OnnxExportOptions { Opset = 13 }));
        Assert.Contains("14 to 21", e.Message);
    }

    /// <summary>At the model's own 224 input, with the real CNTK weights and a real photo when the shared data exists,
    /// through both input formats.</summary>
    [Theory]
    [InlineData("resnet18-cntk", 3, OnnxInputFormat.FloatNchw)]
    [InlineData("resnet18-cntk", 3, OnnxInputFormat.Uint8Hwc)]
    [InlineData("mobilenet_v3_small", 4, OnnxInputFormat.Uint8Hwc)]
    [InlineData("googlenet", 5, OnnxInputFormat.FloatNchw)]   // ceil-mode pools at the real size
    [InlineData("alexnet", 3, OnnxInputFormat.FloatNchw)]     // the fixed 6x6 adaptive pool is the identity at 224
    public void Export_AtInputSize_MatchesTorchSharp_InOnnxRuntime(string name, int classes, OnnxInputFormat format)
    {
        using var scope = torch.NewDisposeScope();
        var spec = ModelRegistry.Get(name);
        using var model = spec.Create(classes);
        if (name == "resnet18-cntk")
        {
            using var state = OnnxWeights.ReadCntkResNet18(EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNet18));
            model.load_state_dict(state.ToDictionary(kv => kv.Key, kv => kv.Value), strict: false);
        }
        else RandomiseBatchNorm(model);
        model.eval();

        // uint8 pixels, so that both formats see exactly the same image
        var images = new List<Tensor> { torch.randint(0, 256, [2, 3, 224, 224], generator: torch.manual_seed(5)).to(ScalarType.Float32) };
        if (SharedData.Has("datasets/flowers-small/val/roses"))
            images.Add(CntkResNet18Fixture.DecodeRgb(Directory.EnumerateFiles(SharedData.PathTo("datasets/flowers-small/val/roses")).Order().First()).unsqueeze(0));
        var rgb = (torch.cat(images) / 255f).contiguous();                                // (N, 3, 224, 224) RGB 0-1
        // The default weights' preprocessing (resnet18-cntk's: BGR 0-255 minus the mean image) built into the graph.
        Check(spec, model, rgb, new OnnxExportOptions { Input = format, Preprocessing = spec.PreprocessingFor(spec.WeightSources.FirstOrDefault()) });
    }

    private void Check(ModelSpec spec, ImageClassifier model, Tensor rgb, OnnxExportOptions options)
    {
        Tensor expectedLogits;
        using (torch.no_grad())
        {
            // A fresh head gives near-uniform probabilities, which would agree trivially; a saturated one (all 0/1)
            // too. Scale the head so that the logits spread with std ≈ 3.
            var modelInput = Preprocess(rgb, options.Preprocessing ?? spec.Preprocessing);
            float spread = model.call(modelInput).std().item<float>();
            foreach (var (key, p) in model.named_parameters())
                if (key.StartsWith(spec.HeadPrefix + ".")) p.mul_(3f / spread);
            expectedLogits = model.call(modelInput);
        }
        var expected = expectedLogits.softmax(1);
        int classes = (int)expected.shape[1];
        long n = rgb.shape[0], s = rgb.shape[2];

        using var dir = new TempDir();
        var path = dir.Combine("model.onnx");
        var classNames = Enumerable.Range(0, classes).Select(i => $"class {i}").ToArray();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        OnnxExporter.Export(model, spec, classNames, path, options);
        var exportTime = watch.Elapsed;

        using var session = new InferenceSession(path);
        Assert.Equal(classNames, System.Text.Json.JsonSerializer.Deserialize<string[]>(session.ModelMetadata.CustomMetadataMap["headstart.classes"]));
        using var input = options.Input == OnnxInputFormat.Uint8Hwc
            ? OrtValue.CreateTensorValueFromMemory((rgb * 255f).round().permute(0, 2, 3, 1).to(ScalarType.Byte).contiguous().data<byte>().ToArray(), [n, s, s, 3])
            : OrtValue.CreateTensorValueFromMemory(rgb.contiguous().data<float>().ToArray(), [n, 3, s, s]);
        using var outputs = session.Run(new RunOptions(), [OnnxExporter.InputName], [input], [OnnxExporter.ProbabilitiesName, OnnxExporter.LogitsName]);
        var actual = torch.tensor(outputs[0].GetTensorDataAsSpan<float>().ToArray(), expected.shape);
        var actualLogits = torch.tensor(outputs[1].GetTensorDataAsSpan<float>().ToArray(), expected.shape);
        float logitDiff = (actualLogits - expectedLogits).abs().max().item<float>();
        float maxLogit = expectedLogits.abs().max().item<float>();

        float maxDiff = (actual - expected).abs().max().item<float>();
        float maxProb = expected.max().item<float>();
        output.WriteLine($"{spec.Name} ({options.Input}, {s}px): batch {n}, {new FileInfo(path).Length / 1e6:F1} MB, export {exportTime.TotalSeconds:F1} s, " +
            $"max prob {maxProb:F4}, max abs prob diff {maxDiff:E3}, max|logit| {maxLogit:F2}, logit diff {logitDiff:E3}");
        Assert.True(maxProb > 1.5f / classes && maxProb < 0.99999f, $"max probability {maxProb}: near-uniform or saturated probabilities would make the comparison vacuous");
        Assert.True(logitDiff <= 1e-4f * Math.Max(1f, maxLogit), $"max abs logit difference {logitDiff} > 1e-4 x {maxLogit}");
        Assert.True(maxDiff <= 1e-4f, $"max abs probability difference {maxDiff} > 1e-4");
    }
}
