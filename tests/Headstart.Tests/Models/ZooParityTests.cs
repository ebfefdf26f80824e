using Headstart.Models;
using Headstart.Tests.TestSupport;
using Headstart.Weights;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Headstart.Tests.Models;

/// <summary>
/// Logits parity with real PyTorch (torch 1.13, torchvision 0.14.1) for the zoo families: the fixture's state_dict is
/// read with <see cref="PthReader"/>, loaded with <see cref="WeightLoader"/>, and the eval-mode logits for the fixed
/// input batch must match PyTorch's within 1e-4.
/// </summary>
public class ZooParityTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    /// <summary>Folder of locally generated fixtures (see Models/Zoo/make_convnext_fixture.py); unset on CI.</summary>
    public const string ExtraFixturesVariable = "HEADSTART_EXTRA_FIXTURES";

    [SharedFact("fixtures/torchvision/squeezenet1_1.zip.pth")]
    public void SqueezeNet1_1MatchesPyTorch() =>
        AssertParity("squeezenet1_1", SharedData.PathTo("fixtures/torchvision"), "squeezenet1_1.zip.pth", "squeezenet1_1.logits.f32");

    [SharedTheory("fixtures/torchvision-extra/manifest.json")]
    [InlineData("densenet121", "densenet121.legacy.fp16.pth")]
    [InlineData("efficientnet_b0", "efficientnet_b0.zip.fp16.pth")]
    [InlineData("shufflenet_v2_x1_0", "shufflenet_v2_x1_0.zip.fp16.pth")]
    [InlineData("mnasnet1_0", "mnasnet1_0.legacy.fp16.pth")]
    public void Float16FixtureMatchesPyTorch(string name, string weights) =>
        AssertParity(name, SharedData.PathTo("fixtures/torchvision-extra"), weights, $"{name}.logits.f32");

    [ExtraFixtureFact("convnext_tiny.zip.pth")]
    public void ConvNeXtTinyMatchesPyTorch() =>
        AssertParity("convnext_tiny", Environment.GetEnvironmentVariable(ExtraFixturesVariable)!, "convnext_tiny.zip.pth",
            "convnext_tiny.logits.f32");

    private void AssertParity(string name, string folder, string weightsFile, string logitsFile)
    {
        var spec = ModelRegistry.Get(name);
        using var model = spec.Create();
        using (var stateDict = PthReader.Read(Path.Combine(folder, weightsFile)))
        {
            var report = WeightLoader.Load(model, stateDict, spec);
            Assert.Empty(report.SkippedHead);
            Assert.Equal(model.state_dict().Count, report.Loaded.Count);
        }
        model.eval();
        using var _ = no_grad();
        using var input = ReadFloats(Path.Combine(folder, "input.f32"), 2, 3, 224, 224);
        using var expected = ReadFloats(Path.Combine(folder, logitsFile), 2, 1000);
        using var logits = model.call(input);
        double maxDiff = (logits - expected).abs().max().item<float>();
        output.WriteLine($"{name}: max |logits - PyTorch| = {maxDiff:E2}");
        Assert.True(maxDiff <= Tolerance, $"{name}: max |logits - PyTorch| = {maxDiff:E2} > {Tolerance:E0}");
    }

    private static Tensor ReadFloats(string path, params long[] shape)
    {
        var bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / sizeof(float)];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);   // little-endian float32, as written by numpy
        return tensor(values).reshape(shape);
    }
}

/// <summary>A fact that needs a locally generated fixture under $HEADSTART_EXTRA_FIXTURES; skipped when absent.</summary>
public sealed class ExtraFixtureFactAttribute : FactAttribute
{
    public ExtraFixtureFactAttribute(string fileName)
    {
        var dir = Environment.GetEnvironmentVariable(ZooParityTests.ExtraFixturesVariable);
        if (string.IsNullOrEmpty(dir))
            Skip = $"set {ZooParityTests.ExtraFixturesVariable} to a folder holding {fileName} (generate it with " +
                   "tests/Headstart.Tests/Models/Zoo/make_convnext_fixture.py; too large to ship)";
        else if (!File.Exists(Path.Combine(dir, fileName)))
            Skip = $"{ZooParityTests.ExtraFixturesVariable}={dir} has no {fileName}";
    }
}
