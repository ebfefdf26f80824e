using TorchSharp;
using static TorchSharp.torch;

namespace Headstart.Weights;

/// <summary>
/// Bulk transfer between streams and tensor memory: bytes go straight from the file into the tensor's own buffer
/// (and back), in chunks, so a 400 MB storage costs 400 MB once, never a managed copy on top.
/// </summary>
internal static class TensorIO
{
    // Chunks keep each Span under int.MaxValue bytes (TorchSharp exposes tensor memory as Span<byte>).
    private const long ChunkBytes = 1L << 26;

    /// <summary>Allocates a 1-D tensor of <paramref name="numel"/> elements and fills it from the stream.</summary>
    public static Tensor ReadNew(Stream stream, ScalarType dtype, long numel, string source)
    {
        var tensor = empty(numel, dtype);
        try
        {
            Fill(stream, tensor, source);
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>Fills a contiguous tensor with its raw little-endian bytes read from the stream.</summary>
    public static void Fill(Stream stream, Tensor tensor, string source)
    {
        EnsureLittleEndian();
        using var flat = tensor.reshape(-1);
        long numel = flat.numel(), chunk = Math.Max(1, ChunkBytes / flat.ElementSize);
        try
        {
            for (long start = 0; start < numel; start += chunk)
            {
                using var part = flat.narrow(0, start, Math.Min(chunk, numel - start));
                stream.ReadExactly(part.bytes);
            }
        }
        catch (EndOfStreamException ex)
        {
            throw new WeightFileException($"{source}: tensor data ends early (the file is truncated)", ex);
        }
    }

    /// <summary>Writes a tensor's elements in row-major order as raw little-endian bytes.</summary>
    public static void Write(Stream stream, Tensor tensor)
    {
        EnsureLittleEndian();
        using var contiguous = tensor.contiguous();
        using var flat = contiguous.reshape(-1);
        long numel = flat.numel(), chunk = Math.Max(1, ChunkBytes / flat.ElementSize);
        for (long start = 0; start < numel; start += chunk)
        {
            using var part = flat.narrow(0, start, Math.Min(chunk, numel - start));
            stream.Write(part.bytes);
        }
    }

    /// <summary>Size in bytes of a tensor's elements (not of its storage).</summary>
    public static long ByteCount(Tensor tensor) => tensor.numel() * tensor.ElementSize;

    private static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("weight files are little-endian; big-endian hosts are not supported");
    }
}
