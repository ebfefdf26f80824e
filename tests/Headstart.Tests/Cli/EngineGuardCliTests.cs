using System.Text.Json;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>The engine guard as a user meets it: doctor's verdict, the cache, the modes, the --json "engine".</summary>
[Collection(CliCollection.Name)]
public class EngineGuardCliTests
{
    private static JsonElement EngineRow(CliResult r) =>
        r.Json.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "convolution self-check");

    [Fact]
    public void DoctorNamesTheVerdictCachesItAndProvesTheEngineExactNow()
    {
        using var tmp = new TempDir("doctor-engine");
        var env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Path };

        var first = CliRunner.Run(["doctor", "--json"], env);
        var engine = first.Json.GetProperty("engine");
        string verdict = engine.GetProperty("verdict").GetString()!;
        Assert.Contains(verdict, new[] { "sound", "defective" });
        Assert.Equal("check", engine.GetProperty("source").GetString());
        Assert.True(engine.GetProperty("exact_now").GetBoolean(), first.ToString());
        Assert.True(EngineRow(first).GetProperty("ok").GetBoolean(), first.ToString());
        if (verdict == "defective")
        {
            Assert.Equal("native-convolutions", engine.GetProperty("workaround").GetString());
            Assert.NotEqual(0, engine.GetProperty("failures").GetArrayLength());
            Assert.Contains("note: engine self-check defective", first.Stderr);
        }
        // No workaround: the JSON leaves the null out (as every --json object does).
        else Assert.False(engine.TryGetProperty("workaround", out var w) && w.ValueKind != JsonValueKind.Null, first.ToString());
        Assert.Single(Directory.GetFiles(Path.Combine(tmp.Path, "engine"), "*.json"));

        var second = CliRunner.Run(["doctor", "--json"], env);
        Assert.Equal(("cache", verdict), (second.Json.GetProperty("engine").GetProperty("source").GetString(),
            second.Json.GetProperty("engine").GetProperty("verdict").GetString()));

        var recheck = CliRunner.Run(["doctor", "--recheck", "--json"], env);
        Assert.Equal(("check", verdict), (recheck.Json.GetProperty("engine").GetProperty("source").GetString(),
            recheck.Json.GetProperty("engine").GetProperty("verdict").GetString()));
    }

    [Fact]
    public void ForceReroutesConvolutionsOnAnyMachineAndSaysSo()
    {
        using var tmp = new TempDir("doctor-force");
        var env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Path, ["HEADSTART_ENGINE_GUARD"] = "force" };
        var r = CliRunner.Run(["doctor", "--json"], env);
        var engine = r.Json.GetProperty("engine");
        Assert.Equal("native-convolutions", engine.GetProperty("workaround").GetString());
        Assert.Equal("force", engine.GetProperty("mode").GetString());
        Assert.True(engine.GetProperty("exact_now").GetBoolean(), r.ToString());
        Assert.Contains("oneDNN convolutions off", EngineRow(r).GetProperty("detail").GetString());
        Assert.Single(r.Stderr.Split('\n'), l => l.StartsWith("note: engine self-check", StringComparison.Ordinal));
    }

    [Fact]
    public void TheFirstTrainingOnImagesChecksTheEngineInAChildSoThatItCanTakeTheFasterRoute()
    {
        using var tmp = new TempDir("engine-child");
        string data = tmp.Combine("shapes");
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 4, valPerClass: 2);
        var env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Combine("cache") };
        string[] Train(string o) => ["train", data, "--model", "small_cnn", "--no-pretrained", "--strategy", "full", "--epochs", "1",
            "--augment", "none", "--out", tmp.Combine(o), "--json"];

        var first = CliRunner.Run(Train("b1"), env);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains("checking this CPU's convolutions once", first.Stderr);
        var verdicts = Directory.GetFiles(Path.Combine(tmp.Combine("cache"), "engine"), "*.json");
        Assert.Single(verdicts);
        // A defective engine: the training process found the child's verdict before its oneDNN started, so it runs
        // oneDNN capped at SSE4.1 (exact, and faster than the checking process's own kernels).
        if (File.ReadAllText(verdicts[0]).Contains("\"defective\"", StringComparison.Ordinal))
        {
            Assert.Contains("capped at SSE4.1", first.Stderr);
            Assert.DoesNotContain("libtorch's own kernels", first.Stderr);
        }
        var second = CliRunner.Run(Train("b2"), env);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.DoesNotContain("checking this CPU's convolutions", second.Stderr);
    }

    [Fact]
    public void AnUnknownGuardModeIsAUserErrorThatNamesTheChoices()
    {
        using var tmp = new TempDir("guard-mode");
        string data = tmp.Combine("shapes");
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 4, valPerClass: 2);
        var env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Combine("cache"), ["HEADSTART_ENGINE_GUARD"] = "sometimes" };
        var r = CliRunner.Run(["train", data, "--out", tmp.Combine("b"), "--epochs", "1", "--json"], env);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("auto, recheck, force, off", r.Json.GetProperty("error").GetString());
    }
}
