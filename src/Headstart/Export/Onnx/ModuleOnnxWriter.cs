using TorchSharp.Modules;
using static TorchSharp.torch;
using TorchSharp;
using Module = TorchSharp.torch.nn.Module;
using Headstart.Onnx;

namespace Headstart.Export.Onnx;

/// <summary>A value in the graph with its shape: (C, H, W) for feature maps, (C) with H = W = 0 after Flatten.</summary>
internal readonly record struct OnnxValue(string Name, long C, long H, long W);

/// <summary>
/// Writes a model by walking its module tree: standard layers (Conv2d, BatchNorm2d, activations, pools, Linear,
/// Dropout) map one-to-one onto ONNX operators, reading their hyper-parameters from the modules themselves, and the
/// few Headstart blocks whose forward is not a plain chain (inverted residuals, squeeze-excitation, Fire) have a
/// handler each. A BatchNorm2d that directly follows a Conv2d in a Sequential is folded into it (eval semantics).
/// Shapes are tracked so that AdaptiveAvgPool2d becomes an exact fixed-size operator for the export's input size.
/// </summary>
internal sealed class ModuleOnnxWriter(OnnxGraphBuilder b)
{
    /// <summary>Writes <paramref name="module"/> applied to <paramref name="x"/>; <paramref name="path"/> is its state-dict prefix.</summary>
    public OnnxValue Write(Module module, OnnxValue x, string path)
    {
        switch (module)
        {
            case Sequential: return Chain(module, x, path);
            case Conv2d conv: return Conv(conv, null, x, path);
            case BatchNorm2d bn: return BatchNorm(bn, x, path);
            case TorchSharp.Modules.ReLU: return x with { Name = b.Relu(x.Name) };
            case ReLU6: return x with { Name = b.Clip(x.Name, 0f, 6f) };
            case Hardtanh h: return x with { Name = b.Clip(x.Name, (float)h.min_val, (float)h.max_val) };   // ReLU6 = Hardtanh(0, 6)
            case TorchSharp.Modules.Hardswish: return x with { Name = b.Node("HardSwish", [x.Name], "hardswish") };
            case TorchSharp.Modules.Hardsigmoid: return x with { Name = b.HardSigmoid(x.Name) };
            case TorchSharp.Modules.Sigmoid: return x with { Name = b.Node("Sigmoid", [x.Name], "sigmoid") };
            case TorchSharp.Modules.SiLU: return x with { Name = b.Mul(x.Name, b.Node("Sigmoid", [x.Name], "sigmoid")) };
            case TorchSharp.Modules.Dropout or TorchSharp.Modules.Identity: return x;
            case MaxPool2d p: return Pool("MaxPool", x, p.kernel_size, p.stride ?? p.kernel_size, p.padding ?? [0, 0], p.ceil_mode);
            case AvgPool2d p when p.divisor_override is null:
                return Pool("AveragePool", x, p.kernel_size, p.stride ?? p.kernel_size, p.padding ?? [0, 0], p.ceil_mode, p.count_include_pad);
            case AdaptiveAvgPool2d p: return AdaptiveAvgPool(x, p.output_size[0], p.output_size.Length > 1 ? p.output_size[1] : p.output_size[0]);
            case Linear l: return Linear(l, x, path);
            case Flatten f when f.start_dim == 1 && f.end_dim == -1: return Flatten(x);
        }
        return module.GetType().Name switch
        {
            "InvertedResidualV2" or "InvertedResidualV3" or "MnasInvertedResidual" or "MBConv" => Residual(module, x, path),
            "DenseLayer" => Chain(module, x, path),   // norm1, relu1, conv1, norm2, relu2, conv2: registered in forward order
            "DenseBlock" => DenseBlock(module, x, path),
            "InceptionV1Block" => Branches(module, x, path),
            "ShuffleUnit" => ShuffleUnit(module, x, path),
            "InceptionA" or "InceptionB" or "InceptionC" or "InceptionD" or "InceptionE" => InceptionV3Block(module, x, path),
            "CNBlock" => ConvNeXtBlock(module, x, path),
            "LayerNorm2d" => LayerNorm2d((Headstart.Models.LayerNorm2d)module, x, path),
            "SqueezeExcitation" => SqueezeExcitation(module, x, path),
            "Fire" => Fire(module, x, path),
            "BasicConv2d" => BasicConv(module, x, path),
            _ => throw new HeadstartException($"ONNX export cannot write module '{path}' of type {module.GetType().Name}."),
        };
    }

    /// <summary>The children of <paramref name="module"/> one after another, folding each Conv2d → BatchNorm2d pair.</summary>
    private OnnxValue Chain(Module module, OnnxValue x, string path)
    {
        var children = module.named_children().ToList();
        for (int i = 0; i < children.Count; i++)
        {
            var (name, child) = children[i];
            if (child is Conv2d conv && i + 1 < children.Count && children[i + 1].module is BatchNorm2d bn)
            {
                x = Conv(conv, bn, x, Key(path, name));
                i++;
            }
            else x = Write(child, x, Key(path, name));
        }
        return x;
    }

    public OnnxValue Relu(OnnxValue x) => x with { Name = b.Relu(x.Name) };

    public OnnxValue Flatten(OnnxValue x) => new(b.Flatten(x.Name), x.C * Math.Max(1, x.H) * Math.Max(1, x.W), 0, 0);

    public OnnxValue GlobalAveragePool(OnnxValue x) => x with { Name = b.GlobalAveragePool(x.Name), H = 1, W = 1 };

    // ---- layers ----------------------------------------------------------------------------------------------

    /// <summary>
    /// Conv2d, with the following BatchNorm folded in when given: with s = γ / √(σ² + ε), W' = W·s (per output
    /// channel) and b' = (b − μ)·s + β. Computed in float64, stored in float32.
    /// </summary>
    private OnnxValue Conv(Conv2d conv, BatchNorm2d? bn, OnnxValue x, string path)
    {
        if (conv.padding_type is not null || conv.padding_mode != PaddingModes.Zeros)
            throw new HeadstartException($"ONNX export supports explicit zero padding only (conv '{path}').");
        using var scope = NewDisposeScope();
        var w = conv.weight!.detach().cpu().to(ScalarType.Float64);                        // (O, I/g, kh, kw)
        var bias = conv.bias is { } cb ? cb.detach().cpu().to(ScalarType.Float64) : zeros(w.shape[0], ScalarType.Float64);
        if (bn is not null)
        {
            var (scale, shift) = BnAffine(bn);
            w = w * scale!.view(-1, 1, 1, 1);
            bias = bias * scale + shift;
        }
        var wName = Initializer($"{path}.weight", w);
        var bName = Initializer($"{path}.bias", bias);
        var (k, s, d) = (conv.kernel_size, conv.stride, conv.dilation);
        var p = conv.padding ?? throw new HeadstartException($"ONNX export needs explicit padding (conv '{path}')."); 
        var y = b.Node("Conv", [x.Name, wName, bName], "conv",
            OnnxGraphBuilder.Ints("kernel_shape", k), OnnxGraphBuilder.Ints("strides", s),
            OnnxGraphBuilder.Ints("pads", p[0], p[1], p[0], p[1]), OnnxGraphBuilder.Ints("dilations", d),
            OnnxGraphBuilder.Int("group", conv.groups));
        return new OnnxValue(y, w.shape[0], OutSize(x.H, k[0], s[0], p[0], d[0], false), OutSize(x.W, k[1], s[1], p[1], d[1], false));
    }

    /// <summary>A BatchNorm that follows no conv (DenseNet's pre-activation): x·s + (β − μ·s) per channel.</summary>
    private OnnxValue BatchNorm(BatchNorm2d bn, OnnxValue x, string path)
    {
        using var scope = NewDisposeScope();
        var (scale, shift) = BnAffine(bn);
        var y = b.Add(b.Mul(x.Name, Initializer($"{path}.scale", scale.view(1, -1, 1, 1))), Initializer($"{path}.shift", shift.view(1, -1, 1, 1)));
        return x with { Name = y };
    }

    /// <summary>Eval-mode BatchNorm as y = x·scale + shift, both (C), float64.</summary>
    private static (Tensor Scale, Tensor Shift) BnAffine(BatchNorm2d bn)
    {
        var mean = bn.running_mean!.detach().cpu().to(ScalarType.Float64);
        var variance = bn.running_var!.detach().cpu().to(ScalarType.Float64);
        var gamma = bn.weight is { } g ? g.detach().cpu().to(ScalarType.Float64) : ones_like(mean);
        var beta = bn.bias is { } bb ? bb.detach().cpu().to(ScalarType.Float64) : zeros_like(mean);
        var scale = gamma / (variance + bn.eps).sqrt();
        return (scale, beta - mean * scale);
    }

    private OnnxValue Linear(Linear l, OnnxValue x, string path)
    {
        using var scope = NewDisposeScope();
        var w = l.weight!.detach().cpu();
        var bias = l.bias is { } lb ? lb.detach().cpu() : zeros(w.shape[0]);
        var y = b.Linear(x.Name, Initializer($"{path}.weight", w), Initializer($"{path}.bias", bias));
        return new OnnxValue(y, w.shape[0], 0, 0);
    }

    private OnnxValue Pool(string op, OnnxValue x, long[] k, long[] s, long[] p, bool ceil, bool countIncludePad = false)
    {
        if (k.Length == 1) k = [k[0], k[0]];
        if (s.Length == 1) s = [s[0], s[0]];
        if (p.Length == 1) p = [p[0], p[0]];
        var attributes = new List<AttributeProto>
        {
            OnnxGraphBuilder.Ints("kernel_shape", k), OnnxGraphBuilder.Ints("strides", s),
            OnnxGraphBuilder.Ints("pads", p[0], p[1], p[0], p[1]), OnnxGraphBuilder.Int("ceil_mode", ceil ? 1 : 0),
        };
        if (op == "AveragePool") attributes.Add(OnnxGraphBuilder.Int("count_include_pad", countIncludePad ? 1 : 0));
        var y = b.Node(op, [x.Name], op.ToLowerInvariant(), [.. attributes]);
        return x with { Name = y, H = OutSize(x.H, k[0], s[0], p[0], 1, ceil), W = OutSize(x.W, k[1], s[1], p[1], 1, ceil) };
    }

    /// <summary>
    /// PyTorch's adaptive average pool for the shapes the zoo meets: identity when sizes match, GlobalAveragePool to
    /// 1x1, AveragePool when the input is a multiple of the output, and nearest-neighbour replication when the output
    /// is a multiple of the input (a small input under AlexNet/VGG's fixed 6x6 / 7x7 pool: every bin is one pixel).
    /// </summary>
    private OnnxValue AdaptiveAvgPool(OnnxValue x, long oh, long ow)
    {
        if (x.H == oh && x.W == ow) return x;
        if (oh == 1 && ow == 1) return GlobalAveragePool(x);
        if (x.H % oh == 0 && x.W % ow == 0)
            return Pool("AveragePool", x, [x.H / oh, x.W / ow], [x.H / oh, x.W / ow], [0, 0], false);
        if (oh % x.H == 0 && ow % x.W == 0)
        {
            var scales = b.Initializer("scales", [1f, 1f, oh / (float)x.H, ow / (float)x.W], 4);
            var y = b.Node("Resize", [x.Name, "", scales], "resize",
                OnnxGraphBuilder.Str("mode", "nearest"), OnnxGraphBuilder.Str("coordinate_transformation_mode", "asymmetric"),
                OnnxGraphBuilder.Str("nearest_mode", "floor"));
            return x with { Name = y, H = oh, W = ow };
        }
        throw new HeadstartException(
            $"ONNX export cannot write an adaptive average pool from {x.H}x{x.W} to {oh}x{ow}; export at the model's own input size.");
    }

    // ---- Headstart blocks ------------------------------------------------------------------------------------

    /// <summary>MobileNet / MNASNet / EfficientNet inverted residual: its Sequential child, plus the input when the
    /// shape is unchanged (torchvision's use_res_connect: stride 1 and in == out channels). EfficientNet's stochastic
    /// depth is the identity in eval mode.</summary>
    private OnnxValue Residual(Module module, OnnxValue x, string path)
    {
        var (name, body) = module.named_children().Single(c => c.module is Sequential);
        var y = Write(body, x, Key(path, name));
        return y.C == x.C && y.H == x.H && y.W == x.W ? y with { Name = b.Add(y.Name, x.Name) } : y;
    }

    /// <summary>torchvision.ops.SqueezeExcitation: x · gate(fc2(act(fc1(avgpool(x))))).</summary>
    private OnnxValue SqueezeExcitation(Module module, OnnxValue x, string path)
    {
        var s = GlobalAveragePool(x);                                                    // (N, C, 1, 1)
        s = Write(Child<Conv2d>(module, "fc1"), s, Key(path, "fc1"));
        s = Write(Child<Module>(module, "activation"), s, Key(path, "activation"));
        s = Write(Child<Conv2d>(module, "fc2"), s, Key(path, "fc2"));
        s = Write(Child<Module>(module, "scale_activation"), s, Key(path, "scale_activation"));
        return x with { Name = b.Mul(s.Name, x.Name) };
    }

    /// <summary>DenseNet's block: each layer reads the concatenation of the input and every earlier layer's output.</summary>
    private OnnxValue DenseBlock(Module module, OnnxValue x, string path)
    {
        var all = new List<OnnxValue> { x };
        foreach (var (name, layer) in module.named_children())
        {
            var input = all.Count == 1 ? x : x with { Name = b.Concat([.. all.Select(v => v.Name)], axis: 1), C = all.Sum(v => v.C) };
            all.Add(Write(layer, input, Key(path, name)));                          // (N, growth, h, w)
        }
        return x with { Name = b.Concat([.. all.Select(v => v.Name)], axis: 1), C = all.Sum(v => v.C) };
    }

    /// <summary>An Inception block: every child branch reads the input; outputs concatenated on channels.</summary>
    private OnnxValue Branches(Module module, OnnxValue x, string path)
    {
        var outs = module.named_children().Select(c => Write(c.module, x, Key(path, c.name))).ToList();
        return outs[0] with { Name = b.Concat([.. outs.Select(v => v.Name)], axis: 1), C = outs.Sum(v => v.C) };
    }

    /// <summary>
    /// ShuffleNetV2's unit: stride 1 splits the channels in halves and transforms the second; stride 2 (branch1 not
    /// empty) runs both branches on the whole input. Then concat and shuffle the two groups of channels.
    /// </summary>
    private OnnxValue ShuffleUnit(Module module, OnnxValue x, string path)
    {
        var branch1 = Child<Sequential>(module, "branch1");
        var branch2 = Child<Sequential>(module, "branch2");
        OnnxValue left, right;
        if (!branch1.named_children().Any())
        {
            long half = x.C / 2;
            left = x with { Name = Slice(x.Name, 0, half), C = half };                   // (N, C/2, H, W)
            right = Write(branch2, x with { Name = Slice(x.Name, half, x.C), C = half }, Key(path, "branch2"));
        }
        else
        {
            left = Write(branch1, x, Key(path, "branch1"));
            right = Write(branch2, x, Key(path, "branch2"));
        }
        long c = left.C + right.C, h = left.H, w = left.W;
        var y = b.Concat([left.Name, right.Name], axis: 1);                            // (N, C, H, W)
        y = b.Node("Reshape", [y, b.Int64Initializer("shape", 0, 2, c / 2, h, w)], "reshape");   // (N, 2, C/2, H, W)
        y = b.Transpose(y, 0, 2, 1, 3, 4);                                            // (N, C/2, 2, H, W)
        y = b.Node("Reshape", [y, b.Int64Initializer("shape", 0, c, h, w)], "reshape");         // (N, C, H, W)
        return new OnnxValue(y, c, h, w);
    }

    /// <summary>Channels [start, end) of an NCHW value.</summary>
    private string Slice(string x, long start, long end) =>
        b.Node("Slice", [x, b.Int64Initializer("starts", start), b.Int64Initializer("ends", end), b.Int64Initializer("axes", 1)], "slice");

    /// <summary>
    /// ConvNeXt's block: x + layer_scale · (7x7 depthwise conv → channels-last LayerNorm → Linear → GELU → Linear),
    /// stochastic depth being the identity in eval mode. The Linears run as MatMul + Add on (N, H, W, C).
    /// </summary>
    private OnnxValue ConvNeXtBlock(Module module, OnnxValue x, string path)
    {
        var layers = Child<Sequential>(module, "block").named_children().Select(c => c.module).ToList();
        if (layers.Count != 7 || layers[2] is not LayerNorm ln || layers[3] is not Linear fc1 || layers[5] is not Linear fc2)
            throw new HeadstartException($"ONNX export: unexpected ConvNeXt block layout at '{path}'.");
        var y = Conv((Conv2d)layers[0], null, x, Key(path, "block.0"));                 // (N, C, H, W)
        var t = b.Transpose(y.Name, 0, 2, 3, 1);                                          // (N, H, W, C)
        t = LayerNormalization(t, ln.weight!, ln.bias!, ln.eps, Key(path, "block.2"));
        t = MatMulAdd(t, fc1, Key(path, "block.3"));                                      // (N, H, W, 4C)
        t = Gelu(t);
        t = MatMulAdd(t, fc2, Key(path, "block.5"));                                      // (N, H, W, C)
        t = b.Transpose(t, 0, 3, 1, 2);                                                   // (N, C, H, W)
        var scale = module.named_parameters(recurse: false).Single(p => p.name == "layer_scale").parameter;   // (C, 1, 1)
        t = b.Mul(t, Initializer(Key(path, "layer_scale"), scale.detach().cpu()));
        return y with { Name = b.Add(t, x.Name), C = x.C };
    }

    /// <summary>LayerNorm over the channels of an NCHW map (ConvNeXt's LayerNorm2d): to NHWC, normalise, back.</summary>
    private OnnxValue LayerNorm2d(Headstart.Models.LayerNorm2d module, OnnxValue x, string path)
    {
        var parameters = module.named_parameters(recurse: false).ToDictionary(p => p.name, p => p.parameter);
        var t = b.Transpose(x.Name, 0, 2, 3, 1);                                          // (N, H, W, C)
        t = LayerNormalization(t, parameters["weight"], parameters["bias"], module.Eps, path);
        return x with { Name = b.Transpose(t, 0, 3, 1, 2) };                              // (N, C, H, W)
    }

    private string LayerNormalization(string x, Tensor weight, Tensor bias, double eps, string path) =>
        b.Node("LayerNormalization", [x, Initializer($"{path}.weight", weight.detach().cpu()), Initializer($"{path}.bias", bias.detach().cpu())],
            "layernorm", OnnxGraphBuilder.Int("axis", -1), OnnxGraphBuilder.Float("epsilon", (float)eps));

    /// <summary>torch's Linear on the last axis of any rank: x · Wᵀ + b.</summary>
    private string MatMulAdd(string x, Linear l, string path)
    {
        using var scope = NewDisposeScope();
        var y = b.Node("MatMul", [x, Initializer($"{path}.weight_t", l.weight!.detach().cpu().t())], "matmul");
        return l.bias is { } bias ? b.Add(y, Initializer($"{path}.bias", bias.detach().cpu())) : y;
    }

    /// <summary>Exact GELU, 0.5·x·(1 + erf(x/√2)) (torch's default, approximate = none).</summary>
    private string Gelu(string x)
    {
        var erf = b.Node("Erf", [b.Mul(x, b.Initializer("inv_sqrt2", [(float)(1 / Math.Sqrt(2))]))], "erf");
        return b.Mul(b.Mul(x, b.Add(erf, b.Initializer("one", [1f]))), b.Initializer("half", [0.5f]));
    }

    /// <summary>
    /// Inception v3's Mixed blocks (torchvision's InceptionA-E): branches of BasicConv2d chains, named
    /// branchX_1, branchX_2, …, plus a functional pool branch (3x3/1 average pool with padding, counting the padding,
    /// before branch_pool in A/C/E; a bare 3x3/2 max pool in B/D); E splits two branches into 1x3 and 3x1 halves.
    /// </summary>
    private OnnxValue InceptionV3Block(Module module, OnnxValue x, string path)
    {
        var convs = module.named_children().ToDictionary(c => c.name, c => c.module);
        OnnxValue Run(string name, OnnxValue v) => Write(convs[name], v, Key(path, name));
        OnnxValue Seq(params string[] names) => names.Aggregate(x, (v, n) => Run(n, v));
        OnnxValue Cat(params OnnxValue[] vs) => vs[0] with { Name = b.Concat([.. vs.Select(v => v.Name)], axis: 1), C = vs.Sum(v => v.C) };
        OnnxValue AvgPoolBranch() => Run("branch_pool", Pool("AveragePool", x, [3, 3], [1, 1], [1, 1], false, countIncludePad: true));
        OnnxValue MaxPoolBranch() => Pool("MaxPool", x, [3, 3], [2, 2], [0, 0], false);
        switch (module.GetType().Name)
        {
            case "InceptionA":
                return Cat(Seq("branch1x1"), Seq("branch5x5_1", "branch5x5_2"), Seq("branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"), AvgPoolBranch());
            case "InceptionB":
                return Cat(Seq("branch3x3"), Seq("branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"), MaxPoolBranch());
            case "InceptionC":
                return Cat(Seq("branch1x1"), Seq("branch7x7_1", "branch7x7_2", "branch7x7_3"),
                    Seq("branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5"), AvgPoolBranch());
            case "InceptionD":
                return Cat(Seq("branch3x3_1", "branch3x3_2"), Seq("branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"), MaxPoolBranch());
            default:   // InceptionE
                var b3 = Seq("branch3x3_1");
                var bd = Seq("branch3x3dbl_1", "branch3x3dbl_2");
                return Cat(Seq("branch1x1"), Cat(Run("branch3x3_2a", b3), Run("branch3x3_2b", b3)),
                    Cat(Run("branch3x3dbl_3a", bd), Run("branch3x3dbl_3b", bd)), AvgPoolBranch());
        }
    }

    /// <summary>GoogLeNet / Inception's conv unit: conv + BN (folded) + ReLU.</summary>
    private OnnxValue BasicConv(Module module, OnnxValue x, string path)
    {
        var y = Conv(Child<Conv2d>(module, "conv"), Child<BatchNorm2d>(module, "bn"), x, path);
        return y with { Name = b.Relu(y.Name) };
    }

    /// <summary>SqueezeNet's Fire: squeeze 1x1 → ReLU → concat(expand 1x1 → ReLU, expand 3x3 → ReLU) on channels.</summary>
    private OnnxValue Fire(Module module, OnnxValue x, string path)
    {
        OnnxValue Step(OnnxValue v, string conv, string act) =>
            Write(Child<Module>(module, act), Write(Child<Conv2d>(module, conv), v, Key(path, conv)), Key(path, act));
        var s = Step(x, "squeeze", "squeeze_activation");
        var e1 = Step(s, "expand1x1", "expand1x1_activation");
        var e3 = Step(s, "expand3x3", "expand3x3_activation");
        return e1 with { Name = b.Concat([e1.Name, e3.Name], axis: 1), C = e1.C + e3.C };
    }

    // ---- helpers ---------------------------------------------------------------------------------------------

    private static T Child<T>(Module module, string name) where T : Module =>
        module.named_children().FirstOrDefault(c => c.name == name).module as T
        ?? throw new HeadstartException($"ONNX export: {module.GetType().Name} has no {typeof(T).Name} child '{name}'.");

    private static string Key(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    private string Initializer(string stem, Tensor t)
    {
        using var f = t.to(ScalarType.Float32).contiguous();
        return b.Initializer(stem, f.data<float>().ToArray(), f.shape);
    }

    /// <summary>PyTorch's output size of a conv / pool (with ceil_mode's rule that the last window starts inside the input).</summary>
    private static long OutSize(long size, long k, long s, long p, long d, bool ceil)
    {
        double span = size + 2 * p - d * (k - 1) - 1;
        long o = (ceil ? (long)Math.Ceiling(span / s) : (long)Math.Floor(span / s)) + 1;
        if (ceil && (o - 1) * s >= size + p) o--;
        return o;
    }
}
