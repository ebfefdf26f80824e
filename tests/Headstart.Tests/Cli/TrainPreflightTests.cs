using System.Text.RegularExpressions;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>`train` runs the dataset checks first: a short summary of warnings, and a fatal verdict stops it.</summary>
[Collection(CliCollection.Name)]
public sealed partial class TrainPreflightTests : IDisposable
{
    private readonly TempDir tmp = new("preflight");
    private readonly Dictionary<string, string> env;

    public TrainPreflightTests() => env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Combine("cache") };

    /// <summary>The console wraps long lines at its width: compare text with all whitespace removed.</summary>
    private static string Squash(string s) => Whitespace().Replace(s, "");

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [Fact]
    public void WarningsAreSummarisedAndTrainingGoesOn()
    {
        string data = tmp.Combine("data");
        var classes = SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 8, valPerClass: 2);
        // A leak (the same file in train and val), imbalance (8 + 2 + 1 vs 1 + 2 images) and an undecodable file.
        File.Copy(Path.Combine(data, "train", classes[0], $"{classes[0]}_000.jpg"), Path.Combine(data, "val", classes[0], "leaked.jpg"));
        for (int i = 1; i < 8; i++) File.Delete(Path.Combine(data, "train", classes[1], $"{classes[1]}_{i:D3}.jpg"));
        File.WriteAllBytes(Path.Combine(data, "train", classes[1], "garbage.jpg"), new byte[500]);

        var r = CliRunner.Run(["train", data, "--out", tmp.Combine("bundle"), "--epochs", "1", "--augment-views", "0", "--json"], env, 300);
        Assert.True(r.ExitCode == 0, r.ToString());
        string err = Squash(r.Stderr);
        Assert.Contains(Squash("dataset check: 14 images in 15 files, 2 classes, 3 warning(s)"), err);
        Assert.Contains(Squash("2 identical files in both train and val: val accuracy is inflated (leak)"), err);
        Assert.Contains(Squash($"class imbalance: '{classes[0]}' has 11 images, '{classes[1]}' 3"), err);
        Assert.Contains(Squash("cannot decode"), err);
        Assert.Contains(Squash("headstart check"), err);
    }

    [Fact]
    public void AFatalVerdictStopsTrainingWithTheReason()
    {
        string data = tmp.Combine("data");
        var classes = SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 3, valPerClass: 1);
        // The second class folder holds only files that cannot be images: one class left to learn.
        foreach (var f in Directory.GetFiles(Path.Combine(data, "train", classes[1]))) File.WriteAllText(f, "not a jpeg");

        var r = CliRunner.Run(["train", data, "--out", tmp.Combine("bundle"), "--json"], env, 300);
        Assert.True(r.ExitCode == 1, r.ToString());
        string error = r.Json.GetProperty("error").GetString()!;
        Assert.Contains("dataset check failed", error);
        Assert.Contains("1 class(es) with readable training images; a classifier needs at least 2", error);
        Assert.False(Directory.Exists(tmp.Combine("bundle")));
    }

    public void Dispose() => tmp.Dispose();
}
