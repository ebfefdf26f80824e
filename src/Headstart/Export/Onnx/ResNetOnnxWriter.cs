using static TorchSharp.torch;
using Headstart.Onnx;

namespace Headstart.Export.Onnx;

/// <summary>
/// Writes torchvision's ResNet / ResNeXt / Wide ResNet (and resnet18-cntk) as ONNX from its state_dict, with every
/// BatchNorm folded into the Conv before it. The topology follows torchvision's conventions (conv1 7x7/2 pad 3,
/// maxpool 3x3/2 pad 1, stride 2 in the first block of layer2-4, on conv2 for Bottleneck v1.5); kernel sizes, widths,
/// groups and block counts come from the weights themselves, so one writer covers every depth and width.
/// </summary>
internal static class ResNetOnnxWriter
{
    private const double BnEps = 1e-5;   // torchvision's BatchNorm2d default

    /// <summary>(N, 3, H, W) normalised input → (N, classes) logits.</summary>
    public static string Write(OnnxGraphBuilder b, IReadOnlyDictionary<string, Tensor> state, string x)
    {
        x = b.Relu(ConvBn(b, state, x, "conv1", "bn1", stride: 2));
        x = b.MaxPool(x, kernel: 3, stride: 2, pad: 1);
        for (int layer = 1; layer <= 4; layer++)
            for (int block = 0; state.ContainsKey($"layer{layer}.{block}.conv1.weight"); block++)
            {
                var p = $"layer{layer}.{block}";
                long stride = layer > 1 && block == 0 ? 2 : 1;
                string y;
                if (state.ContainsKey($"{p}.conv3.weight"))   // Bottleneck: 1x1 → 3x3 (stride, groups) → 1x1
                {
                    y = b.Relu(ConvBn(b, state, x, $"{p}.conv1", $"{p}.bn1"));
                    y = b.Relu(ConvBn(b, state, y, $"{p}.conv2", $"{p}.bn2", stride));
                    y = ConvBn(b, state, y, $"{p}.conv3", $"{p}.bn3");
                }
                else                                           // BasicBlock: 3x3 (stride) → 3x3
                {
                    y = b.Relu(ConvBn(b, state, x, $"{p}.conv1", $"{p}.bn1", stride));
                    y = ConvBn(b, state, y, $"{p}.conv2", $"{p}.bn2");
                }
                var identity = state.ContainsKey($"{p}.downsample.0.weight")
                    ? ConvBn(b, state, x, $"{p}.downsample.0", $"{p}.downsample.1", stride)
                    : x;
                x = b.Relu(b.Add(y, identity));
            }
        x = b.Flatten(b.GlobalAveragePool(x));                                       // (N, 512·expansion)
        return b.Linear(x, Weight(b, state, "fc.weight"), Weight(b, state, "fc.bias"), "logits_fc");   // (N, classes)
    }

    /// <summary>
    /// conv → BN in eval mode folded into one Conv: with s = γ / √(σ² + ε), W' = W·s (per output channel) and
    /// b' = β − μ·s. Computed in float64, stored in float32.
    /// </summary>
    private static string ConvBn(OnnxGraphBuilder b, IReadOnlyDictionary<string, Tensor> state, string x, string conv, string bn, long stride = 1)
    {
        using var scope = NewDisposeScope();
        var w = Get(state, $"{conv}.weight").to(ScalarType.Float64);                 // (O, I/g, k, k)
        var gamma = Get(state, $"{bn}.weight").to(ScalarType.Float64);               // (O)
        var beta = Get(state, $"{bn}.bias").to(ScalarType.Float64);
        var mean = Get(state, $"{bn}.running_mean").to(ScalarType.Float64);
        var variance = Get(state, $"{bn}.running_var").to(ScalarType.Float64);
        var s = gamma / (variance + BnEps).sqrt();
        var folded = (w * s.view(-1, 1, 1, 1)).to(ScalarType.Float32).contiguous();
        var bias = (beta - mean * s).to(ScalarType.Float32).contiguous();
        long kernel = w.shape[2];
        long groups = Groups(state, conv, w.shape[1]);
        var wName = b.Initializer($"{conv}.weight", folded.data<float>().ToArray(), folded.shape);
        var bName = b.Initializer($"{conv}.bias", bias.data<float>().ToArray(), bias.shape);
        return b.Conv(x, wName, bName, kernel, stride, pad: kernel / 2, groups, stem: conv);
    }

    /// <summary>Only a block's conv2 can be grouped (ResNeXt): groups = its input width (conv1's output) / weight dim 1.</summary>
    private static long Groups(IReadOnlyDictionary<string, Tensor> state, string conv, long weightInChannels) =>
        conv.EndsWith(".conv2", StringComparison.Ordinal)
            ? state[$"{conv[..^".conv2".Length]}.conv1.weight"].shape[0] / weightInChannels
            : 1;

    private static string Weight(OnnxGraphBuilder b, IReadOnlyDictionary<string, Tensor> state, string key)
    {
        using var scope = NewDisposeScope();
        var t = Get(state, key).to(ScalarType.Float32).contiguous();
        return b.Initializer(key, t.data<float>().ToArray(), t.shape);
    }

    private static Tensor Get(IReadOnlyDictionary<string, Tensor> state, string key) =>
        state.TryGetValue(key, out var t) ? t.detach().cpu() : throw new InvalidOperationException($"state_dict has no '{key}'");
}
