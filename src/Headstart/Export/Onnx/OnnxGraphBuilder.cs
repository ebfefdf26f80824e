using System.Runtime.InteropServices;
using Google.Protobuf;
using static Headstart.Onnx.TensorProto.Types;
using Headstart.Onnx;

namespace Headstart.Export.Onnx;

/// <summary>
/// A small ONNX graph builder: typed helpers for the operators Headstart's exporters emit, unique value names, and
/// initializers from float arrays. Each helper returns the name of its output, so graphs read like forward passes:
/// <c>x = b.Relu(b.Conv(x, w, bias, stride: 2, pad: 3))</c>. Family exporters add nothing but their topology.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    private readonly GraphProto graph = new();
    private readonly Dictionary<string, int> counters = new(StringComparer.Ordinal);

    public OnnxGraphBuilder(string name) => graph.Name = name;

    /// <summary>A fresh value name: "conv", "conv_1", "conv_2", …</summary>
    public string Unique(string stem)
    {
        int n = counters.TryGetValue(stem, out var c) ? c : 0;
        counters[stem] = n + 1;
        return n == 0 ? stem : $"{stem}_{n}";
    }

    /// <summary>Declares a graph input; a string dimension is symbolic (e.g. "N" for a dynamic batch).</summary>
    public string Input(string name, DataType type, params object[] dims)
    {
        graph.Input.Add(ValueInfo(name, type, dims));
        return name;
    }

    public void Output(string name, DataType type, params object[] dims) => graph.Output.Add(ValueInfo(name, type, dims));

    /// <summary>A FLOAT constant stored as little-endian raw_data.</summary>
    public string Initializer(string stem, float[] values, params long[] dims)
    {
        var t = new TensorProto { Name = Unique(stem), DataType = (int)DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        t.Dims.Add(dims);
        graph.Initializer.Add(t);
        return t.Name;
    }

    public string Int64Initializer(string stem, params long[] values)
    {
        var t = new TensorProto { Name = Unique(stem), DataType = (int)DataType.Int64 };
        t.Dims.Add(values.Length);
        t.Int64Data.Add(values);
        graph.Initializer.Add(t);
        return t.Name;
    }

    /// <summary>Adds a node with one output named after <paramref name="outputStem"/>; returns that output.</summary>
    public string Node(string opType, string[] inputs, string? outputStem = null, params AttributeProto[] attributes)
    {
        var output = Unique(outputStem ?? opType.ToLowerInvariant());
        var node = new NodeProto { OpType = opType, Name = output };
        node.Input.Add(inputs);
        node.Output.Add(output);
        node.Attribute.Add(attributes);
        graph.Node.Add(node);
        return output;
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.Add(values);
        return a;
    }

    public static AttributeProto Str(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    // ---- operators -------------------------------------------------------------------------------------------

    /// <summary>2-D convolution, square kernel, symmetric padding (weight (O, I/groups, k, k), bias (O) or null).</summary>
    public string Conv(string x, string weight, string? bias, long kernel, long stride = 1, long pad = 0, long groups = 1, string stem = "conv") =>
        Node("Conv", bias is null ? [x, weight] : [x, weight, bias], stem,
            Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride), Ints("pads", pad, pad, pad, pad),
            Ints("dilations", 1, 1), Int("group", groups));

    public string Relu(string x) => Node("Relu", [x], "relu");

    /// <summary>min(max(x, lo), hi); opset ≥ 11 takes the bounds as inputs.</summary>
    public string Clip(string x, float min, float max) =>
        Node("Clip", [x, Initializer("clip_min", [min]), Initializer("clip_max", [max])], "clip");

    /// <summary>PyTorch's Hardsigmoid, relu6(x + 3) / 6 = clamp(x/6 + 1/2, 0, 1).</summary>
    public string HardSigmoid(string x) => Node("HardSigmoid", [x], "hardsigmoid", Float("alpha", 1f / 6), Float("beta", 0.5f));

    public string Concat(string[] inputs, long axis) => Node("Concat", inputs, "concat", Int("axis", axis));

    public string Cast(string x, DataType to) => Node("Cast", [x], "cast", Int("to", (long)to));

    public string Transpose(string x, params long[] perm) => Node("Transpose", [x], "transpose", Ints("perm", perm));

    public string MaxPool(string x, long kernel, long stride, long pad) =>
        Node("MaxPool", [x], "maxpool", Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride), Ints("pads", pad, pad, pad, pad));

    public string GlobalAveragePool(string x) => Node("GlobalAveragePool", [x], "avgpool");

    public string Flatten(string x, long axis = 1) => Node("Flatten", [x], "flatten", Int("axis", axis));

    /// <summary>y = x · Wᵀ + b, torch's Linear (weight (out, in)).</summary>
    public string Linear(string x, string weight, string bias, string stem = "linear") =>
        Node("Gemm", [x, weight, bias], stem, Int("transB", 1));

    public string Add(string a, string b) => Node("Add", [a, b], "add");
    public string Sub(string a, string b) => Node("Sub", [a, b], "sub");
    public string Mul(string a, string b) => Node("Mul", [a, b], "mul");
    public string Div(string a, string b) => Node("Div", [a, b], "div");

    public string Gather(string x, string indices, long axis) => Node("Gather", [x, indices], "gather", Int("axis", axis));

    public string Softmax(string x, long axis = -1, string stem = "softmax") => Node("Softmax", [x], stem, Int("axis", axis));

    public string Identity(string x, string name) => Node("Identity", [x], name);

    public string Reshape(string x, string shape) => Node("Reshape", [x, shape], "reshape");

    public string Log(string x) => Node("Log", [x], "log");

    /// <summary>The model: the oldest IR version that allows the opset (8 up to opset 18, 9 for 19, 10 for 20-21),
    /// so that older runtimes load it; default-domain opset; metadata.</summary>
    public ModelProto Build(long opset, IEnumerable<KeyValuePair<string, string>> metadata, string producerVersion)
    {
        var model = new ModelProto
        {
            IrVersion = opset switch { <= 18 => 8, 19 => 9, _ => 10 },
            ProducerName = "Headstart",
            ProducerVersion = producerVersion,
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        foreach (var (k, v) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return model;
    }

    private static ValueInfoProto ValueInfo(string name, DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d switch
            {
                string p => new TensorShapeProto.Types.Dimension { DimParam = p },
                long v => new TensorShapeProto.Types.Dimension { DimValue = v },
                int v => new TensorShapeProto.Types.Dimension { DimValue = v },
                _ => throw new ArgumentException($"dimension {d} must be a string, int or long"),
            });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
    }
}
