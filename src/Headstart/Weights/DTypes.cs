using static TorchSharp.torch;

namespace Headstart.Weights;

/// <summary>Maps the dtype names of PyTorch storages and safetensors to TorchSharp scalar types.</summary>
public static class DTypes
{
    private static readonly Dictionary<string, ScalarType> storageTypes = new(StringComparer.Ordinal)
    {
        ["ByteStorage"] = ScalarType.Byte, ["CharStorage"] = ScalarType.Int8, ["ShortStorage"] = ScalarType.Int16,
        ["IntStorage"] = ScalarType.Int32, ["LongStorage"] = ScalarType.Int64, ["HalfStorage"] = ScalarType.Float16,
        ["FloatStorage"] = ScalarType.Float32, ["DoubleStorage"] = ScalarType.Float64, ["BoolStorage"] = ScalarType.Bool,
        ["BFloat16Storage"] = ScalarType.BFloat16, ["ComplexFloatStorage"] = ScalarType.ComplexFloat32,
        ["ComplexDoubleStorage"] = ScalarType.ComplexFloat64,
        // torch >= 2.0 pickles untyped storages as bytes.
        ["UntypedStorage"] = ScalarType.Byte,
    };

    private static readonly Dictionary<string, ScalarType> safetensorsTypes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = ScalarType.Bool, ["U8"] = ScalarType.Byte, ["I8"] = ScalarType.Int8, ["I16"] = ScalarType.Int16,
        ["I32"] = ScalarType.Int32, ["I64"] = ScalarType.Int64, ["F16"] = ScalarType.Float16,
        ["BF16"] = ScalarType.BFloat16, ["F32"] = ScalarType.Float32, ["F64"] = ScalarType.Float64,
        ["C64"] = ScalarType.ComplexFloat32,
    };

    /// <summary>Storage class names (<c>torch.FloatStorage</c> without the module) and their dtypes.</summary>
    public static IReadOnlyDictionary<string, ScalarType> StorageTypes => storageTypes;

    public static bool TryFromSafetensors(string name, out ScalarType type) => safetensorsTypes.TryGetValue(name, out type);

    public static string ToSafetensors(ScalarType type) =>
        safetensorsTypes.FirstOrDefault(kv => kv.Value == type).Key
        ?? throw new WeightFileException($"dtype {type} has no safetensors equivalent");

    /// <summary>Bytes per element.</summary>
    public static int ElementSize(ScalarType type) => type switch
    {
        ScalarType.Bool or ScalarType.Byte or ScalarType.Int8 => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 or ScalarType.ComplexFloat32 => 8,
        ScalarType.ComplexFloat64 => 16,
        _ => throw new WeightFileException($"unsupported dtype {type}"),
    };

    /// <summary>PyTorch's name for a dtype ("float32", "float16", ...), as printed by <c>weights inspect</c>.</summary>
    public static string Name(ScalarType type) => type switch
    {
        ScalarType.Bool => "bool", ScalarType.Byte => "uint8", ScalarType.Int8 => "int8", ScalarType.Int16 => "int16",
        ScalarType.Int32 => "int32", ScalarType.Int64 => "int64", ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16", ScalarType.Float32 => "float32", ScalarType.Float64 => "float64",
        ScalarType.ComplexFloat32 => "complex64", ScalarType.ComplexFloat64 => "complex128",
        _ => type.ToString().ToLowerInvariant(),
    };
}
