using System.Text.Json;
using Headstart.Tests.Data;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>`--augment flip`: the frozen strategy caches exactly the centre and mirror views, whatever
/// --augment-views asks for, and the bundle records the level.</summary>
[Collection(CliCollection.Name)]
public class TrainAugmentTests
{
    [Fact]
    public void FlipCachesTheTwoViewsAndIsRecorded()
    {
        using var tmp = new TempDir("augment-flip");
        string data = tmp.Combine("shapes"), bundle = tmp.Combine("bundle");
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 5, valPerClass: 3);
        var env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Combine("cache") };

        var train = CliRunner.Run(["train", data, "--out", bundle, "--epochs", "2", "--augment", "flip", "--augment-views", "3", "--json"], env);
        Assert.True(train.ExitCode == 0, train.ToString());
        Assert.Contains("(2 view(s) per training image)", train.Stderr);
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(bundle, "model.json")));
        Assert.Equal("flip", manifest.RootElement.GetProperty("training").GetProperty("augment").GetString());

        var bad = CliRunner.Run(["train", data, "--out", tmp.Combine("b2"), "--augment", "mirror"], env);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("flip", bad.Stderr);                                  // the choices are listed
    }
}
