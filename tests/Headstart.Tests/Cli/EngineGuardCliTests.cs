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
        else Assert.Equal(JsonValueKind.Null, engine.GetProperty("workaround").ValueKind);
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
