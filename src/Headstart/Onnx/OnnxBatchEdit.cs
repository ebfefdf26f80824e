using Google.Protobuf;

namespace Headstart.Onnx;

/// <summary>
/// Makes the batch dimension of an ONNX model's graph input and output symbolic, so that one session runs any batch
/// size (CNTK exports batch 1). Only the small messages are parsed (the graph's inputs, outputs and the names of its
/// initializers); every other field, the weights above all, is copied byte for byte. That is
/// an order of magnitude faster than parsing the whole ModelProto and serializing it again (bench/README.md), and
/// makes no managed copy of the weights. Graph value_info is dropped: it may pin batch 1 on intermediate tensors too.
/// </summary>
internal static class OnnxBatchEdit
{
    // ONNX field numbers: ModelProto.graph; GraphProto.initializer / input / output / value_info; TensorProto.name.
    private const int ModelGraph = 7, GraphInitializer = 5, GraphInput = 11, GraphOutput = 12, GraphValueInfo = 13, TensorName = 8;

    /// <summary>The edited model, and its image input and feature output (before the edit, for their shapes).</summary>
    public sealed record Result(byte[] Model, ValueInfoProto Input, ValueInfoProto Output);

    /// <summary>Edits <paramref name="model"/> (an encoded ModelProto) whose graph has exactly one input that is not an
    /// initializer and one output, or an output named <paramref name="featureOutput"/> (every output's batch dimension
    /// becomes symbolic; the result names that one); throws a <see cref="HeadstartException"/> naming
    /// <paramref name="source"/> otherwise.</summary>
    public static Result MakeBatchSymbolic(ReadOnlySpan<byte> model, string source, string dimParam = "N", string? featureOutput = null)
    {
        try
        {
            return Edit(model, source, dimParam, featureOutput);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or FormatException or OverflowException)
        {
            throw new HeadstartException($"'{source}' is not a valid ONNX model ({e.Message}).", e);
        }
    }

    private static Result Edit(ReadOnlySpan<byte> model, string source, string dimParam, string? featureOutput)
    {
        Range? graphRange = null;
        foreach (var f in Fields(model))
        {
            if (f.Number != ModelGraph || f.WireType != WireFormat.WireType.LengthDelimited) continue;
            // Protobuf would merge two graph fields into one; editing only one of them would leave the other's inputs.
            if (graphRange is not null) throw new HeadstartException($"'{source}' has two graph fields; it is not a valid ONNX model.");
            graphRange = f.Payload;
        }
        if (graphRange is not { } gr) throw new HeadstartException($"'{source}' is not an ONNX model: it has no graph.");
        var graph = model[gr];

        var initializers = new HashSet<string>(StringComparer.Ordinal);
        var inputs = new List<(ValueInfoProto Value, Range Field)>();
        var outputs = new List<(ValueInfoProto Value, Range Field)>();
        foreach (var f in Fields(graph))
        {
            if (f.WireType != WireFormat.WireType.LengthDelimited) continue;
            if (f.Number == GraphInitializer) initializers.Add(NameOf(graph[f.Payload]));
            else if (f.Number == GraphInput) inputs.Add((ValueInfoProto.Parser.ParseFrom(graph[f.Payload]), f.Whole));
            else if (f.Number == GraphOutput) outputs.Add((ValueInfoProto.Parser.ParseFrom(graph[f.Payload]), f.Whole));
        }
        var images = inputs.Where(i => !initializers.Contains(i.Value.Name)).ToList();
        if (images.Count != 1 || (featureOutput is null && outputs.Count != 1))
            throw new HeadstartException($"'{source}' must have one image input and one feature output to serve as a backbone " +
                                         $"(it has {images.Count} input(s) besides its weights and {outputs.Count} output(s): " +
                                         $"{string.Join(", ", outputs.Select(o => o.Value.Name))}); name the feature output when there are several.");
        var chosen = featureOutput is null ? outputs[0] : outputs.FirstOrDefault(o => o.Value.Name == featureOutput);
        if (chosen.Value is null)
            throw new HeadstartException($"'{source}' has no output named '{featureOutput}'; its outputs: {string.Join(", ", outputs.Select(o => o.Value.Name))}.");
        var (input, output) = (images[0].Value, chosen.Value);

        // The new graph: every field as it was, in order, except the two edited messages and value_info. Pieces are
        // byte arrays (edited) or ranges of the graph (copied), so the result is written in one allocation.
        var pieces = new List<(byte[]? Bytes, Range Range)>();
        foreach (var f in Fields(graph))
        {
            if (f.Number == GraphValueInfo && f.WireType == WireFormat.WireType.LengthDelimited) continue;
            if (f.Whole.Equals(images[0].Field)) pieces.Add((FieldBytes(GraphInput, Symbolic(input, dimParam)), default));
            else if (outputs.FirstOrDefault(o => o.Field.Equals(f.Whole)) is { Value: not null } o) pieces.Add((FieldBytes(GraphOutput, Symbolic(o.Value, dimParam)), default));
            else pieces.Add((null, f.Whole));
        }
        int graphSize = graph.Length, modelSize = model.Length;
        long graphLength = pieces.Sum(p => (long)(p.Bytes?.Length ?? p.Range.GetOffsetAndLength(graphSize).Length));
        var graphHeader = new List<byte>();
        AddVarint(graphHeader, WireFormat.MakeTag(ModelGraph, WireFormat.WireType.LengthDelimited));
        AddVarint(graphHeader, (ulong)graphLength);

        var fields = Fields(model);
        long total = fields.Sum(f => f.Payload.Equals(gr) ? graphHeader.Count + graphLength : f.Whole.GetOffsetAndLength(modelSize).Length);
        var result = new byte[checked((int)total)];
        int at = 0;
        foreach (var f in fields)
        {
            if (!f.Payload.Equals(gr)) { at += Copy(model[f.Whole], result, at); continue; }
            at += Copy(graphHeader.ToArray(), result, at);
            foreach (var (bytes, range) in pieces) at += Copy(bytes is null ? graph[range] : bytes, result, at);
        }
        return new Result(result, input, output);
    }

    private static int Copy(ReadOnlySpan<byte> from, byte[] to, int at)
    {
        from.CopyTo(to.AsSpan(at));
        return from.Length;
    }

    /// <summary>A copy of <paramref name="value"/> whose first dimension is the symbol <paramref name="dimParam"/>.</summary>
    private static ValueInfoProto Symbolic(ValueInfoProto value, string dimParam)
    {
        var copy = value.Clone();
        if (copy.Type?.TensorType?.Shape is { Dim.Count: > 0 } shape)
            shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimParam = dimParam };
        return copy;
    }

    /// <summary>A TensorProto's name, reading no other field.</summary>
    private static string NameOf(ReadOnlySpan<byte> tensor)
    {
        string name = "";
        foreach (var f in Fields(tensor))
            if (f.Number == TensorName && f.WireType == WireFormat.WireType.LengthDelimited)
                name = System.Text.Encoding.UTF8.GetString(tensor[f.Payload]);
        return name;
    }

    /// <summary>A length-delimited field holding <paramref name="message"/>, tag and length included.</summary>
    private static byte[] FieldBytes(int number, IMessage message)
    {
        var bytes = new List<byte>();
        AddVarint(bytes, WireFormat.MakeTag(number, WireFormat.WireType.LengthDelimited));
        byte[] payload = message.ToByteArray();
        AddVarint(bytes, (ulong)payload.Length);
        bytes.AddRange(payload);
        return [.. bytes];
    }

    private static void AddVarint(List<byte> to, ulong value)
    {
        for (; value >= 0x80; value >>= 7) to.Add((byte)(value | 0x80));
        to.Add((byte)value);
    }

    /// <summary>One field of an encoded message: its number, wire type, all its bytes (tag included), and the bytes of
    /// its value (for length-delimited fields, without the length prefix).</summary>
    private readonly record struct Field(int Number, WireFormat.WireType WireType, Range Whole, Range Payload);

    /// <summary>The top-level fields of an encoded message, in order, without decoding their values.</summary>
    private static List<Field> Fields(ReadOnlySpan<byte> message)
    {
        var fields = new List<Field>();
        int pos = 0;
        while (pos < message.Length)
        {
            int start = pos;
            uint tag = checked((uint)ReadVarint(message, ref pos));
            var wire = WireFormat.GetTagWireType(tag);
            int number = WireFormat.GetTagFieldNumber(tag);
            if (number == 0) throw new FormatException("field number 0");
            int valueStart = pos;
            switch (wire)
            {
                case WireFormat.WireType.Varint: ReadVarint(message, ref pos); break;
                case WireFormat.WireType.Fixed64: pos += 8; break;
                case WireFormat.WireType.Fixed32: pos += 4; break;
                case WireFormat.WireType.LengthDelimited:
                    // Unsigned: a corrupt length of 2^63 or more must not turn negative and move pos backwards.
                    ulong length = ReadVarint(message, ref pos);
                    valueStart = pos;
                    if (length > (ulong)(message.Length - pos)) throw new FormatException("a field runs past the end of its message");
                    pos += (int)length;
                    break;
                default: throw new FormatException($"unsupported wire type {wire}");
            }
            if (pos > message.Length) throw new FormatException("a field runs past the end of its message");
            fields.Add(new Field(number, wire, start..pos, valueStart..pos));
        }
        return fields;
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> data, ref int pos)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= data.Length) throw new FormatException("truncated varint");
            byte b = data[pos++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
        throw new FormatException("malformed varint");
    }
}
