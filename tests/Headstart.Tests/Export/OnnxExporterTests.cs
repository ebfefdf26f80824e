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

    /// <summary>Random BN running stats, so that folding BN into Conv is really exercised.</summary>
    private static void RandomiseBatchNorm(ImageClassifier model)
    {
        using var _ = torch.no_grad();
        var g = torch.manual_seed(11);
        foreach (var (name, buffer) in model.named_buffers())
        {
            if (name.EndsWith("running_mean")) buffer.copy_(torch.randn(buffer.shape, generator: g) * 0.1f);
            if (name.EndsWith("running_var")) buffer.copy_(torch.rand(buffer.shape, generator: g) + 0.5f);
        }
        foreach (var (name, p) in model.named_parameters())
            if (name.StartsWith("bn") || name.Contains(".bn") || name.EndsWith("downsample.1.weight") || name.EndsWith("downsample.1.bias"))
                p.copy_(torch.rand(p.shape, generator: g) + (name.EndsWith("weight") ? 0.5f : -0.5f));
    }

    [Theory]
    [InlineData("resnet18-cntk", 3)]
    [InlineData("resnet18", 5)]
    [InlineData("resnext50_32x4d", 4)]
    public void Export_MatchesTorchSharp_InOnnxRuntime(string name, int classes)
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

        var images = new List<Tensor> { torch.rand(2, 3, 224, 224, generator: torch.manual_seed(5)) };
        if (SharedData.Has("datasets/flowers-small/val/roses"))
            images.Add(CntkResNet18Fixture.DecodeRgb(Directory.EnumerateFiles(SharedData.PathTo("datasets/flowers-small/val/roses")).Order().First()).unsqueeze(0) / 255f);
        var rgb = torch.cat(images).contiguous();                                     // (N, 3, 224, 224) RGB 0-1

        Tensor expectedLogits;
        using (torch.no_grad())
        {
            // A fresh head gives near-uniform probabilities, which would agree trivially; a saturated one (all 0/1)
            // too. Scale the head so that the logits spread with std ≈ 3.
            var modelInput = Preprocess(rgb, spec.Preprocessing);
            float spread = model.call(modelInput).std().item<float>();
            foreach (var (key, p) in model.named_parameters())
                if (key.StartsWith("fc.")) p.mul_(3f / spread);
            expectedLogits = model.call(modelInput);
        }
        var expected = expectedLogits.softmax(1);

        using var dir = new TempDir();
        var path = dir.Combine("model.onnx");
        var classNames = Enumerable.Range(0, classes).Select(i => $"class {i}").ToArray();
        OnnxExporter.Export(model, spec, classNames, path);

        using var session = new InferenceSession(path);
        Assert.Equal(classNames, System.Text.Json.JsonSerializer.Deserialize<string[]>(session.ModelMetadata.CustomMetadataMap["headstart.classes"]));
        using var input = OrtValue.CreateTensorValueFromMemory(rgb.data<float>().ToArray(), [rgb.shape[0], 3, 224, 224]);
        using var outputs = session.Run(new RunOptions(), [OnnxExporter.InputName], [input], [OnnxExporter.ProbabilitiesName, OnnxExporter.LogitsName]);
        var actual = torch.tensor(outputs[0].GetTensorDataAsSpan<float>().ToArray(), expected.shape);
        var actualLogits = torch.tensor(outputs[1].GetTensorDataAsSpan<float>().ToArray(), expected.shape);
        float logitDiff = (actualLogits - expectedLogits).abs().max().item<float>();
        float maxLogit = expectedLogits.abs().max().item<float>();

        float maxDiff = (actual - expected).abs().max().item<float>();
        float maxProb = expected.max().item<float>();
        output.WriteLine($"{name}: batch {rgb.shape[0]}, {new FileInfo(path).Length / 1e6:F1} MB, max prob {maxProb:F4}, max abs prob diff {maxDiff:E3}, " +
            $"max|logit| {maxLogit:F2}, logit diff {logitDiff:E3}");
        Assert.True(maxProb is > 0.6f and < 0.99999f, $"max probability {maxProb}: near-uniform or saturated probabilities would make the comparison vacuous");
        Assert.True(logitDiff <= 1e-4f * maxLogit, $"max abs logit difference {logitDiff} > 1e-4 x {maxLogit}");
        Assert.True(maxDiff <= 1e-4f, $"max abs probability difference {maxDiff} > 1e-4");
    }
}
