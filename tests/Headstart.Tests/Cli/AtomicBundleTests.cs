using System.Diagnostics;
using Headstart.Tests.TestSupport;
using Headstart.Weights;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>
/// Atomic outputs through the real CLI: a second `train --out SAME` that fails late, or is SIGKILLed while it writes
/// the new bundle, leaves the previous bundle exactly as it was; the next run cleans the temp leftover.
/// </summary>
[Collection(CliCollection.Name)]
public sealed class AtomicBundleTests : IDisposable
{
    private readonly TempDir tmp = new("atomic");
    private readonly string data, bundle;
    private readonly Dictionary<string, string> env;

    public AtomicBundleTests()
    {
        data = tmp.Combine("data");
        bundle = tmp.Combine("out", "bundle");
        env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Combine("cache") };
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 4, valPerClass: 2);
    }

    private static readonly string[] Quick = ["--epochs", "1", "--augment-views", "0"];

    private string[] Leftovers() =>
        Directory.GetFileSystemEntries(Path.GetDirectoryName(bundle)!, "bundle.*").Select(Path.GetFileName).ToArray()!;

    [Fact]
    public void APreviousBundleSurvivesALateFailureAndAKillMidWriteAndLeftoversAreCleaned()
    {
        var first = CliRunner.Run(["train", data, "--out", bundle, .. Quick, "--json"], env, 300);
        Assert.True(first.ExitCode == 0, first.ToString());
        var good = TreeSnapshot.Take(bundle);

        // 1. A failure found late (after the data scan and model build): weights that don't fit the model.
        string bogus = tmp.Combine("bogus.safetensors");
        using (var sd = new StateDict()) { sd.Add("not.a.resnet.key", TorchSharp.torch.zeros(3)); Safetensors.Write(bogus, sd); }
        var late = CliRunner.Run(["train", data, "--out", bundle, .. Quick, "--model", "resnet18", "--weights", bogus, "--json"], env, 300);
        Assert.True(late.ExitCode == 1, late.ToString());
        Assert.Contains("not.a.resnet.key", late.Json.GetProperty("error").GetString());
        Assert.Equal(good, TreeSnapshot.Take(bundle));

        // 2. SIGKILL while the new bundle is being written: the moment its temp directory appears.
        using (var p = Process.Start(CliRunner.StartInfo(["train", data, "--out", bundle, .. Quick, "--seed", "7"], env))!)
        {
            p.StandardOutput.ReadToEndAsync();
            p.StandardError.ReadToEndAsync();
            var clock = Stopwatch.StartNew();
            bool killed = false;
            while (!p.HasExited && clock.Elapsed < TimeSpan.FromSeconds(120))
            {
                if (Leftovers().Any(n => n.StartsWith("bundle.tmp-", StringComparison.Ordinal))) // not the per-epoch checkpoint's temp
                {
                    p.Kill(entireProcessTree: true);
                    killed = true;
                    break;
                }
                Thread.Sleep(1);
            }
            p.WaitForExit(30_000);
            Assert.True(killed, $"the run ended (exit {(p.HasExited ? p.ExitCode : -1)}) before its temp bundle was seen");
        }
        Assert.Equal(good, TreeSnapshot.Take(bundle));
        Assert.Contains(Leftovers(), n => n.StartsWith("bundle.tmp-", StringComparison.Ordinal));

        // 3. The next run replaces the bundle and cleans every leftover.
        var next = CliRunner.Run(["train", data, "--out", bundle, .. Quick, "--seed", "7", "--json"], env, 300);
        Assert.True(next.ExitCode == 0, next.ToString());
        Assert.Equal(["bundle"], Leftovers());
        Assert.NotEqual(good, TreeSnapshot.Take(bundle));
        var predict = CliRunner.Run(["predict", bundle, Path.Combine(data, "val"), "--json"], env, 300);
        Assert.True(predict.ExitCode == 0, predict.ToString());
    }

    [Fact]
    public void AnOutputThatWouldReplaceUserFilesIsRefusedBeforeTraining()
    {
        string folder = tmp.Combine("documents");
        Directory.CreateDirectory(Path.Combine(folder, "notes"));
        File.WriteAllText(Path.Combine(folder, "notes", "thesis.txt"), "three years of work");
        var folderBefore = TreeSnapshot.Take(folder);
        var dataBefore = TreeSnapshot.Take(data);

        (string[] Args, int Code, string Expected)[] cases =
        [
            (["--out", folder], 1, "exists and is not a Headstart bundle"),
            (["--out", data], 2, "is inside the dataset folder"),
            (["--out", Path.Combine(data, "train", "bundle")], 2, "is inside the dataset folder"),
            (["--out", tmp.Path], 2, "contains the dataset folder"),
            (["--out", tmp.Combine("fine"), "--cache-dir", Path.Combine(data, ".cache")], 2, "--cache-dir"),
        ];
        foreach (var (args, code, expected) in cases)
        {
            var r = CliRunner.Run(["train", data, .. args, .. Quick, "--json"], env, 120);
            Assert.True(r.ExitCode == code, $"{string.Join(' ', args)}: {r}");
            Assert.Contains(expected, r.Json.GetProperty("error").GetString());
            Assert.DoesNotContain("dataset check:", r.Stderr); // refused before any work
        }
        Assert.Equal(folderBefore, TreeSnapshot.Take(folder));
        Assert.Equal(dataBefore, TreeSnapshot.Take(data));
        Assert.False(Directory.Exists(tmp.Combine("fine")));
    }

    public void Dispose() => tmp.Dispose();
}
