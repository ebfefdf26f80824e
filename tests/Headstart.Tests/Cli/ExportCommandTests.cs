using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>headstart export verifies its own output; predict --engine onnx agrees with --engine torch.</summary>
[Collection(CliCollection.Name)]
public class ExportCommandTests
{
    [Fact]
    public void Export_VerifiesInOnnxRuntime_AndPredictEnginesAgree()
    {
        using var tmp = new TempDir("export-cli");
        var (bundle, images) = TinyBundle.Create(tmp.Path);
        var onnx = tmp.Combine("out", "tiny.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(onnx)!);

        var export = CliRunner.Run(["export", bundle, "--format", "onnx", "--out", onnx, "--input", "uint8-hwc", "--json"], null);
        Assert.True(export.ExitCode == 0, export.ToString());
        var v = export.Json.GetProperty("verification");
        Assert.True(v.GetProperty("passed").GetBoolean());
        Assert.Equal("dataset", v.GetProperty("source").GetString());
        Assert.True(v.GetProperty("images").GetInt32() >= 6);
        Assert.True(v.GetProperty("max_abs_probability_difference").GetDouble() <= 1e-4);
        Assert.True(File.Exists(onnx));
        Assert.False(File.Exists(onnx + ".verifying"));

        var torch = CliRunner.Run(["predict", bundle, .. images, "--top", "3", "--json"], null);
        var viaOnnx = CliRunner.Run(["predict", onnx, .. images, "--top", "3", "--batch-size", "4", "--engine", "onnx", "--json"], null);
        Assert.True(torch.ExitCode == 0, torch.ToString());
        Assert.True(viaOnnx.ExitCode == 0, viaOnnx.ToString());
        Assert.Equal("onnx", viaOnnx.Json.GetProperty("engine").GetString());
        var expected = torch.Json.GetProperty("predictions").EnumerateArray().ToList();
        var actual = viaOnnx.Json.GetProperty("predictions").EnumerateArray().ToList();
        Assert.Equal(images.Length, actual.Count);
        foreach (var (e, a) in expected.Zip(actual))
        {
            Assert.Equal(e.GetProperty("label").GetString(), a.GetProperty("label").GetString());
            Assert.True(Math.Abs(e.GetProperty("probability").GetDouble() - a.GetProperty("probability").GetDouble()) <= 1e-4, $"{e} vs {a}");
        }
    }

    [Fact]
    public void Export_BadOpset_IsAnError()
    {
        using var tmp = new TempDir("export-cli-opset");
        var (bundle, _) = TinyBundle.Create(tmp.Path, "squeezenet1_1");
        var r = CliRunner.Run(["export", bundle, "--opset", "9", "--json"], null);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("opset", r.Stdout + r.Stderr);
        Assert.False(File.Exists(Path.Combine(bundle, "model.onnx")));
    }
}
