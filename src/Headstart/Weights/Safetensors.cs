using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Headstart.Weights;

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header
/// (<c>{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}</c>), then the tensor bytes.
/// Every header is validated before a byte of tensor data is allocated: header within the file, known dtypes,
/// shapes consistent with byte lengths, offsets in bounds and not overlapping.
/// </summary>
public static class Safetensors
{
    private const string MetadataKey = "__metadata__";

    /// <summary>One validated header entry.</summary>
    internal sealed record Entry(string Name, ScalarType DType, long[] Shape, long Begin, long End);

    public static StateDict Read(string path, WeightReadLimits? limits = null)
    {
        limits ??= WeightReadLimits.Default;
        using var stream = PthReader.OpenRead(path);
        var (entries, metadata, dataStart) = ReadHeader(stream, path, limits);
        var dict = new StateDict();
        try
        {
            foreach (var e in entries) // header order is the state_dict order
            {
                stream.Position = dataStart + e.Begin;
                var tensor = empty(e.Shape, e.DType);
                dict.Add(e.Name, tensor);
                TensorIO.Fill(stream, tensor, $"{path}: tensor '{e.Name}'");
            }
        }
        catch
        {
            dict.Dispose();
            throw;
        }
        // The file's own __metadata__ (e.g. {"format": "pt"}), then what Headstart knows about the file.
        foreach (var (k, v) in metadata) dict.Metadata[k] = v;
        dict.Metadata["container"] = "safetensors";
        dict.Metadata["source"] = path;
        return dict;
    }

    /// <summary>Writes a state_dict, in its order, with optional string metadata.</summary>
    public static void Write(string path, StateDict stateDict, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, tensor) in stateDict)
            {
                if (name == MetadataKey) throw new WeightFileException($"a tensor may not be named '{MetadataKey}' in a safetensors file");
                long bytes = TensorIO.ByteCount(tensor);
                json.WriteStartObject(name);
                json.WriteString("dtype", DTypes.ToSafetensors(tensor.dtype));
                json.WriteStartArray("shape");
                foreach (var d in tensor.shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        // Pad the header with spaces to a multiple of 8 so the data is aligned, as the reference writer does.
        while (buffer.Length % 8 != 0) buffer.WriteByte((byte)' ');

        var temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)buffer.Length);
            file.Write(length);
            buffer.Position = 0;
            buffer.CopyTo(file);
            foreach (var (_, tensor) in stateDict) TensorIO.Write(file, tensor);
        }
        File.Move(temp, path, overwrite: true); // a crash never leaves a half-written file under the final name
    }

    /// <summary>Parses and validates the header; returns entries in header order, metadata and the data offset.</summary>
    internal static (List<Entry> Entries, Dictionary<string, string> Metadata, long DataStart) ReadHeader(
        Stream stream, string source, WeightReadLimits limits)
    {
        long fileLength = stream.Length;
        if (fileLength < 8) throw Bad(source, $"file is {fileLength} bytes, shorter than the 8-byte header length");
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.Position = 0;
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > (ulong)(fileLength - 8))
            throw Bad(source, $"header length {headerLength} runs past the end of the {fileLength}-byte file");
        if (headerLength > (ulong)limits.MaxHeaderBytes)
            throw Bad(source, $"header length {headerLength} exceeds the {limits.MaxHeaderBytes} byte limit");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        long dataStart = 8 + (long)headerLength, dataLength = fileLength - dataStart;
        var (entries, metadata) = ParseHeader(header, dataLength, source);
        return (entries, metadata, dataStart);
    }

    /// <summary>Validates a JSON header against the size of the data section that follows it.</summary>
    internal static (List<Entry> Entries, Dictionary<string, string> Metadata) ParseHeader(
        ReadOnlySpan<byte> header, long dataLength, string source)
    {
        JsonDocument doc;
        try
        {
            var reader = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = 8 });
            doc = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException ex)
        {
            throw Bad(source, $"header is not valid JSON ({ex.Message})", ex);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad(source, "header is not a JSON object");
            var entries = new List<Entry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!names.Add(prop.Name)) throw Bad(source, $"tensor '{prop.Name}' appears twice");
                if (prop.Name == MetadataKey)
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad(source, "__metadata__ is not an object");
                    foreach (var m in prop.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String
                            ? m.Value.GetString()!
                            : throw Bad(source, $"__metadata__ value '{m.Name}' is not a string");
                    continue;
                }
                entries.Add(ParseEntry(prop, dataLength, source));
            }
            // No two tensors may share bytes: sorted by start, each must begin at or after the previous end.
            Entry? previous = null;
            foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
            {
                if (previous is not null && e.Begin < previous.End && e.End > e.Begin)
                    throw Bad(source, $"tensors '{previous.Name}' [{previous.Begin}, {previous.End}) and '{e.Name}' " +
                                      $"[{e.Begin}, {e.End}) overlap");
                if (e.End > e.Begin) previous = e;
            }
            return (entries, metadata);
        }
    }

    private static Entry ParseEntry(JsonProperty prop, long dataLength, string source)
    {
        var name = prop.Name;
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object) throw Bad(source, $"tensor '{name}': entry is not an object");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw Bad(source, $"tensor '{name}': missing dtype");
        if (!DTypes.TryFromSafetensors(dt.GetString()!, out var dtype))
            throw Bad(source, $"tensor '{name}': unsupported dtype '{dt.GetString()}'");
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array || sh.GetArrayLength() > 64)
            throw Bad(source, $"tensor '{name}': missing or invalid shape");
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw Bad(source, $"tensor '{name}': data_offsets must be [begin, end]");
        var shape = sh.EnumerateArray().Select(d => d.TryGetInt64(out long x) && x >= 0
            ? x : throw Bad(source, $"tensor '{name}': shape entries must be non-negative integers")).ToArray();
        if (!off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw Bad(source, $"tensor '{name}': invalid data_offsets");
        if (end > dataLength)
            throw Bad(source, $"tensor '{name}': data_offsets [{begin}, {end}) run past the {dataLength}-byte data section");
        long expected;
        try
        {
            expected = shape.Aggregate((long)DTypes.ElementSize(dtype), (acc, d) => checked(acc * d));
        }
        catch (OverflowException)
        {
            throw Bad(source, $"tensor '{name}': absurd shape [{string.Join(", ", shape)}]");
        }
        if (expected != end - begin)
            throw Bad(source, $"tensor '{name}': shape [{string.Join(", ", shape)}] x {dt.GetString()} needs {expected} bytes " +
                              $"but data_offsets span {end - begin}");
        return new Entry(name, dtype, shape, begin, end);
    }

    private static WeightFileException Bad(string source, string what, Exception? inner = null) =>
        new($"{source}: invalid safetensors file: {what}", inner);

    /// <summary>True when the first bytes look like a safetensors header (length, then '{').</summary>
    /// <summary>An 8-byte length, then a JSON object. The length is not checked against the file here: a header that
    /// runs past the end is still a (broken) safetensors file, and <see cref="Read"/> says exactly what is wrong.</summary>
    internal static bool Looks(ReadOnlySpan<byte> head) =>
        head.Length >= 9 && head[8] == (byte)'{' && BinaryPrimitives.ReadUInt64LittleEndian(head) > 0;
}
