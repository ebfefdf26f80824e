using Headstart.Data;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Xunit;

namespace Headstart.Tests.Training;

/// <summary>
/// The default recipe on real photos (../shared/datasets/flowers-small, 400 train / 200 val, 5 classes): it must reach
/// PyTorch's cached-feature figure on the same data and weights (84.0%, ../shared/README.md), with no selection on val.
/// </summary>
[Collection(GlobalRngCollection.Name)]
public class FlowersSmallTests
{
    [SharedFact("datasets/flowers-small")]
    public void DefaultFrozenRecipeReachesPyTorchCachedAccuracy()
    {
        var data = ImageFolder.Load(SharedData.PathTo("datasets/flowers-small"));
        Assert.Equal(5, data.Classes.Count);
        Assert.Equal(400, data.Train.Count);
        Assert.Equal(200, data.Val.Count);
        using var result = new TransferTrainer().Train(data, new TrainOptions { CacheDir = "none" });
        Assert.False(result.Manifest.Training!["keep_best"].GetBoolean());      // last-epoch weights: val never selects
        Assert.True(result.Metrics.Accuracy >= 0.84, $"val accuracy {result.Metrics.Accuracy:P1} < 84.0%");
        Assert.Equal(0, result.Manifest.Dataset!.SkippedCount);
    }
}
