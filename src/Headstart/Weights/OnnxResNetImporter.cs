using Headstart.Onnx;
using static TorchSharp.torch;

namespace Headstart.Weights;

/// <summary>
/// Imports an ONNX BasicBlock ResNet (torchvision's <c>ResNet(BasicBlock, layers)</c> shape, no fc) into torchvision
/// state_dict keys by walking the graph from its input: Conv → BatchNormalization → Relu → MaxPool, then per block
/// Conv → BN → Relu → Conv → BN → Add(identity | downsample Conv → BN) → Relu, then a global AveragePool.
/// Initializer names and order are never used: a tensor's key comes only from where it sits in the topology.
/// Every Conv/MaxPool is checked to sample exactly torchvision's windows (CNTK exports asymmetric stride-2 pads such as
/// [3,3,2,2], which give the same windows as torchvision's symmetric padding 3 on even sizes), and every BN to use
/// torchvision's eps of 1e-5; anything else throws, because the imported weights would then compute something else.
/// Errors are <see cref="FormatException"/>s naming the node; <see cref="OnnxWeights"/> wraps them with the file path.
/// </summary>
internal sealed class OnnxResNetImporter
{
    private const float TorchvisionBnEps = 1e-5f;

    private readonly OnnxGraphIndex graph;
    private readonly string modelDirectory;
    private readonly StateDict state = new();
    private long height, width, channels;

    private OnnxResNetImporter(GraphProto g, string modelDirectory)
    {
        graph = new OnnxGraphIndex(g);
        this.modelDirectory = modelDirectory;
    }

    /// <summary>The imported weights and the blocks per stage found, e.g. [2, 2, 2, 3] for the CNTK ResNet18.</summary>
    public sealed record Result(StateDict State, int[] Layers, long FeatureDim, long InputSize);

    public static Result Import(ModelProto model, string modelDirectory)
    {
        var importer = new OnnxResNetImporter(model.Graph, modelDirectory);
        try { return importer.Walk(); }
        catch { importer.state.Dispose(); throw; }
    }

    private Result Walk()
    {
        var inputs = graph.DataInputs.ToList();
        if (inputs.Count != 1) throw new FormatException($"expected one image input, found {inputs.Count}");
        var shape = inputs[0].Shape();
        if (shape.Length != 4 || shape[1] != 3 || shape[2] is not { } h || shape[3] is not { } w)
            throw new FormatException($"expected an (N, 3, H, W) input with static H and W, found [{string.Join(", ", shape)}]");
        (height, width, channels) = (h, w, 3);

        // Stem: conv1 (7x7/2, pad 3) → bn1 → relu → maxpool (3x3/2, pad 1).
        var x = Conv(graph.SingleConsumer(inputs[0].Name, "Conv"), "conv1", kernel: 7, stride: 2, pad: 3);
        x = BatchNorm(graph.SingleConsumer(x, "BatchNormalization"), "bn1");
        x = graph.SingleConsumer(x, "Relu").Output[0];
        x = MaxPool(graph.SingleConsumer(x, "MaxPool"));

        var layers = new List<int>();
        long planes = 0;
        while (true)
        {
            var next = graph.ConsumersOf(x);
            if (next.Count == 1 && next[0].OpType is "AveragePool" or "GlobalAveragePool") return Finish(next[0], layers);

            var mainConv = next.SingleOrDefault(n => n.OpType == "Conv" && KernelOf(n) == 3)
                ?? throw new FormatException($"'{x}' feeds no 3x3 Conv: not a BasicBlock ResNet");
            long blockPlanes = graph.Initializer(mainConv, 1).Dims[0];
            if (blockPlanes != planes)
            {
                // A new stage doubles the width: 64, 128, 256, 512 (torchvision's layer1..layer4 for BasicBlock).
                long expected = layers.Count == 0 ? 64 : planes * 2;
                if (blockPlanes != expected) throw new FormatException($"{mainConv.Describe()} has {blockPlanes} filters; expected {expected}");
                layers.Add(0);
                planes = blockPlanes;
            }
            int stage = layers.Count, block = layers[^1]++;
            x = BasicBlock(x, next, mainConv, $"layer{stage}.{block}", stride: stage > 1 && block == 0 ? 2 : 1);
        }
    }

    private string BasicBlock(string input, IReadOnlyList<NodeProto> consumers, NodeProto mainConv, string prefix, int stride)
    {
        var (inH, inW, inC) = (height, width, channels);
        var y = Conv(mainConv, $"{prefix}.conv1", kernel: 3, stride: stride, pad: 1);
        y = BatchNorm(graph.SingleConsumer(y, "BatchNormalization"), $"{prefix}.bn1");
        y = graph.SingleConsumer(y, "Relu").Output[0];
        y = Conv(graph.SingleConsumer(y, "Conv"), $"{prefix}.conv2", kernel: 3, stride: 1, pad: 1);
        y = BatchNorm(graph.SingleConsumer(y, "BatchNormalization"), $"{prefix}.bn2");
        var add = graph.SingleConsumer(y, "Add");
        var shortcut = add.Input.Single(i => i != y);
        var (outH, outW, outC) = (height, width, channels);

        var downsampleConv = consumers.SingleOrDefault(n => n.OpType == "Conv" && n != mainConv);
        if (downsampleConv is not null)
        {
            (height, width, channels) = (inH, inW, inC);
            var d = Conv(downsampleConv, $"{prefix}.downsample.0", kernel: 1, stride: stride, pad: 0);
            d = BatchNorm(graph.SingleConsumer(d, "BatchNormalization"), $"{prefix}.downsample.1");
            if (d != shortcut) throw new FormatException($"the downsample branch of {prefix} does not feed {add.Describe()}");
            if ((height, width, channels) != (outH, outW, outC)) throw new FormatException($"the downsample branch of {prefix} has the wrong shape");
        }
        else if (shortcut != input || stride != 1 || inC != outC)
        {
            throw new FormatException($"{add.Describe()} of {prefix} adds '{shortcut}', expected the block input '{input}' (identity shortcut)");
        }
        return graph.SingleConsumer(add.Output[0], "Relu").Output[0];
    }

    private Result Finish(NodeProto pool, List<int> layers)
    {
        if (pool.OpType == "AveragePool")
        {
            // A kernel covering the whole map with no padding is torchvision's AdaptiveAvgPool2d(1).
            var k = pool.Ints("kernel_shape", []);
            if (k.Length != 2 || k[0] != height || k[1] != width || pool.Ints("pads", [0, 0, 0, 0]).Any(p => p != 0))
                throw new FormatException($"{pool.Describe()} is not a global average over the {height}x{width} map");
        }
        if (!graph.Graph.Output.Any(o => o.Name == pool.Output[0]))
            throw new FormatException($"{pool.Describe()} is not the graph output: layers after the pooled features are not supported");
        if (layers.Count != 4) throw new FormatException($"found {layers.Count} stages; a torchvision ResNet has 4");
        return new Result(state, [.. layers], channels, graph.DataInputs.Single().Shape()[2]!.Value);
    }

    private static long KernelOf(NodeProto conv) => conv.Ints("kernel_shape", [0])[0];

    private string Conv(NodeProto conv, string key, long kernel, long stride, long pad)
    {
        if (conv.Input.Count > 2 && conv.Input[2].Length > 0) throw new FormatException($"{conv.Describe()} has a bias; torchvision's ResNet convs have none");
        if (conv.Int("group", 1) != 1) throw new FormatException($"{conv.Describe()} is grouped; not a BasicBlock ResNet");
        if (conv.Ints("dilations", [1, 1]).Any(d => d != 1)) throw new FormatException($"{conv.Describe()} is dilated");
        var weight = graph.Initializer(conv, 1);
        var dims = weight.Dims.ToArray();
        if (dims.Length != 4 || dims[1] != channels || dims[2] != kernel || dims[3] != kernel)
            throw new FormatException($"{conv.Describe()} has weight [{string.Join(", ", dims)}]; expected [*, {channels}, {kernel}, {kernel}]");
        CheckWindows(conv, kernel, stride, pad);
        channels = dims[0];
        state.Add($"{key}.weight", tensor(weight.ToFloats(modelDirectory), dims));   // (out, in, k, k)
        return conv.Output[0];
    }

    private string MaxPool(NodeProto pool)
    {
        if (pool.Int("ceil_mode", 0) != 0) throw new FormatException($"{pool.Describe()} uses ceil_mode; torchvision's maxpool does not");
        CheckWindows(pool, kernel: 3, stride: 2, pad: 1);
        return pool.Output[0];
    }

    /// <summary>
    /// Checks kernel/stride and that the ONNX pads [top, left, bottom, right] give torchvision's windows: the same
    /// leading pad and the same output size as symmetric padding <paramref name="pad"/>. Then the windows start at the
    /// same offsets, so a smaller trailing pad only drops padding that no window reads. Updates the tracked map size.
    /// </summary>
    private void CheckWindows(NodeProto node, long kernel, long stride, long pad)
    {
        var k = node.Ints("kernel_shape", []);
        var s = node.Ints("strides", [1, 1]);
        var p = node.Ints("pads", [0, 0, 0, 0]);
        var autoPad = node.Str("auto_pad", "NOTSET");
        if (k.Length != 2 || k[0] != kernel || k[1] != kernel || s.Length != 2 || s[0] != stride || s[1] != stride)
            throw new FormatException(
                $"{node.Describe()} has kernel [{string.Join(", ", k)}] stride [{string.Join(", ", s)}]; torchvision's ResNet has {kernel}x{kernel}/{stride} here");
        if (autoPad is not ("NOTSET" or "") || p.Length != 4)
            throw new FormatException($"{node.Describe()} uses auto_pad={autoPad} or malformed pads; explicit pads are required");
        long Out(long size, long before, long after) => (size + before + after - kernel) / stride + 1;
        long outH = Out(height, p[0], p[2]), outW = Out(width, p[1], p[3]);
        if (p[0] != pad || p[1] != pad || outH != Out(height, pad, pad) || outW != Out(width, pad, pad))
            throw new FormatException(
                $"{node.Describe()} pads [{string.Join(", ", p)}] on a {height}x{width} map sample other windows than torchvision's padding={pad}");
        (height, width) = (outH, outW);
    }

    private string BatchNorm(NodeProto bn, string key)
    {
        float eps = bn.Float("epsilon", 1e-5f);
        if (Math.Abs(eps - TorchvisionBnEps) > 1e-9f)
            throw new FormatException($"{bn.Describe()} has epsilon {eps}; torchvision's BatchNorm2d uses 1e-5");
        if (bn.Int("spatial", 1) != 1) throw new FormatException($"{bn.Describe()} is not spatial (per-channel) BatchNorm");
        if (bn.Output.Count > 1 && bn.Output.Skip(1).Any(o => o.Length > 0))
            throw new FormatException($"{bn.Describe()} is in training mode (has running-stat outputs)");
        // ONNX BatchNormalization inputs: X, scale (γ), B (β), input_mean, input_var; all (C).
        string[] names = ["weight", "bias", "running_mean", "running_var"];
        for (int i = 0; i < names.Length; i++)
        {
            var t = graph.Initializer(bn, i + 1);
            if (t.Dims.Count != 1 || t.Dims[0] != channels)
                throw new FormatException($"input {i + 1} of {bn.Describe()} has shape [{string.Join(", ", t.Dims)}]; expected [{channels}]");
            state.Add($"{key}.{names[i]}", tensor(t.ToFloats(modelDirectory), [channels]));
        }
        state.Add($"{key}.num_batches_tracked", tensor(0L));
        return bn.Output[0];
    }
}
