using Headstart.Runtime;
using Xunit;
using Xunit.Abstractions;

namespace Headstart.Tests.Runtime;

/// <summary>
/// Op-level numerics of the engine models run on, after the guard has done its work: conv2d against the unfold +
/// matmul reference in float64 for input channels 1-80, kernels 1/3/5/7 and batch sizes 1 and 2, forward and
/// gradients. On the defective AVX-512 engine with the guard off these fail (bench/ConvRepro runs the same kind of
/// sweep without Headstart).
/// </summary>
public class ConvolutionNumericsTests(ITestOutputHelper output)
{
    public static TheoryData<int, int> KernelsAndBatches()
    {
        var data = new TheoryData<int, int>();
        foreach (int k in new[] { 1, 3, 5, 7 })
            foreach (int batch in new[] { 1, 2 })
                data.Add(k, batch);
        return data;
    }

    [Theory]
    [MemberData(nameof(KernelsAndBatches))]
    public void Conv2dMatchesUnfoldReferenceForInputChannels1To80(int kernel, int batch)
    {
        var status = EngineGuard.Ensure();
        output.WriteLine($"engine: {status.Summary}");
        var wrong = new List<string>();
        for (int cin = 1; cin <= 80; cin++)
        {
            var r = ConvSelfCheck.Measure(ConvCase.Square(batch, cin, 16, kernel));
            if (!r.Exact) wrong.Add($"{r.Case}: forward {r.ForwardError:G3}, gradients {r.GradientError:G3}");
        }
        Assert.True(wrong.Count == 0, $"{wrong.Count} of 80 shapes wrong with the guard applied ({status.Summary}):\n{string.Join("\n", wrong)}");
    }

    [Theory]
    [InlineData(2, 48, 48, 3, 2, 1)]     // grouped: 24 channels a group
    [InlineData(2, 96, 96, 3, 4, 1)]
    [InlineData(2, 120, 120, 3, 5, 2)]   // grouped, strided (RegNet/ResNeXt-like)
    [InlineData(2, 40, 40, 3, 40, 1)]    // depthwise (MobileNet, EfficientNet, MNASNet)
    [InlineData(2, 72, 72, 5, 72, 2)]
    [InlineData(2, 40, 16, 5, 1, 2)]     // strided: its gradients were wrong on the defective engine
    [InlineData(2, 24, 32, 3, 1, 2)]
    [InlineData(2, 512, 1024, 1, 1, 2)]  // resnet50's downsample: its backward crashed the defective engine (SIGFPE)
    public void GroupedDepthwiseAndStridedConvolutionsMatchTheReference(int batch, int cin, int cout, int k, int groups, int stride)
    {
        EngineGuard.Ensure();
        var r = ConvSelfCheck.Measure(ConvCase.Square(batch, cin, cout, k, groups, stride));
        Assert.True(r.Exact, $"{r.Case}: forward {r.ForwardError:G3}, gradients {r.GradientError:G3}");
    }

    [Fact]
    public void TheReferenceAgreesWithAPlainLoopOnATinyCase()
    {
        // The reference itself, checked by a direct sum: [1, 2, 3, 3] input, [1, 2, 3, 3] kernel, padding 1.
        using var scope = TorchSharp.torch.NewDisposeScope();
        var x = TorchSharp.torch.arange(18, dtype: TorchSharp.torch.float64).reshape(1, 2, 3, 3);
        var w = TorchSharp.torch.arange(18, dtype: TorchSharp.torch.float64).reshape(1, 2, 3, 3).div(10);
        var r = ConvSelfCheck.Reference(x, w, ConvCase.Square(1, 2, 1, 3, size: 3));
        double[,] expected = new double[3, 3];
        for (int oy = 0; oy < 3; oy++)
            for (int ox = 0; ox < 3; ox++)
                for (int c = 0; c < 2; c++)
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++)
                        {
                            int iy = oy + ky - 1, ix = ox + kx - 1;
                            if (iy is < 0 or > 2 || ix is < 0 or > 2) continue;
                            expected[oy, ox] += (c * 9 + iy * 3 + ix) * ((c * 9 + ky * 3 + kx) / 10.0);
                        }
        for (int oy = 0; oy < 3; oy++)
            for (int ox = 0; ox < 3; ox++)
                Assert.Equal(expected[oy, ox], r[0, 0, oy, ox].item<double>(), 9);
    }
}
