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
        var common = new TrainOptions { Epochs = 6, CacheDir = tmp.Combine("cache") };
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
}
