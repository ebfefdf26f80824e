using Headstart.Data;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Training;

/// <summary>
/// fine-tune = the frozen recipe on cached features, then unfreeze: its head phase must be the frozen strategy itself,
/// so the unfrozen phase starts from the frozen strategy's head.
/// </summary>
[Collection(GlobalRngCollection.Name)]
public class FineTuneCompositionTests
{
    [Fact]
    public void FineTuneHeadPhaseEqualsTheFrozenStrategy()
    {
        using var tmp = new TempDir("ft-compose");
        SyntheticImages.WriteImageFolder(tmp.Combine("data"), classes: 2, trainPerClass: 6, valPerClass: 3);
        var data = ImageFolder.Load(tmp.Combine("data"));
        // Fine-tune's head phase is the SGD head (the frozen strategy's --head-fit sgd), on the same views.
        var common = new TrainOptions { Epochs = 6, CacheDir = tmp.Combine("cache"), HeadFit = HeadFit.Sgd };
        using var frozen = new TransferTrainer().Train(data, common);
        // No unfrozen epochs: only the head phase runs, on the same cached features with the same recipe.
        using var tuned = new TransferTrainer().Train(data, common with { Strategy = Strategy.FineTune, FreezeEpochs = 6, Epochs = 0 });
        foreach (var key in new[] { "fc.weight", "fc.bias" })
        {
            var a = frozen.Model.state_dict()[key];
            var b = tuned.Model.state_dict()[key];
            Assert.True(a.allclose(b, rtol: 0, atol: 1e-6), $"{key} differs by {(a - b).abs().max().item<float>()}");
        }
        Assert.Equal(frozen.Manifest.History!.Select(h => h.TrainLoss), tuned.Manifest.History!.Select(h => h.TrainLoss));
    }

    [Fact]
    public void FlipFineTunesDeterministicallyFromTheSameHeadAsLight()
    {
        using var tmp = new TempDir("ft-flip");
        SyntheticImages.WriteImageFolder(tmp.Combine("data"), classes: 2, trainPerClass: 4, valPerClass: 2);
        var data = ImageFolder.Load(tmp.Combine("data"));
        var o = new TrainOptions
        {
            Strategy = Strategy.FineTune, FreezeEpochs = 3, Epochs = 1, BatchSize = 4, Augment = AugmentLevel.Flip,
            CacheDir = tmp.Combine("cache"),
        };
        using var tuned = new TransferTrainer().Train(data, o);
        using var again = new TransferTrainer().Train(data, o);
        using var head = new TransferTrainer().Train(data, o with { Epochs = 0 });
        using var lightHead = new TransferTrainer().Train(data, o with { Epochs = 0, Augment = AugmentLevel.Light });

        var tunedState = tuned.Model.state_dict();
        var headState = head.Model.state_dict();
        foreach (var (key, value) in tunedState)
            Assert.True(value.allclose(again.Model.state_dict()[key], rtol: 0, atol: 0), $"{key}: the same seed gave other weights");
        // Flip's head phase trains on the same two cached views as the default (light) recipe's.
        foreach (var key in new[] { "fc.weight", "fc.bias" })
            Assert.True(headState[key].allclose(lightHead.Model.state_dict()[key], rtol: 0, atol: 0), key);
        // The unfrozen epoch, on images flipped on the fly, moved the backbone.
        Assert.Contains(tunedState, kv => !kv.Key.StartsWith("fc.") && kv.Value.is_floating_point() && !kv.Value.allclose(headState[kv.Key], rtol: 0, atol: 0));
    }
}

/// <summary>Flip TTA on the image path: each validation probability is the mean of the image's and its mirror's, and
/// the bundle's Classifier gives the same.</summary>
[Collection(GlobalRngCollection.Name)]
public class ImageTtaTests
{
    [Fact]
    public void TtaAveragesTheImageAndItsMirror()
    {
        using var tmp = new TempDir("tta");
        SyntheticImages.WriteImageFolder(tmp.Combine("data"), classes: 2, trainPerClass: 4, valPerClass: 3);
        var data = ImageFolder.Load(tmp.Combine("data"));
        var o = new TrainOptions
        {
            Model = "small_cnn", Pretrained = false, Strategy = Strategy.Full, Freeze = Freeze.None, Epochs = 1,
            CacheDir = "none", TestTimeFlip = true,
        };
        using var result = new TransferTrainer().Train(data, o);
        Headstart.Bundles.ModelBundle.Save(tmp.Combine("bundle"), result.Model, result.Manifest);
        // The same weights scored one view at a time: a copy of the bundle without the recorded flip.
        Headstart.Bundles.ModelBundle.Save(tmp.Combine("one-view"), result.Model, result.Manifest with { TestTimeFlip = false });
        using var tta = Headstart.Inference.Classifier.Load(tmp.Combine("bundle"));
        using var clf = Headstart.Inference.Classifier.Load(tmp.Combine("one-view"));
        Assert.Equal(6, result.ValPredictions.Count);
        double largestViewGap = 0;
        foreach (var p in result.ValPredictions)
        {
            // The mirror image, written losslessly so both go through the same decoder and preprocessing.
            using var bitmap = SkiaSharp.SKBitmap.Decode(p.Path);
            using var mirrored = new SkiaSharp.SKBitmap(bitmap.Width, bitmap.Height);
            using (var canvas = new SkiaSharp.SKCanvas(mirrored))
            {
                canvas.Scale(-1, 1, bitmap.Width / 2f, 0);
                canvas.DrawBitmap(bitmap, 0, 0);
            }
            using var original = new SkiaSharp.SKBitmap(bitmap.Width, bitmap.Height);
            bitmap.CopyTo(original);
            byte[] Png(SkiaSharp.SKBitmap b) => b.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100).ToArray();
            string label = data.Classes[p.Predicted];
            float a = clf.Predict(Png(original), top: 2).Top.Single(t => t.Label == label).Probability;
            float b = clf.Predict(Png(mirrored), top: 2).Top.Single(t => t.Label == label).Probability;
            Assert.True(Math.Abs(p.Probability - (a + b) / 2) < 1e-4, $"{p.Path}: TTA {p.Probability}, views {a} and {b}");
            // And the bundle, which records the flip, scores the image as training's validation did.
            float bundled = tta.Predict(Png(original), top: 2).Top.Single(t => t.Label == label).Probability;
            Assert.True(Math.Abs(p.Probability - bundled) < 1e-4, $"{p.Path}: TTA {p.Probability}, the bundle's Classifier {bundled}");
            largestViewGap = Math.Max(largestViewGap, Math.Abs(a - b));
        }
        // Otherwise the check above could not tell TTA from a single view.
        Assert.True(largestViewGap > 1e-3, $"the two views agree to {largestViewGap}");
    }
}
