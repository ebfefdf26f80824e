using Headstart.Bundles;
using Headstart.Data;
using Headstart.Export;
using Headstart.Inference;
using Headstart.Tests.TestSupport;
using Microsoft.ML;
using Microsoft.ML.Data;
using Xunit;
using Xunit.Abstractions;

namespace Headstart.Tests.Export;

/// <summary>The exported model consumed from ML.NET's ApplyOnnxModel gives Headstart's probabilities.</summary>
public sealed class MlNetConsumptionTests(ITestOutputHelper output)
{
    private const int Size = 224;

    /// <summary>An ML.NET row: one image as float32 (1, 3, 224, 224) RGB 0-1, the exported model's input.</summary>
    private sealed class ImageRow
    {
        [ColumnName(OnnxExporter.InputName), VectorType(1, 3, Size, Size)]
        public float[] Image { get; set; } = [];
    }

    private sealed class ScoreRow
    {
        [ColumnName(OnnxExporter.ProbabilitiesName)]
        public float[] Probabilities { get; set; } = [];
    }

    [Fact]
    public void ApplyOnnxModel_MatchesHeadstart()
    {
        using var dir = new TempDir("mlnet");
        var (bundle, images) = TinyBundle.Create(dir.Path);
        var onnxPath = dir.Combine("model.onnx");
        var (manifest, spec, model) = ModelBundle.Load(bundle);
        using (model) OnnxExporter.Export(model, spec, manifest.Classes, onnxPath);
        using var clf = Classifier.Load(bundle);   // TorchSharp

        // The caller's part of the contract: resize the shorter side to 256, centre-crop 224, RGB 0-1, planar.
        var crop = ImageTransform.Eval(Classifier.RawRgb(manifest.Preprocessing));
        var rows = images.Select(f =>
        {
            var pixels = new float[crop.OutputLength];
            crop.Apply(ImageDecoder.Decode(f), new Random(0), pixels);
            return new ImageRow { Image = pixels };
        }).ToList();

        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(rows);
        var pipeline = ml.Transforms.ApplyOnnxModel(
            outputColumnNames: [OnnxExporter.ProbabilitiesName], inputColumnNames: [OnnxExporter.InputName], modelFile: onnxPath,
            shapeDictionary: new Dictionary<string, int[]> { [OnnxExporter.InputName] = [1, 3, Size, Size] },
            gpuDeviceId: null, fallbackToCpu: false);
        var scored = ml.Data.CreateEnumerable<ScoreRow>(pipeline.Fit(data).Transform(data), reuseRowObject: false).ToList();

        float maxDiff = 0;
        for (int i = 0; i < images.Length; i++)
        {
            var expected = clf.Predict(File.ReadAllBytes(images[i]), top: manifest.Classes.Count).Top;
            Assert.Equal(manifest.Classes.Count, scored[i].Probabilities.Length);
            foreach (var lp in expected)
                maxDiff = Math.Max(maxDiff, Math.Abs(lp.Probability - scored[i].Probabilities[manifest.Classes.ToList().IndexOf(lp.Label)]));
        }
        output.WriteLine($"ML.NET ApplyOnnxModel vs Headstart (TorchSharp), {images.Length} images: max abs probability difference {maxDiff:E3}");
        Assert.True(maxDiff <= 1e-4f, $"max abs probability difference {maxDiff}");
    }
}
