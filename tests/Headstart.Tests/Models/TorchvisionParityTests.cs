using Headstart.Models;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Headstart.Tests.Models;

/// <summary>
/// Eval-mode parity with real torchvision 0.14.1: same closed-form weights and input (DeterministicWeights) as
/// generate_parity_oracles.py, logits compared with the ones PyTorch computed (Parity/*.logits.f32).
/// </summary>
public class TorchvisionParityTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("alexnet", 64)]
    [InlineData("vgg11", 64)]
    [InlineData("vgg11_bn", 64)]
    [InlineData("mobilenet_v2", 64)]
    [InlineData("mobilenet_v3_large", 64)]
    [InlineData("mobilenet_v3_small", 64)]
    [InlineData("googlenet", 64)]        // transform_input=True, as torchvision's pretrained googlenet
    [InlineData("inception_v3", 80)]     // transform_input=True, as torchvision's pretrained inception_v3
    public void LogitsMatchTorchvision(string name, int size)
    {
        using var model = ModelRegistry.Get(name).Create(1000);
        DeterministicWeights.Fill(model);
        model.eval();
        using var noGrad = torch.no_grad();
        using var scope = NewDisposeScope();
        var expected = Logits(name);
        var logits = model.call(DeterministicWeights.Input(size));
        double maxAbs = expected.abs().max().item<float>();
        double diff = (logits - expected).abs().max().item<float>();
        // 1e-4 absolute for logits of order 1, relative beyond (float32 accumulation order differs between builds).
        output.WriteLine($"{name}: max |Δ| = {diff:E2}, max |logit| = {maxAbs:F3}");
        Assert.True(diff <= 1e-4 * Math.Max(1, maxAbs), $"{name}: max |Δ| = {diff:E2} (max |logit| {maxAbs:F2})");
        Assert.True(maxAbs > 0.1, "degenerate oracle");
    }

    private static Tensor Logits(string name)
    {
        var bytes = TorchvisionManifest.Resource($"parity/{name}.logits.f32");
        var values = new float[bytes.Length / sizeof(float)];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);   // little-endian float32, as numpy's "<f4"
        return torch.tensor(values, [2, 1000]);
    }
}
