using System.Diagnostics;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>
/// The worker contract on a real cluster engine: a one-node Slurm on this machine runs 'headstart extract' as a job
/// array of 4 and 'train --features' as a job that depends on it; the bundle equals a single-process run's. A shard
/// cancelled mid-way (scancel) and submitted again continues from its finished chunks.
/// </summary>
[Collection(CliCollection.Name)]
public sealed class SlurmClusterTests : IDisposable
{
    private readonly TempDir tmp = new("slurm");
    private readonly string state, script;
    private readonly Dictionary<string, string> env;

    public SlurmClusterTests()
    {
        state = tmp.Combine("slurm-state");
        script = Path.Combine(RepoRoot(), "scripts", "slurm-local.sh");
        env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Combine("cache"), ["SLURM_CONF"] = Path.Combine(state, "slurm.conf") };
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "scripts", "slurm-local.sh"))) return d.FullName;
        throw new InvalidOperationException("scripts/slurm-local.sh not found above the test binaries");
    }

    private (int Code, string Out) Sh(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(true); throw new TimeoutException($"{file} {string.Join(' ', args)}"); }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>A batch script running the CLI under this test's dotnet, with the job's output in one file per task.</summary>
    private string Job(string name, string args)
    {
        string path = tmp.Combine(name + ".sh");
        File.WriteAllText(path, $"#!/bin/bash\nexec dotnet '{CliRunner.CliDll}' {args}\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private string Submit(params string[] args)
    {
        var (code, output) = Sh("sbatch", ["--parsable", .. args]);
        Assert.True(code == 0, $"sbatch failed: {output}");
        return output.Trim().Split('\n')[0].Split(';')[0];
    }

    /// <summary>Waits until none of the jobs is queued or running (squeue; sbatch --wait polls far more slowly).</summary>
    private void WaitFor(params string[] jobs)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            var (code, output) = Sh("squeue", "-h", "-j", string.Join(',', jobs), "-o", "%i %T");
            if (code == 0 && output.Trim().Length == 0) return;
            Thread.Sleep(250);
        }
        throw new TimeoutException($"jobs {string.Join(',', jobs)} still queued or running after 5 minutes");
    }

    private static string Last(string file) => File.ReadAllLines(file).Last(l => l.StartsWith('{'));

    /// <summary>Skips, with the reason, where a one-node Slurm cannot start: not root, no slurm-wlm and munge, or the
    /// daemons refuse to run here (the script's own message and log tails).</summary>
    private void StartSlurm()
    {
        Skip.If(Environment.UserName != "root", "needs root: scripts/slurm-local.sh runs slurmctld, slurmd and munged as root");
        Skip.If(!File.Exists("/usr/sbin/slurmctld") || !File.Exists("/usr/sbin/munged"),
            "needs Debian's slurm-wlm and munge (HEADSTART_SETUP_TESTS=1 ./setup.sh installs them)");
        var (code, output) = Sh(script, "start", state);
        Skip.If(code != 0, $"a one-node Slurm could not start here (scripts/slurm-local.sh start, exit {code}):\n{output}");
    }

    [SkippableFact]
    public void AJobArrayExtractsTheShardsAndADependentJobTrainsTheSameHeadAsOneProcess()
    {
        StartSlurm();
        string data = tmp.Combine("data"), features = tmp.Combine("features"), logs = tmp.Combine("logs");
        Directory.CreateDirectory(logs);
        SyntheticImages.WriteImageFolder(data, classes: 3, trainPerClass: 12, valPerClass: 4);

        string array = Submit("--array=0-3", "--cpus-per-task=1", $"--output={logs}/extract-%a.out",
            Job("extract", $"extract '{data}' --out '{features}' --shards 4 --batch-size 4 --json"));
        string train = Submit($"--dependency=afterok:{array}", $"--output={logs}/train.out",
            Job("train", $"train --features '{features}' --out '{tmp.Combine("cluster-bundle")}' --json"));
        WaitFor(array, train);
        for (int i = 0; i < 4; i++)
        {
            string log = Path.Combine(logs, $"extract-{i}.out");
            Assert.True(File.Exists(log), $"no output of array task {i}");
            Assert.Contains($"\"index_from\":\"SLURM_ARRAY_TASK_ID={i}\"", Last(log));
        }
        Assert.True(File.Exists(Path.Combine(logs, "train.out")), "the dependent train job did not run");
        Assert.Contains("\"shards\":4", Last(Path.Combine(logs, "train.out")));

        var local = CliRunner.Run(["train", data, "--batch-size", "4", "--out", tmp.Combine("local-bundle"), "--json"], env);
        Assert.True(local.ExitCode == 0, local.ToString());
        Assert.Equal(File.ReadAllBytes(tmp.Combine("local-bundle", "model.safetensors")), File.ReadAllBytes(tmp.Combine("cluster-bundle", "model.safetensors")));

        // A shard cancelled mid-way (after its first chunk) and submitted again continues where it stopped.
        string big = tmp.Combine("big"), features2 = tmp.Combine("features2");
        SyntheticImages.WriteImageFolder(big, classes: 2, trainPerClass: 60, valPerClass: 10, seed: 1);
        string shardDir = FeatureDir.ShardDir(features2, 0, 1);
        var extract = Job("extract-big", $"extract '{big}' --out '{features2}' --batch-size 4 --workers 1 --json");
        string first = Submit($"--output={logs}/big-1.out", extract);
        var clock = Stopwatch.StartNew();
        while (!(Directory.Exists(shardDir) && Directory.GetFiles(shardDir, "chunk-*.json").Length > 0) && clock.Elapsed < TimeSpan.FromMinutes(2))
            Thread.Sleep(20);
        Sh("scancel", first);
        WaitFor(first);
        Assert.False(File.Exists(Path.Combine(shardDir, FeatureDir.ShardManifestFile)), "the shard finished before it could be cancelled: make the set bigger");
        string second = Submit($"--output={logs}/big-2.out", extract);
        WaitFor(second);
        string resumed = Last(Path.Combine(logs, "big-2.out"));
        Assert.Contains("\"already_done\":false", resumed);
        Assert.DoesNotContain("\"chunks_resumed\":0", resumed);
        using var set = FeatureSet.Open(features2).Load();
        Assert.Equal(120, set.Train.Count);   // the default plan caches the centre crop alone
    }

    public void Dispose()
    {
        try { Sh(script, "stop", state); } catch (Exception) { /* best effort: the state folder goes with tmp */ }
        tmp.Dispose();
    }
}
