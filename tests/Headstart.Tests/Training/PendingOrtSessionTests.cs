using Headstart.Onnx;
using Headstart.Data;
using Headstart.Models;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Headstart.Weights;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Training;

/// <summary>
/// A cold frozen run builds the ONNX Runtime session on another core while libtorch loads: the probe that decides it
/// (<see cref="FrozenFeatures.AllCached"/>) must say "cold" whenever a feature is missing, and the pending session must
/// behave like one built in place, and never leak or throw when nobody takes it.
/// </summary>
[Collection(GlobalRngCollection.Name)]
public sealed class PendingOrtSessionTests : IDisposable
{
    private readonly TempDir tmp = new("pending-ort");
    private static string Onnx => EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNet18);

    public void Dispose() => tmp.Dispose();

    [Fact]
    public void TakenSessionComputesTheSameFeaturesAsOneBuiltInPlace()
    {
        using var pending = PendingOrtSession.Start(Onnx);
        using var taken = pending.Take();
        using var direct = new OrtFeatureExtractor(Onnx);
        manual_seed(3);
        using var x = randn(2, 3, 224, 224) * 50;   // (2, 3, 224, 224), about the scale of BGR minus the mean image
        using var a = taken.Extract(x);              // (2, 512)
        using var b = direct.Extract(x);
        Assert.Equal([2L, 512L], a.shape);
        Assert.Equal(0f, (a - b).abs().max().item<float>());
        Assert.Throws<InvalidOperationException>(() => pending.Take());
    }

    [Fact]
    public void UntakenSessionIsFreedOnDisposeAndABuildErrorSurfacesOnlyWhenTaken()
    {
        PendingOrtSession.Start(Onnx).Dispose();                                        // waits for it, frees it

        string bad = tmp.Combine("not-a-model.onnx");
        File.WriteAllText(bad, "not protobuf");
        using (var failing = PendingOrtSession.Start(bad)) { }                          // nobody needed it: no throw
        using var taken = PendingOrtSession.Start(bad);
        Assert.ThrowsAny<Exception>(() => taken.Take());
    }

    [Fact]
    public void AllCachedSaysColdUntilEveryViewIsCachedAndAgainWhenAnImageChanges()
    {
        string root = tmp.Combine("data");
        SyntheticImages.WriteImageFolder(root, classes: 2, trainPerClass: 3, valPerClass: 2);
        var data = ImageFolder.Load(root);
        var spec = ModelRegistry.Get("resnet18-cntk");
        var o = new TrainOptions { CacheDir = tmp.Combine("cache"), Epochs = 1, HeadFit = HeadFit.Sgd };   // the SGD head: centre + mirror views
        var w = Pretrained.Resolve(spec, Onnx);
        Assert.False(FrozenFeatures.AllCached(spec, w, data, o));
        Assert.False(FrozenFeatures.AllCached(spec, w, data, o with { CacheDir = "none" }));
        Assert.False(FrozenFeatures.AllCached(spec, null, data, o));

        using (var r = new TransferTrainer().Train(data, o)) { }
        Assert.True(FrozenFeatures.AllCached(spec, w, data, o));
        // Views the first run did not extract: flip TTA's mirrored validation images, a third augmented view.
        Assert.False(FrozenFeatures.AllCached(spec, w, data, o with { TestTimeFlip = true }));
        Assert.False(FrozenFeatures.AllCached(spec, w, data, o with { AugmentViews = 2 }));
        Assert.True(FrozenFeatures.AllCached(spec, w, data, o with { Augment = AugmentLevel.None }));   // a subset
        // --augment flip has exactly the centre and mirror views, however many views are asked for.
        Assert.True(FrozenFeatures.AllCached(spec, w, data, o with { Augment = AugmentLevel.Flip, AugmentViews = 3 }));

        // An edited image has a new key (size + mtime): that run is cold again, and its rerun warm.
        string changed = data.Val[0].Path;
        File.WriteAllBytes(changed, SyntheticImages.Shape(1, seed: 99, size: 80));
        File.SetLastWriteTimeUtc(changed, DateTime.UtcNow.AddMinutes(1));
        var edited = ImageFolder.Load(root);
        Assert.False(FrozenFeatures.AllCached(spec, w, edited, o));
        using (var r = new TransferTrainer().Train(edited, o)) { }
        Assert.True(FrozenFeatures.AllCached(spec, w, edited, o));
    }

    [Fact]
    public void ExtractorReadsViewsAndNonContiguousTensorsLikeTheirDenseCopies()
    {
        // ONNX Runtime reads the tensor's memory directly: a view with a storage offset, or a transposed tensor, must
        // give the features of its dense copy.
        using var ort = new OrtFeatureExtractor(Onnx);
        manual_seed(4);
        using var big = randn(3, 3, 224, 224) * 50;
        using var view = big[TensorIndex.Slice(1, 3)];                      // (2, 3, 224, 224), offset into big
        using var transposed = big[TensorIndex.Slice(0, 2)].transpose(2, 3); // non-contiguous
        foreach (var x in new[] { view, transposed })
        {
            using var dense = x.contiguous().clone();
            using var a = ort.Extract(x);
            using var b = ort.Extract(dense);
            Assert.Equal(0f, (a - b).abs().max().item<float>());
        }
        using var fromView = ort.Extract(view);
        using var fromFirst = ort.Extract(big[TensorIndex.Slice(0, 1)]);
        Assert.NotEqual(0f, (fromView[0] - fromFirst[0]).abs().max().item<float>());   // the offset is honoured
    }
}
