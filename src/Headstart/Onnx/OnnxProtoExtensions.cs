using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Google.Protobuf;

namespace Headstart.Onnx;

/// <summary>Reads a span of bytes (which must not outlive the call).</summary>
internal delegate T SpanReader<out T>(ReadOnlySpan<byte> bytes);

/// <summary>Reading helpers over the generated ONNX messages: load a model file, decode tensors, read attributes.</summary>
internal static class OnnxProtoExtensions
{
    /// <summary>Parses an .onnx file; a file that is not an ONNX model is a <see cref="HeadstartException"/>.</summary>
    public static ModelProto LoadModel(string path)
    {
        if (!File.Exists(path)) throw new HeadstartException($"ONNX file not found: '{path}'.");
        try
        {
            var model = ParseMapped(path);
            return model.Graph is not null ? model : throw new HeadstartException($"'{path}' is not an ONNX model: it has no graph.");
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new HeadstartException($"'{path}' is not a valid ONNX model ({e.Message}).", e);
        }
    }

    /// <summary>Parses from the memory-mapped file: faster than through a FileStream (bench/README.md), and
    /// without a managed copy of the whole file.</summary>
    private static ModelProto ParseMapped(string path) => ReadMapped(path, bytes => ModelProto.Parser.ParseFrom(bytes));

    /// <summary>Reads a whole file through a memory map: <paramref name="read"/> sees its bytes (empty for an empty file).</summary>
    public static unsafe T ReadMapped<T>(string path, SpanReader<T> read)
    {
        long length = new FileInfo(path).Length;
        if (length == 0) return read([]);
        if (length > int.MaxValue) throw new HeadstartException($"'{path}' is over 2 GB, the limit of a protobuf message; ONNX keeps larger weights in external data files.");
        using var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        using var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        try
        {
            return read(new ReadOnlySpan<byte>(p + view.PointerOffset, (int)length));
        }
        finally
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    /// <summary>
    /// The elements of a FLOAT tensor, from float_data, raw_data (little-endian) or external data stored next to
    /// the model (<paramref name="modelDirectory"/>).
    /// </summary>
    public static float[] ToFloats(this TensorProto t, string modelDirectory)
    {
        if (t.DataType != (int)TensorProto.Types.DataType.Float)
            throw new HeadstartException(
                $"ONNX tensor '{t.Name}' has data type {(TensorProto.Types.DataType)t.DataType}; only FLOAT is supported here.");
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian; big-endian hosts are not supported.");
        long count = t.Dims.Aggregate(1L, (a, d) => a * d);
        float[] values;
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
            values = MemoryMarshal.Cast<byte, float>(ReadExternal(t, modelDirectory)).ToArray();
        else if (!t.RawData.IsEmpty)
            values = MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();
        else
            values = [.. t.FloatData];
        if (values.LongLength != count)
            throw new HeadstartException(
                $"ONNX tensor '{t.Name}' holds {values.LongLength} values but its shape [{string.Join(", ", t.Dims)}] needs {count}.");
        return values;
    }

    private static byte[] ReadExternal(TensorProto t, string modelDirectory)
    {
        var entries = t.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        if (!entries.TryGetValue("location", out var location))
            throw new HeadstartException($"ONNX tensor '{t.Name}' is external but names no 'location'.");
        var file = Path.GetFullPath(Path.Combine(modelDirectory, location));
        if (!File.Exists(file))
            throw new HeadstartException($"external data '{location}' of ONNX tensor '{t.Name}' not found at '{file}'; keep it next to the .onnx file.");
        long offset = entries.TryGetValue("offset", out var o) ? long.Parse(o) : 0;
        using var stream = File.OpenRead(file);
        long length = entries.TryGetValue("length", out var l) ? long.Parse(l) : stream.Length - offset;
        var bytes = new byte[length];
        stream.Position = offset;
        stream.ReadExactly(bytes);
        return bytes;
    }

    public static AttributeProto? Attribute(this NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name);

    public static long[] Ints(this NodeProto node, string name, long[] fallback) =>
        node.Attribute(name) is { } a ? [.. a.Ints] : fallback;

    public static long Int(this NodeProto node, string name, long fallback) =>
        node.Attribute(name) is { } a ? a.I : fallback;

    public static float Float(this NodeProto node, string name, float fallback) =>
        node.Attribute(name) is { } a ? a.F : fallback;

    public static string Str(this NodeProto node, string name, string fallback) =>
        node.Attribute(name) is { } a ? a.S.ToStringUtf8() : fallback;

    /// <summary>Static dimensions of a value (null where a dimension is symbolic or unknown).</summary>
    public static long?[] Shape(this ValueInfoProto value) =>
        value.Type?.TensorType?.Shape?.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : (long?)null).ToArray()
        ?? [];

    /// <summary>"Conv 'name' (output 'x')": how error messages point at a node.</summary>
    public static string Describe(this NodeProto node) =>
        $"{node.OpType} node '{(node.Name.Length > 0 ? node.Name : "?")}' (output '{node.Output.FirstOrDefault()}')";
}

/// <summary>Producer/consumer index over a graph, so that importers can walk it by topology rather than by names.</summary>
internal sealed class OnnxGraphIndex
{
    private readonly Dictionary<string, List<NodeProto>> consumers = new(StringComparer.Ordinal);

    public OnnxGraphIndex(GraphProto graph)
    {
        Graph = graph;
        foreach (var t in graph.Initializer) Initializers[t.Name] = t;
        foreach (var node in graph.Node)
            foreach (var input in node.Input.Where(i => i.Length > 0))
            {
                if (!consumers.TryGetValue(input, out var list)) consumers[input] = list = [];
                list.Add(node);
            }
    }

    public GraphProto Graph { get; }
    public Dictionary<string, TensorProto> Initializers { get; } = new(StringComparer.Ordinal);

    /// <summary>The graph inputs that are real inputs (old exporters also list initializers as inputs).</summary>
    public IEnumerable<ValueInfoProto> DataInputs => Graph.Input.Where(i => !Initializers.ContainsKey(i.Name));

    public IReadOnlyList<NodeProto> ConsumersOf(string value) =>
        consumers.TryGetValue(value, out var list) ? list : [];

    /// <summary>The only consumer of <paramref name="value"/>, which must be a <paramref name="opType"/> node.</summary>
    public NodeProto SingleConsumer(string value, string opType)
    {
        var list = ConsumersOf(value);
        if (list.Count != 1 || list[0].OpType != opType)
            throw new FormatException(
                $"expected '{value}' to feed exactly one {opType} node, found [{string.Join(", ", list.Select(n => n.OpType))}]");
        return list[0];
    }

    public TensorProto Initializer(NodeProto node, int inputIndex) =>
        inputIndex < node.Input.Count && Initializers.TryGetValue(node.Input[inputIndex], out var t)
            ? t
            : throw new FormatException($"input {inputIndex} of {node.Describe()} is not a constant initializer");
}
