using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>`train --plan` shows what would run without running it; options without a plan are usage errors; lr-find
/// sweeps a phase of the same plan.</summary>
[Collection(CliCollection.Name)]
public sealed class TrainPlanTests : IDisposable
{
    private readonly TempDir tmp = new("plan");
    private readonly Dictionary<string, string> env;

    public TrainPlanTests() => env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Combine("cache") };

    [Fact]
    public void PlanPrintsThePhasesAndTrainsNothing()
    {
        string data = tmp.Combine("data");
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 3, valPerClass: 1);
        var r = CliRunner.Run(["train", data, "--model", "resnet18", "--strategy", "fine-tune", "--freeze", "2", "--epochs", "3",
            "--out", tmp.Combine("bundle"), "--plan", "--json"], env, 120);
        Assert.True(r.ExitCode == 0, r.ToString());
        var phases = r.Json.GetProperty("plan").GetProperty("phases").EnumerateArray().ToList();
        Assert.Equal(["head", "unfrozen"], phases.Select(p => p.GetProperty("name").GetString()));
        Assert.Equal(["cached_features", "images"], phases.Select(p => p.GetProperty("input").GetString()));
        Assert.Equal([5, 2], phases.Select(p => p.GetProperty("frozen_groups").GetInt32()));
        Assert.Equal(3, phases[1].GetProperty("epochs").GetInt32());
        Assert.Contains("phase 1 'unfrozen': 3 epoch(s) on images", r.Stderr.Replace("\n", " "));
        // --plan reads the data: the cached views are decided from its smallest class.
        Assert.Contains("the smallest class has 3 training images", System.Text.RegularExpressions.Regex.Replace(r.Stderr, @"\s+", " "));
        Assert.False(Directory.Exists(tmp.Combine("bundle")));
    }

    [Fact]
    public void TheHeadFitIsLbfgsUnlessAnOptionOnlySgdReadsIsGiven()
    {
        string data = tmp.Combine("data");
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 3, valPerClass: 1);
        string Fit(params string[] extra)
        {
            var r = CliRunner.Run(["train", data, "--plan", "--json", .. extra], env, 120);
            Assert.True(r.ExitCode == 0, r.ToString());
            return r.Json.GetProperty("plan").GetProperty("phases")[0].GetProperty("fit").GetString()!;
        }
        Assert.Equal("lbfgs", Fit());
        Assert.Equal("lbfgs", Fit("--head-fit", "lbfgs", "--batch-size", "8"));
        Assert.Equal("sgd", Fit("--epochs", "3"));
        Assert.Equal("sgd", Fit("--lr", "0.05"));
        Assert.Equal("sgd", Fit("--head-fit", "sgd"));
        var both = CliRunner.Run(["train", data, "--plan", "--head-fit", "lbfgs", "--epochs", "3", "--weight-decay", "0.1", "--json"], env, 120);
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("--head-fit lbfgs has no epochs, rate or schedule; drop --epochs, --weight-decay", both.Json.GetProperty("error").GetString());
        var unknown = CliRunner.Run(["train", data, "--plan", "--head-fit", "newton", "--json"], env, 120);
        Assert.Equal(2, unknown.ExitCode);
    }

    [Theory]
    [InlineData("frozen", "none", "that is --strategy full")]
    [InlineData("full", "2", "--strategy full trains every layer group")]
    [InlineData("fine-tune", "features", "would never unfreeze")]
    public void OptionsWithoutAPlanAreUsageErrors(string strategy, string freeze, string why)
    {
        string data = tmp.Combine("data");
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 3, valPerClass: 1);
        var r = CliRunner.Run(["train", data, "--strategy", strategy, "--freeze", freeze, "--out", tmp.Combine("bundle"), "--json"], env, 120);
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains(why, r.Json.GetProperty("error").GetString());
        Assert.False(Directory.Exists(tmp.Combine("bundle")));
    }

    [Fact]
    public void LrFindSweepsThePlansLastPhaseAndNamesTheOptionItSets()
    {
        string data = tmp.Combine("data");
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 6, valPerClass: 2);
        var frozen = CliRunner.Run(["lr-find", data, "--iterations", "8", "--out", tmp.Combine("frozen.svg"), "--json"], env, 300);
        Assert.True(frozen.ExitCode == 0, frozen.ToString());
        Assert.Equal("head", frozen.Json.GetProperty("phase").GetProperty("name").GetString());
        Assert.Equal("cached_features", frozen.Json.GetProperty("phase").GetProperty("input").GetString());
        Assert.Equal("--lr", frozen.Json.GetProperty("option").GetString());
        Assert.True(File.Exists(tmp.Combine("frozen.svg")));
        // The sweep went through the feature cache, like train.
        Assert.NotEmpty(Directory.EnumerateFiles(tmp.Combine("cache"), "*", SearchOption.AllDirectories));

        var fine = CliRunner.Run(["lr-find", data, "--model", "small_cnn", "--no-pretrained", "--strategy", "fine-tune", "--iterations", "8",
            "--out", tmp.Combine("fine.svg"), "--json"], env, 300);
        Assert.True(fine.ExitCode == 0, fine.ToString());
        Assert.Equal("unfrozen", fine.Json.GetProperty("phase").GetProperty("name").GetString());
        Assert.Equal("--fine-tune-lr", fine.Json.GetProperty("option").GetString());
        Assert.InRange(fine.Json.GetProperty("batches").GetInt32(), 2, 8);
    }

    public void Dispose() => tmp.Dispose();
}
