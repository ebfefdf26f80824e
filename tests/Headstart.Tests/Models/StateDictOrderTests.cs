using Headstart.Models;
using Headstart.Tests.TestSupport;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Models;

/// <summary>
/// ImageClassifier lists its state_dict in PyTorch's order (per module: parameters, buffers, then children), where
/// TorchSharp would list every parameter before any buffer. Loading and saving must still work.
/// </summary>
public class StateDictOrderTests
{
    [Fact]
    public void BuffersFollowTheirOwnModule()
    {
        using var model = ModelRegistry.Get("mobilenet_v3_small").Create();
        Assert.Equal(
            ["features.0.0.weight", "features.0.1.weight", "features.0.1.bias", "features.0.1.running_mean",
             "features.0.1.running_var", "features.0.1.num_batches_tracked", "features.1.block.0.0.weight"],
            model.state_dict().Keys.Take(7));
    }

    [Fact]
    public void LoadStateDictAndSaveLoadRoundTrip()
    {
        using var source = ModelRegistry.Get("mobilenet_v3_small").Create(5);
        DeterministicWeights.Fill(source);
        using var copied = ModelRegistry.Get("mobilenet_v3_small").Create(5);
        var (missing, unexpected) = copied.load_state_dict(source.state_dict(), strict: true);
        Assert.Empty(missing);
        Assert.Empty(unexpected);

        using var dir = new TempDir();
        var path = dir.Combine("model.dat");
        source.save(path);
        using var reloaded = ModelRegistry.Get("mobilenet_v3_small").Create(5);
        reloaded.load(path);

        source.eval(); copied.eval(); reloaded.eval();
        using var noGrad = torch.no_grad();
        using var scope = NewDisposeScope();
        var input = DeterministicWeights.Input(64);
        var expected = source.call(input);
        Assert.Equal(0f, (copied.call(input) - expected).abs().max().item<float>());
        Assert.Equal(0f, (reloaded.call(input) - expected).abs().max().item<float>());
    }
}
