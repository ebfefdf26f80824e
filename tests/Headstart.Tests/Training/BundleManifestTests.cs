using System.Text.Json;
using Headstart.Data;
using Headstart.Models;
using Headstart.Training;
using Xunit;

namespace Headstart.Tests.Training;

/// <summary>The typed view of a bundle's recorded training options: one set of defaults, TrainOptions' own.</summary>
public class BundleManifestTests
{
    private static BundleManifest With(string? trainingJson) => new()
    {
        Arch = "resnet18", Classes = ["a", "b"], Preprocessing = Preprocessing.ImageNet,
        Training = trainingJson is null ? null
            : JsonDocument.Parse(trainingJson).RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone()),
    };

    [Fact]
    public void TheRecordedSplitIsTheOneEvaluateAndReportUse()
    {
        var split = With("""{"seed": 7, "val_split": 0.3, "model": "resnet18", "augment": "flip"}""").TrainingSplit();
        Assert.Equal((7, 0.3), (split.Seed, split.ValSplit));
        Assert.Equal(AugmentLevel.Flip, With("""{"augment": "flip"}""").TrainingOptions()!.Augment);
    }

    [Fact]
    public void MissingOptionsTakeTrainOptionsOwnDefaults()
    {
        var defaults = new TrainOptions();
        var none = With(null).TrainingSplit();
        Assert.Equal((defaults.Seed, defaults.ValSplit), (none.Seed, none.ValSplit));
        Assert.Null(With(null).TrainingOptions());
        var partial = With("""{"seed": 5}""").TrainingSplit();
        Assert.Equal((5, defaults.ValSplit), (partial.Seed, partial.ValSplit));
    }

    [Fact]
    public void ARealRunsOptionsRoundTrip()
    {
        var o = new TrainOptions { Seed = 11, ValSplit = 0.25, Epochs = 3, Augment = AugmentLevel.None };
        var recorded = JsonSerializer.SerializeToElement(o, BundleManifest.JsonOptions).EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.Clone());
        var back = (With(null) with { Training = recorded }).TrainingOptions();
        Assert.Equal(o, back);
    }
}
