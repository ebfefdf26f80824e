using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>The real CLI, end to end, on a small dataset the test generates: train, then evaluate, then predict.</summary>
[Collection(CliCollection.Name)]
public class EndToEndTests
{
    [Fact]
    public void TrainEvaluatePredictOnGeneratedShapes()
    {
        using var tmp = new TempDir("e2e");
        string data = tmp.Combine("shapes"), bundle = tmp.Combine("bundle"), cache = tmp.Combine("cache");
        var classes = SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 16, valPerClass: 8);
        var before = SyntheticImages.TreeHashes(data);
        var env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = cache };

        var train = CliRunner.Run(["train", data, "--out", bundle, "--epochs", "8", "--augment-views", "1", "--json"], env);
        Assert.True(train.ExitCode == 0, train.ToString());
        double acc = train.Json.GetProperty("val_accuracy").GetDouble();
        Assert.True(acc >= 0.9, $"val accuracy {acc} should be well above chance (0.5)\n{train}");
        // A command that ran a model names the convolution engine it ran on (the engine guard's verdict).
        Assert.Contains(train.Json.GetProperty("engine").GetProperty("verdict").GetString(), new[] { "sound", "defective" });
        Assert.True(File.Exists(Path.Combine(bundle, "model.json")));
        Assert.True(File.Exists(Path.Combine(bundle, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(bundle, "metrics.json")));

        var eval = CliRunner.Run(["evaluate", bundle, data, "--json"], env);
        Assert.True(eval.ExitCode == 0, eval.ToString());
        Assert.Equal(acc, eval.Json.GetProperty("accuracy").GetDouble(), 6);

        string circle = Path.Combine(data, "val", classes[0], $"{classes[0]}_000.jpg");
        string square = Path.Combine(data, "val", classes[1], $"{classes[1]}_000.jpg");
        var predict = CliRunner.Run(["predict", bundle, circle, square, "--top", "2", "--json"], env);
        Assert.True(predict.ExitCode == 0, predict.ToString());
        var preds = predict.Json.GetProperty("predictions").EnumerateArray().ToList();
        Assert.Equal(2, preds.Count);
        Assert.Equal(classes[0], preds[0].GetProperty("label").GetString());
        Assert.Equal(classes[1], preds[1].GetProperty("label").GetString());
        Assert.All(preds, p => Assert.Equal(2, p.GetProperty("top").GetArrayLength()));

        // Nothing was ever written under the dataset folder.
        Assert.Equal(before, SyntheticImages.TreeHashes(data));
    }

    [Fact]
    public void UsageErrorsExitWithTwoAndRuntimeErrorsWithOne()
    {
        var usage = CliRunner.Run("train");
        Assert.Equal(2, usage.ExitCode);
        var badModel = CliRunner.Run(["train", "/nonexistent-folder", "--model", "resnet18-cntk", "--json"], null);
        Assert.Equal(1, badModel.ExitCode);
        Assert.Contains("error", badModel.Json.GetProperty("error").GetString() + " error");
        var unknown = CliRunner.Run(["predict", "/nonexistent-bundle", "x.jpg", "--json"], null);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("does not exist", unknown.Json.GetProperty("error").GetString());
        // A bad option value is a usage error, found before the dataset is even read.
        var negative = CliRunner.Run(["train", "/nonexistent-folder", "--checkpoint-every", "-1", "--json"], null);
        Assert.Equal(2, negative.ExitCode);
        Assert.Contains("--checkpoint-every must be 0 or more", negative.Json.GetProperty("error").GetString());
        var huge = CliRunner.Run(["train", "/nonexistent-folder", "--checkpoint-every", "1e12", "--json"], null);
        Assert.Equal(2, huge.ExitCode);
    }
}
