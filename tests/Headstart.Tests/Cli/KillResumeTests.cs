using System.Diagnostics;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Headstart.Weights;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>Issue 7: a training process killed with SIGKILL mid-epoch resumes to the uninterrupted run's weights.</summary>
[Collection(CliCollection.Name)]
public class KillResumeTests
{
    [Fact]
    public void KilledTrainingResumesToTheUninterruptedWeightsAndLeavesOutputsIntact()
    {
        using var tmp = new TempDir("kill");
        string data = tmp.Combine("shapes"), bundle = tmp.Combine("bundle");
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 8, valPerClass: 4);
        var dataBefore = SyntheticImages.TreeHashes(data);
        // A small network trained fully on the fly (augmentation + dropout), so both RNG paths must resume exactly.
        string[] args = ["train", data, "--out", bundle, "--model", "mobilenet_v3_small", "--no-pretrained", "--strategy", "full",
            "--epochs", "5", "--batch-size", "8", "--optimizer", "adamw", "--schedule", "one-cycle", "--seed", "7", "--workers", "1",
            "--checkpoint-every", "0", "--json"];

        var reference = CliRunner.Run(args, null);
        Assert.True(reference.ExitCode == 0, reference.ToString());
        Assert.Equal(5, reference.Json.GetProperty("epochs").GetInt32());
        var goodBundle = SyntheticImages.TreeHashes(bundle);
        using var expected = Safetensors.Read(Path.Combine(bundle, "model.safetensors"));
        string checkpoint = Checkpoint.DefaultDirectory(bundle);
        Assert.False(Directory.Exists(checkpoint), "a finished run removes its checkpoint");

        // Same run again, into the same --out: SIGKILL it once the first checkpoint exists and epoch 2 is under way.
        using (var p = Process.Start(CliRunner.StartInfo(args))!)
        {
            p.OutputDataReceived += (_, _) => { };
            p.ErrorDataReceived += (_, _) => { };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            var sw = Stopwatch.StartNew();
            while (!File.Exists(Path.Combine(checkpoint, Checkpoint.StateFile)) && !p.HasExited && sw.Elapsed < TimeSpan.FromMinutes(3))
                Thread.Sleep(20);
            Thread.Sleep(150);
            Assert.False(p.HasExited, "the run finished before it could be killed; make the epochs longer");
            p.Kill(); // SIGKILL: no finally blocks, no flushing
            p.WaitForExit();
        }
        var killedAt = Checkpoint.ReadState(checkpoint);
        Assert.True(killedAt.Epoch is >= 1 and < 5, $"killed too late (checkpoint at epoch {killedAt.Epoch})");
        Assert.Equal(goodBundle, SyntheticImages.TreeHashes(bundle)); // the previous good bundle is untouched

        var resumed = CliRunner.Run(["train", data, "--resume", bundle, "--workers", "1", "--json"], null);
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal(checkpoint, resumed.Json.GetProperty("resumed_from").GetString());
        Assert.Equal(5, resumed.Json.GetProperty("epochs").GetInt32());
        using var actual = Safetensors.Read(Path.Combine(bundle, "model.safetensors"));
        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var (name, e) in expected)
        {
            double diff = e.to(TorchSharp.torch.float64).sub(actual[name].to(TorchSharp.torch.float64)).abs().max().item<double>();
            Assert.True(diff <= 1e-6, $"{name} differs by {diff} from the uninterrupted run");
        }

        // No temp or half-written leftovers next to the bundle, the checkpoint is gone, the dataset is unchanged.
        Assert.Equal(["bundle", "shapes"], new DirectoryInfo(tmp.Path).EnumerateFileSystemInfos().Select(f => f.Name).Order().ToArray());
        Assert.Equal(dataBefore, SyntheticImages.TreeHashes(data));
    }
}
