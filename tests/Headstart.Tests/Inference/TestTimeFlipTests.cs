using Headstart.Bundles;
using Headstart.Data;
using Headstart.Export;
using Headstart.Inference;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using SkiaSharp;
using Xunit;

namespace Headstart.Tests.Inference;

/// <summary>
/// Flip test-time augmentation is a property of the bundle (issue 21): a bundle trained with it records it, and
/// Classifier (TorchSharp and ONNX Runtime), the ONNX export and so evaluate/predict/report all average each image
/// with its mirror image, so the accuracy training reports is what the bundle delivers.
/// </summary>
[Collection(GlobalRngCollection.Name)]
public class TestTimeFlipTests : IClassFixture<TestTimeFlipTests.Trained>
{
    public sealed class Trained : IDisposable
    {
        public readonly TempDir Dir = new("tta-bundle");
        public readonly string Data, Tta, Plain;
        public readonly IReadOnlyList<PredictionRecord> TtaPredictions;

        public Trained()
        {
            Data = Dir.Combine("data");
            // Square images: the centre crop of a mirror image is then exactly the mirror of the centre crop.
            SyntheticImages.WriteImageFolder(Data, classes: 3, trainPerClass: 6, valPerClass: 3);
            var data = ImageFolder.Load(Data);
            var o = new TrainOptions { Epochs = 3, CacheDir = Dir.Combine("cache") };
            using (var tta = new TransferTrainer().Train(data, o with { TestTimeFlip = true }))
            {
                TtaPredictions = tta.ValPredictions;
                Tta = Dir.Combine("tta");
                ModelBundle.Save(Tta, tta);
            }
            using (var plain = new TransferTrainer().Train(data, o))
            {
                Plain = Dir.Combine("plain");
                ModelBundle.Save(Plain, plain);
            }
        }

        public void Dispose() => Dir.Dispose();
    }

    private readonly Trained fx;
    public TestTimeFlipTests(Trained fx) => this.fx = fx;

    private static byte[] Mirrored(string path)
    {
        using var src = SKBitmap.Decode(path);
        using var dst = new SKBitmap(src.Width, src.Height);
        using (var canvas = new SKCanvas(dst))
        {
            canvas.Scale(-1, 1, src.Width / 2f, 0);
            canvas.DrawBitmap(src, 0, 0);
        }
        using var img = SKImage.FromBitmap(dst);
        using var png = img.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }

    private static float[] Probabilities(Classifier clf, byte[] image) =>
        clf.Predict(image, top: clf.Classes.Count).Top.OrderBy(t => t.Label, StringComparer.Ordinal).Select(t => t.Probability).ToArray();

    private IEnumerable<string> ValImages => fx.TtaPredictions.Select(p => p.Path);

    [Fact]
    public void TheBundleRecordsItAndClassifierDeliversTheAccuracyTrainingReported()
    {
        var m = ModelBundle.ReadManifest(fx.Tta);
        Assert.True(m.TestTimeFlip);
        Assert.Equal(BundleManifest.CurrentFormatVersion, m.FormatVersion);
        Assert.False(ModelBundle.ReadManifest(fx.Plain).TestTimeFlip);

        // Training validated on cached ORT features averaged with the mirrored view; the bundle's Classifier (TorchSharp,
        // the imported backbone) must give each validation image the same class and, within the engines' agreement, the
        // same confidence.
        using var clf = Classifier.Load(fx.Tta);
        var data = ImageFolder.Load(fx.Data);
        foreach (var record in fx.TtaPredictions)
        {
            var p = clf.PredictFile(record.Path, top: data.Classes.Count);
            Assert.Equal(data.Classes[record.Predicted], p.Label);
            Assert.Equal(record.Probability, p.Probability, 1e-3f);
        }
    }

    [Fact]
    public void AnImageAndItsMirrorImageGetTheSameProbabilities()
    {
        using var tta = Classifier.Load(fx.Tta);
        using var plain = Classifier.Load(fx.Plain);
        float plainGap = 0;
        foreach (var path in ValImages)
        {
            byte[] image = File.ReadAllBytes(path), mirror = Mirrored(path);
            var (a, b) = (Probabilities(tta, image), Probabilities(tta, mirror));
            for (int j = 0; j < a.Length; j++) Assert.Equal(a[j], b[j], 1e-5f);
            var (c, d) = (Probabilities(plain, image), Probabilities(plain, mirror));
            plainGap = Math.Max(plainGap, c.Zip(d, (x, y) => Math.Abs(x - y)).Max());
        }
        Assert.True(plainGap > 1e-4f, $"without TTA a mirror image should change some probability (max gap {plainGap})");
    }

    [Fact]
    public void OnnxRuntimeAndTheExportApplyItToo()
    {
        using var torch = Classifier.Load(fx.Tta);
        using var ort = Classifier.Load(fx.Tta, engine: InferenceEngine.Onnx);
        var (manifest, spec, model) = ModelBundle.Load(fx.Tta);
        string onnx = fx.Dir.Combine("tta.onnx");
        using (model)
        {
            var options = new OnnxExportOptions
            {
                Preprocessing = manifest.Preprocessing, MeanImage = ModelBundle.ReadMeanImage(fx.Tta, manifest), TestTimeFlip = true,
            };
            OnnxExporter.Export(model, spec, manifest.Classes, onnx, options);
            var images = ValImages.Select(p => ImageDecoder.Decode(p, DecodeOptions.Default)).ToList();
            var check = OnnxVerifier.Verify(onnx, model, manifest.Preprocessing, images, meanImage: options.MeanImage, testTimeFlip: true);
            Assert.True(check.Passed, $"max abs difference {check.MaxAbsProbabilityDifference}");
            // Verified against TorchSharp without the flip, the same file fails: the graph really averages the views.
            var unflipped = OnnxVerifier.Verify(onnx, model, manifest.Preprocessing, images, meanImage: options.MeanImage);
            Assert.False(unflipped.Passed);
        }
        using var exported = Classifier.Load(onnx);
        Assert.True(exported.Manifest.TestTimeFlip);
        foreach (var path in ValImages)
        {
            byte[] image = File.ReadAllBytes(path);
            var expected = Probabilities(torch, image);
            foreach (var clf in new[] { ort, exported })
            {
                var actual = Probabilities(clf, image);
                for (int j = 0; j < expected.Length; j++) Assert.Equal(expected[j], actual[j], 1e-4f);
            }
        }
    }

    [Fact]
    public void EvaluateOnTheCommandLineReportsTheAccuracyTrainingReported()
    {
        var env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = fx.Dir.Combine("cli-cache") };
        var train = CliRunner.Run(["train", fx.Data, "--tta", "--epochs", "3", "--out", fx.Dir.Combine("cli-tta"), "--json"], env);
        Assert.True(train.ExitCode == 0, train.ToString());
        double trained = train.Json.GetProperty("val_accuracy").GetDouble();
        var eval = CliRunner.Run(["evaluate", fx.Dir.Combine("cli-tta"), fx.Data, "--json"], env);
        Assert.True(eval.ExitCode == 0, eval.ToString());
        Assert.Equal(trained, eval.Json.GetProperty("accuracy").GetDouble(), 9);
    }
}
