using Headstart.Models;

namespace Headstart.Weights;

/// <summary>Reads any supported weight file, recognising its container from its first bytes (not its name).</summary>
public static class WeightFile
{
    /// <summary>The container format of a file: zip .pth, legacy .pth, safetensors or ONNX.</summary>
    /// <exception cref="WeightFileException">The file is none of them.</exception>
    public static WeightFormat Detect(string path)
    {
        using var stream = PthReader.OpenRead(path);
        Span<byte> head = stackalloc byte[16];
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..n];
        if (PthReader.IsZip(head)) return WeightFormat.PthZip;
        if (PthReader.IsPickle(head)) return WeightFormat.PthLegacy;
        if (Safetensors.Looks(head) || path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            return WeightFormat.Safetensors;
        // ONNX is a protobuf ModelProto whose first field is ir_version (field 1, varint: tag byte 0x08).
        if (path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) || head is [0x08, ..])
            return WeightFormat.Onnx;
        throw new WeightFileException(
            $"{path}: unrecognised weight file (expected a PyTorch .pth/.pt, a .safetensors or an .onnx file)");
    }

    /// <summary>Reads a weight file of any supported format into a state_dict with torchvision key names.</summary>
    public static StateDict Read(string path, WeightReadLimits? limits = null) => Detect(path) switch
    {
        WeightFormat.PthZip or WeightFormat.PthLegacy => PthReader.Read(path, limits),
        WeightFormat.Safetensors => Safetensors.Read(path, limits),
        WeightFormat.Onnx => OnnxWeights.Read(path),
        var f => throw new WeightFileException($"{path}: unsupported weight format {f}"),
    };
}
