using Headstart.Tests.TestSupport;

namespace Headstart.Tests.Cli;

/// <summary>A tiny generated dataset (2 classes, 4 + 2 images each) and a bundle trained on it by the real CLI
/// (resnet18-cntk, 1 epoch, no augmented views, no feature cache): a few seconds, shared by a test class.</summary>
public sealed class TrainedBundleFixture : IDisposable
{
    private readonly TempDir tmp = new("cli-fixture");

    public TrainedBundleFixture()
    {
        Data = tmp.Combine("shapes");
        Bundle = tmp.Combine("bundle");
        Classes = SyntheticImages.WriteImageFolder(Data, classes: 2, trainPerClass: 4, valPerClass: 2);
        Env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Combine("cache") };
        var train = CliRunner.Run(["train", Data, "--out", Bundle, "--epochs", "1", "--augment-views", "0", "--cache-dir", "none", "--json"], Env, 300);
        if (train.ExitCode != 0) throw new InvalidOperationException($"fixture training failed: {train}");
    }

    public string Data { get; }
    public string Bundle { get; }
    public string[] Classes { get; }
    public Dictionary<string, string> Env { get; }
    public string Image => Path.Combine(Data, "val", Classes[0], $"{Classes[0]}_000.jpg");

    /// <summary>A scratch directory for a test's own files, deleted with the fixture.</summary>
    public string NewDir(string name)
    {
        string dir = tmp.Combine($"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    public void Dispose() => tmp.Dispose();
}
