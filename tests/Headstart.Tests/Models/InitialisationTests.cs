using Headstart.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Models;

/// <summary>Random initialisation follows torchvision's (it matters when training from scratch).</summary>
public class InitialisationTests
{
    [Theory]
    // VGG / ResNet / MobileNet: kaiming-normal, fan_out mode: std = sqrt(2 / (out_channels * kh * kw)).
    [InlineData("vgg11", "features.0.weight", 0.058926)]           // sqrt(2 / (64 * 9))
    [InlineData("resnet18", "conv1.weight", 0.025254)]             // sqrt(2 / (64 * 49))
    [InlineData("mobilenet_v2", "features.0.0.weight", 0.083333)]  // sqrt(2 / (32 * 9))
    // Linear layers of VGG and MobileNet: N(0, 0.01²).
    [InlineData("vgg11", "classifier.3.weight", 0.01)]
    [InlineData("mobilenet_v3_small", "classifier.0.weight", 0.01)]
    // GoogLeNet / Inception3: N(0, std²) truncated to [-2, 2], std 0.01 and 0.1.
    [InlineData("googlenet", "inception3a.branch1.conv.weight", 0.01)]
    [InlineData("inception_v3", "Mixed_5b.branch1x1.conv.weight", 0.1)]
    public void WeightStdMatchesTorchvision(string name, string key, double std)
    {
        torch.manual_seed(1);
        using var model = ModelRegistry.Get(name).Create(1000);
        var weight = model.state_dict()[key];
        double actual = weight.std().item<float>();
        Assert.InRange(actual, std * 0.93, std * 1.07);                  // >= 9,000 samples each: ~1.5% sampling error
        Assert.InRange(weight.mean().item<float>(), -0.1 * std, 0.1 * std);
    }

    [Theory]
    [InlineData("vgg11_bn", "classifier.0.bias")]
    [InlineData("vgg11_bn", "features.1.bias")]                     // BatchNorm bias
    [InlineData("mobilenet_v2", "classifier.1.bias")]
    public void BiasesStartAtZero(string name, string key)
    {
        using var model = ModelRegistry.Get(name).Create(10);
        Assert.Equal(0f, model.state_dict()[key].abs().max().item<float>());
    }
}
