using Headstart.Models;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using TV = TorchSharp.torchvision.models;

namespace Headstart.Tests.Models;

/// <summary>
/// Eval-mode parity with TorchVision for .NET's equivalent models, given the same weights (copied by state_dict
/// key). Where TorchVision for .NET departs from torchvision, real torchvision is the reference
/// (TorchvisionParityTests): its MobileNetV3 gates squeeze-excitation with ReLU6 where torchvision uses ReLU, so
/// MobileNetV3 is not compared here.
/// </summary>
public class TorchVisionDotNetParityTests(ITestOutputHelper output)
{
    public static TheoryData<string, int> Models => new()
    {
        { "alexnet", 64 },
        { "vgg11_bn", 64 },
        { "mobilenet_v2", 64 },
        { "googlenet", 64 },
        { "inception_v3", 80 },
    };

    private static nn.Module<Tensor, Tensor> TorchVisionDotNet(string name) => name switch
    {
        "alexnet" => TV.alexnet(),
        "vgg11_bn" => TV.vgg11_bn(),
        "mobilenet_v2" => TV.mobilenet_v2(),
        // torchvision's pretrained googlenet and inception_v3 transform their input; TorchVision for .NET defaults to not.
        "googlenet" => TV.googlenet(transform_input: true),
        "inception_v3" => TV.inception_v3(transform_input: true),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    [Theory, MemberData(nameof(Models))]
    public void LogitsMatchTorchVisionDotNet(string name, int size)
    {
        using var ours = ModelRegistry.Get(name).Create(1000);
        using var theirs = TorchVisionDotNet(name);
        DeterministicWeights.Fill(ours);
        using (torch.no_grad())
        {
            var target = theirs.state_dict();
            foreach (var (key, tensor) in ours.state_dict())
            {
                Assert.True(target.TryGetValue(key, out var dest), $"TorchVision for .NET's {name} has no '{key}'");
                dest.copy_(tensor);
            }
        }
        ours.eval();
        theirs.eval();
        using var noGrad = torch.no_grad();
        using var scope = NewDisposeScope();
        var input = DeterministicWeights.Input(size);
        var expected = theirs.call(input);
        var logits = ours.call(input);
        double maxAbs = expected.abs().max().item<float>();
        double diff = (logits - expected).abs().max().item<float>();
        output.WriteLine($"{name}: max |Δ| = {diff:E2}, max |logit| = {maxAbs:F3}");
        Assert.True(diff <= 1e-4 * Math.Max(1, maxAbs), $"{name}: max |Δ| = {diff:E2} (max |logit| {maxAbs:F2})");
    }
}
