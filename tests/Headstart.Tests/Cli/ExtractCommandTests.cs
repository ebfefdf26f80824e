using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>
/// 'headstart extract' as a cluster's worker: the index from Kubernetes' JOB_COMPLETION_INDEX, a re-run that exits 0 at
/// once, exit 3 for what retrying cannot fix, progress lines with an ETA in a log; 'train --features' naming a missing
/// shard and refusing options that would contradict the features.
/// </summary>
[Collection(CliCollection.Name)]
public sealed class ExtractCommandTests : IDisposable
{
    private readonly TempDir tmp = new("extract-cli");
    private readonly Dictionary<string, string> env;
    private readonly string data, features;

    public ExtractCommandTests()
    {
        env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Combine("cache"), ["HEADSTART_PROGRESS_SECONDS"] = "0" };
        data = tmp.Combine("data");
        features = tmp.Combine("features");
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 6, valPerClass: 2);
    }

    private CliResult Run(Dictionary<string, string>? extra, params string[] args) =>
        CliRunner.Run(args, extra is null ? env : new Dictionary<string, string>(env.Concat(extra)), 300);

    [Fact]
    public void AKubernetesIndexedJobsWorkerAndTheReduceStep()
    {
        var k8s = Run(new() { ["JOB_COMPLETION_INDEX"] = "1" }, "extract", data, "--out", features, "--shards", "2", "--batch-size", "4", "--json");
        Assert.True(k8s.ExitCode == 0, k8s.ToString());
        Assert.Equal("JOB_COMPLETION_INDEX=1", k8s.Json.GetProperty("index_from").GetString());
        Assert.Equal(1, k8s.Json.GetProperty("shard").GetInt32());
        Assert.False(k8s.Json.GetProperty("already_done").GetBoolean());
        Assert.Contains("ETA", k8s.Stderr);   // a line-oriented progress line: stderr is no terminal here

        var again = Run(new() { ["JOB_COMPLETION_INDEX"] = "1" }, "extract", data, "--out", features, "--shards", "2", "--batch-size", "4", "--json");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.True(again.Json.GetProperty("already_done").GetBoolean());

        var early = Run(null, "train", "--features", features, "--out", tmp.Combine("bundle"), "--json");
        Assert.Equal(1, early.ExitCode);
        Assert.Contains("1 of 2 shard(s) not finished: 0", early.Json.GetProperty("error").GetString());

        var zero = Run(null, "extract", data, "--out", features, "--shard", "0/2", "--batch-size", "4", "--json");
        Assert.True(zero.ExitCode == 0, zero.ToString());
        var contradicts = Run(null, "train", "--features", features, "--model", "resnet18", "--out", tmp.Combine("bundle"), "--json");
        Assert.Equal(2, contradicts.ExitCode);
        Assert.Contains("--model resnet18 differs from the features", contradicts.Json.GetProperty("error").GetString());

        var merged = Run(null, "train", "--features", features, "--epochs", "3", "--out", tmp.Combine("bundle"), "--json");
        Assert.True(merged.ExitCode == 0, merged.ToString());
        Assert.Equal(2, merged.Json.GetProperty("shards").GetInt32());
        Assert.Equal(12, merged.Json.GetProperty("train_count").GetInt32());
        // --epochs asks for the SGD head; the features hold the default plan's views (the centre crop alone), which a
        // single-machine SGD run on this small set would not choose by itself (it would add the mirror view).
        var local = Run(null, "train", data, "--epochs", "3", "--augment-views", "0", "--batch-size", "4", "--out", tmp.Combine("local"), "--json");
        Assert.True(local.ExitCode == 0, local.ToString());
        Assert.Equal(local.Json.GetProperty("val_accuracy").GetDouble(), merged.Json.GetProperty("val_accuracy").GetDouble());
        Assert.Equal(File.ReadAllBytes(tmp.Combine("local", "model.safetensors")), File.ReadAllBytes(tmp.Combine("bundle", "model.safetensors")));
    }

    [Theory]
    [InlineData("another-plan", "another backbone, weights, preprocessing, views")]
    [InlineData("no-data", "does not exist")]
    [InlineData("bad-shard", "0 <= I < N")]
    [InlineData("unparsable", null)]
    public void WhatRetryingCannotFixExitsThree(string kind, string? why)
    {
        if (kind == "another-plan")
        {
            var first = Run(null, "extract", data, "--out", features, "--shard", "0/2", "--json");
            Assert.True(first.ExitCode == 0, first.ToString());
        }
        string[] args = kind switch
        {
            "another-plan" => ["extract", data, "--out", features, "--shard", "1/2", "--augment-views", "1", "--json"],
            "no-data" => ["extract", tmp.Combine("nowhere"), "--out", features, "--json"],
            "unparsable" => ["extract", data, "--out", features, "--shards", "many"],
            _ => ["extract", data, "--out", features, "--shard", "2/2", "--json"],
        };
        var r = Run(null, args);
        Assert.True(r.ExitCode == 3, r.ToString());
        if (why is not null) Assert.Contains(why, r.Json.GetProperty("error").GetString());
    }

    [Fact]
    public void TrainReadsAManifest()
    {
        string manifest = tmp.Combine("list.csv");
        File.WriteAllLines(manifest, Directory.GetFiles(data, "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => Path.GetRelativePath(data, f).Split('/')).Select(p => $"{string.Join('/', p)},{p[1]},{p[0]}"));
        var r = Run(null, "train", manifest, "--root", data, "--epochs", "2", "--out", tmp.Combine("m-bundle"), "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal((12, 4), (r.Json.GetProperty("train_count").GetInt32(), r.Json.GetProperty("val_count").GetInt32()));
    }

    public void Dispose() => tmp.Dispose();
}
