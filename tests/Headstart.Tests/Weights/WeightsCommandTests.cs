using System.Diagnostics;
using System.Text.Json;
using Headstart.Tests.TestSupport;
using Headstart.Weights;
using Xunit;

namespace Headstart.Tests.Weights;

/// <summary>The `headstart weights` verbs, run as the real CLI process.</summary>
public class WeightsCommandTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Weights", "Fixtures", name);

    private static (int Code, JsonElement Json, string Stderr) Cli(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Headstart.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("--json");
        using var p = Process.Start(psi)!;
        var stderrTask = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(120_000)) p.Kill();
        var last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "{}";
        return (p.ExitCode, JsonDocument.Parse(last).RootElement.Clone(), stderrTask.Result);
    }

    [Fact]
    public void ConvertOfALegacyFileIsBitIdenticalToTheSource()
    {
        using var dir = new TempDir();
        var output = dir.Combine("views.safetensors");
        var (code, json, stderr) = Cli("weights", "convert", Fixture("shared_views.legacy.pth"), output);
        Assert.True(code == 0, stderr);
        Assert.Equal("pth-legacy", json.GetProperty("source_format").GetString());
        using var source = PthReader.Read(Fixture("shared_views.legacy.pth"));
        using var converted = Safetensors.Read(output);
        SafetensorsTests.AssertBitIdentical(source, converted);
        Assert.Equal("pt", converted.Metadata["format"]);
    }

    [SharedFact("fixtures/torchvision/mobilenet_v2.legacy.pth")]
    public void ConvertOfTheMobileNetLegacyFixtureIsBitIdentical()
    {
        using var dir = new TempDir();
        var input = SharedData.PathTo("fixtures/torchvision/mobilenet_v2.legacy.pth");
        var output = dir.Combine("mobilenet_v2.safetensors");
        var (code, _, stderr) = Cli("weights", "convert", input, output);
        Assert.True(code == 0, stderr);
        using var source = PthReader.Read(input);
        using var converted = WeightFile.Read(output);
        SafetensorsTests.AssertBitIdentical(source, converted);
    }

    [Fact]
    public void InspectReportsFormatTensorsAndParameters()
    {
        var (code, json, stderr) = Cli("weights", "inspect", Fixture("shared_views.zip.pth"));
        Assert.True(code == 0, stderr);
        Assert.Equal("pth-zip", json.GetProperty("format").GetString());
        Assert.Equal(8, json.GetProperty("tensor_count").GetInt32());
        Assert.Equal(24 + 6 + 12 + 12 + 6 + 3 + 1 + 3, json.GetProperty("parameters").GetInt64());
        var half = json.GetProperty("tensors").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "half");
        Assert.Equal("float16", half.GetProperty("dtype").GetString());
        Assert.Equal([2, 3], half.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public void HostileFileExitsOneWithAClearMessage()
    {
        using var dir = new TempDir();
        var path = dir.Combine("evil.pth");
        File.WriteAllBytes(path, PthReaderTests.Zip(new PickleBuilder().Proto().Global("builtins", "eval")
            .Mark().Unicode("__import__('os').system('id')").Tuple().Reduce().Stop().ToArray()));
        var (code, json, _) = Cli("weights", "inspect", path);
        Assert.Equal(1, code);
        Assert.Contains("builtins.eval", json.GetProperty("error").GetString());
        Assert.Equal("UnsafePickleException", json.GetProperty("error_type").GetString());
    }

    [Fact]
    public void ListShowsSourcesAndLocalPresence()
    {
        using var dir = new TempDir();
        var (code, json, stderr) = Cli("weights", "list", "resnet18", "--cache", dir.Path);
        Assert.True(code == 0, stderr);
        var source = json.GetProperty("sources").EnumerateArray().Single();
        Assert.Equal("resnet18-f37072fd.pth", source.GetProperty("file").GetString());
        Assert.False(source.GetProperty("present").GetBoolean());
    }

    [Fact]
    public void ConvertToANonSafetensorsNameIsAUsageError()
    {
        var (code, _, _) = Cli("weights", "convert", Fixture("shared_views.zip.pth"), "out.bin");
        Assert.Equal(2, code);
    }
}
