using System.Buffers.Binary;
using System.Text;
using CsCheck;
using Headstart.Tests.TestSupport;
using Headstart.Weights;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Weights;

public class SafetensorsTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Weights", "Fixtures", name);

    /// <summary>Raw bytes of a tensor in row-major order (what "bit-identical" compares).</summary>
    internal static byte[] Bytes(Tensor t)
    {
        using var c = t.contiguous();
        return c.bytes.ToArray();
    }

    internal static void AssertBitIdentical(StateDict expected, StateDict actual)
    {
        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var (k, v) in expected)
        {
            Assert.Equal(v.dtype, actual[k].dtype);
            Assert.Equal(v.shape, actual[k].shape);
            Assert.True(Bytes(v).AsSpan().SequenceEqual(Bytes(actual[k])), $"tensor '{k}' differs");
        }
    }

    [Fact]
    public void RoundTripOfViewsAndDtypesIsBitIdentical()
    {
        using var dir = new TempDir();
        using var sd = PthReader.Read(Fixture("shared_views.legacy.pth"));
        var path = dir.Combine("views.safetensors");
        Safetensors.Write(path, sd, new Dictionary<string, string> { ["format"] = "pt" });
        using var back = Safetensors.Read(path);
        AssertBitIdentical(sd, back);
        Assert.Equal("pt", back.Metadata["format"]);
        Assert.False(File.Exists(path + ".tmp"));
    }

    [SharedFact("fixtures/torchvision/resnet18.zip.pth")]
    public void PthToSafetensorsRoundTripIsBitIdentical()
    {
        using var dir = new TempDir();
        using var sd = PthReader.Read(SharedData.PathTo("fixtures/torchvision/resnet18.zip.pth"));
        var path = dir.Combine("resnet18.safetensors");
        Safetensors.Write(path, sd);
        using var back = WeightFile.Read(path);
        Assert.Equal("safetensors", back.Metadata["container"]);
        AssertBitIdentical(sd, back);
    }

    private static string WriteRaw(TempDir dir, string header, int dataBytes, ulong? lengthOverride = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, lengthOverride ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        var path = dir.Combine($"{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12, "overlap")]
    [InlineData("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8, "run past")]
    [InlineData("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, "needs 12 bytes")]
    [InlineData("""{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}""", 8, "unsupported dtype")]
    [InlineData("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}""", 8, "non-negative")]
    [InlineData("""{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}""", 8, "absurd shape")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", 8, "invalid data_offsets")]
    [InlineData("""[1,2,3]""", 0, "not a JSON object")]
    [InlineData("""{"a":""", 0, "not valid JSON")]
    public void HostileHeadersAreRefused(string header, int dataBytes, string expected)
    {
        using var dir = new TempDir();
        var ex = Assert.Throws<WeightFileException>(() => Safetensors.Read(WriteRaw(dir, header, dataBytes)));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void HeaderLengthBeyondTheFileIsRefusedWithoutAllocating()
    {
        using var dir = new TempDir();
        var path = WriteRaw(dir, "{}", 0, lengthOverride: ulong.MaxValue / 2);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Contains("runs past the end", Assert.Throws<WeightFileException>(() => Safetensors.Read(path)).Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
    }

    private static readonly string[] DTypeNames = ["F32", "F16", "BF16", "I64", "U8", "BOOL", "F64", "X9", ""];

    /// <summary>Structured random headers and random bytes: the parser either accepts or throws WeightFileException.</summary>
    [Fact]
    public void FuzzedHeadersOnlyFailWithTheDocumentedException()
    {
        var entry = Gen.Select(Gen.String[Gen.Char.AlphaNumeric, 0, 4], Gen.Int[0, DTypeNames.Length - 1],
            Gen.Long[-2, 1L << 62].Array[0, 3], Gen.Long[-2, 64].Array[2],
            (name, dt, shape, off) => $"\"{name}\":{{\"dtype\":\"{DTypeNames[dt]}\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{string.Join(",", off)}]}}");
        var structured = entry.Array[0, 4].Select(e => Encoding.UTF8.GetBytes("{" + string.Join(",", e) + "}"));
        var random = Gen.Byte.Array[0, 128];
        Gen.Select(Gen.OneOf(structured, random), Gen.Long[0, 128]).Sample((header, dataLength) =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                Safetensors.ParseHeader(header, dataLength, "fuzz");
            }
            catch (WeightFileException) { }
            Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4 << 20);
        }, iter: 3000, threads: 1);
    }
}
