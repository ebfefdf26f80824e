using Headstart.Bundles;
using Headstart.Export;
using Headstart.Inference;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Inference;

/// <summary>Classifier.Load on an exported .onnx, and on a bundle with the ONNX engine, agrees with TorchSharp.</summary>
public sealed class ClassifierOnnxTests
{
    private static void AssertSame(IReadOnlyList<Prediction> expected, IReadOnlyList<Prediction> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Label, actual[i].Label);
            foreach (var (e, a) in expected[i].Top.Zip(actual[i].Top))
            {
                Assert.Equal(e.Label, a.Label);
                Assert.True(Math.Abs(e.Probability - a.Probability) <= 1e-4f, $"{e.Label}: {e.Probability} vs {a.Probability}");
            }
        }
    }

    [Fact]
    public void LoadOnnx_ReadsMetadata_AndMatchesTorch_ConcurrentlyAndBatched()
    {
        using var dir = new TempDir("clf-onnx");
        var (bundle, images) = TinyBundle.Create(dir.Path);
        var onnxPath = dir.Combine("model.onnx");
        var (manifest, spec, model) = ModelBundle.Load(bundle);
        using (model) OnnxExporter.Export(model, spec, manifest.Classes, onnxPath, new OnnxExportOptions { Input = OnnxInputFormat.Uint8Hwc });

        using var torchClf = Classifier.Load(bundle);
        using var onnxClf = Classifier.Load(onnxPath);
        using var bundleOnnx = Classifier.Load(bundle, engine: InferenceEngine.Onnx);
        Assert.Equal(InferenceEngine.Torch, torchClf.Engine);
        Assert.Equal(InferenceEngine.Onnx, onnxClf.Engine);
        Assert.Equal(manifest.Classes, onnxClf.Classes);
        Assert.Equal(manifest.Preprocessing.InputSize, onnxClf.Manifest.Preprocessing.InputSize);

        var expected = images.Select(f => torchClf.Predict(File.ReadAllBytes(f), top: 3)).ToList();
        Assert.True(expected.Select(p => p.Label).Distinct().Count() > 1 || expected.Any(p => p.Probability < 0.99f),
            "the test model's predictions should not be degenerate");
        // Concurrent single-image calls on one session...
        var concurrent = new Prediction[images.Length];
        Parallel.For(0, images.Length, i => concurrent[i] = onnxClf.Predict(File.ReadAllBytes(images[i]), top: 3));
        AssertSame(expected, concurrent);
        // ...and one batched call, through the in-memory export of the bundle.
        var decoded = images.Select(f => Headstart.Data.ImageDecoder.Decode(f)).ToList();
        AssertSame(expected, bundleOnnx.PredictDecoded(decoded, top: 3));
    }

    [Fact]
    public void LoadOnnx_ForeignModel_SaysHowToFix()
    {
        using var dir = new TempDir("clf-onnx-foreign");
        var path = dir.Combine("foreign.onnx");
        var b = new Headstart.Export.Onnx.OnnxGraphBuilder("foreign");
        var x = b.Input("x", Headstart.Onnx.TensorProto.Types.DataType.Float, "N", 3L);
        b.Output(b.Relu(x), Headstart.Onnx.TensorProto.Types.DataType.Float, "N", 3L);
        using (var s = File.Create(path)) Google.Protobuf.MessageExtensions.WriteTo(b.Build(17, [], "test"), s);
        var e = Assert.Throws<HeadstartException>(() => Classifier.Load(path));
        Assert.Contains("headstart export", e.Message);
    }

    [Fact]
    public void Disposed_Throws()
    {
        using var dir = new TempDir("clf-onnx-dispose");
        var (bundle, images) = TinyBundle.Create(dir.Path, "squeezenet1_1");
        var clf = Classifier.Load(bundle, engine: InferenceEngine.Onnx);
        clf.Dispose();
        Assert.Throws<ObjectDisposedException>(() => clf.Predict(File.ReadAllBytes(images[0])));
    }
}
