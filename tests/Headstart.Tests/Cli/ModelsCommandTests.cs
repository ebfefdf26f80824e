using System.Text.Json;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>headstart models counts parameters on the models themselves once per build, then reads them from the
/// cache; a stale or broken cache file is recomputed, never an error.</summary>
[Collection(CliCollection.Name)]
public class ModelsCommandTests
{
    [Fact]
    public void ParameterCountsAreComputedOnceAndCachedPerBuild()
    {
        using var tmp = new TempDir("models-cli");
        var env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Combine("cache") };
        string file = tmp.Combine("cache", "models", "parameter-counts.json");

        var first = CliRunner.Run(["models", "--json"], env, 300);
        Assert.True(first.ExitCode == 0, first.ToString());
        var counts = Counts(first.Json);
        Assert.Equal(11_689_512, counts["resnet18"]);
        Assert.Equal(138_357_544, counts["vgg16"]);
        Assert.Contains("counting parameters", first.Stderr + first.Stdout);

        using (var doc = JsonDocument.Parse(File.ReadAllText(file)))
        {
            Assert.Equal(32, doc.RootElement.GetProperty("Build").GetString()!.Length);
            Assert.Equal(counts.Count, doc.RootElement.GetProperty("Counts").EnumerateObject().Count());
        }

        var second = CliRunner.Run(["models", "--json"], env, 120);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(counts, Counts(second.Json));
        Assert.DoesNotContain("counting parameters", second.Stderr + second.Stdout);

        // Another build's counts are not trusted; a broken file is rebuilt.
        File.WriteAllText(file, """{"Build":"0123","Counts":{"resnet18":1}}""");
        var stale = CliRunner.Run(["models", "resnet18", "--json"], env, 120);
        Assert.True(stale.ExitCode == 0, stale.ToString());
        Assert.Equal(11_689_512, stale.Json.GetProperty("parameters").GetInt64());
        File.WriteAllText(file, "{ not json");
        var broken = CliRunner.Run(["models", "resnet18", "--json"], env, 120);
        Assert.True(broken.ExitCode == 0, broken.ToString());
        Assert.Equal(11_689_512, broken.Json.GetProperty("parameters").GetInt64());
    }

    private static Dictionary<string, long> Counts(JsonElement json) =>
        json.GetProperty("models").EnumerateArray()
            .ToDictionary(m => m.GetProperty("name").GetString()!, m => m.GetProperty("parameters").GetInt64());
}
