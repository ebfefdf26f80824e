using CsCheck;
using Headstart.Weights;
using Headstart.Weights.Pickle;
using Xunit;

namespace Headstart.Tests.Weights;

public class PickleReaderTests
{
    private static object? Load(byte[] pickle, WeightReadLimits? limits = null)
    {
        using var ms = new MemoryStream(pickle);
        return PickleReader.Load(ms, "test.pkl", limits ?? WeightReadLimits.Default, _ => null);
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("posix", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("builtins", "exec")]
    [InlineData("subprocess", "Popen")]
    [InlineData("torch.nn.modules.linear", "Linear")]
    [InlineData("mypackage.models", "EvilClass")]
    public void RefusesGlobalsOffTheAllowlistNamingThem(string module, string name)
    {
        // The classic payload: GLOBAL 'os system', ('echo pwned',), REDUCE.
        var pickle = new PickleBuilder().Proto().Global(module, name).Mark().Unicode("echo pwned").Tuple().Reduce().Stop().ToArray();
        var ex = Assert.Throws<UnsafePickleException>(() => Load(pickle));
        Assert.Equal($"{module}.{name}", ex.GlobalName);
        Assert.Contains($"'{module}.{name}'", ex.Message);
    }

    [Fact]
    public void RefusesStackGlobalToo()
    {
        var pickle = new PickleBuilder().Proto(4).Unicode("builtins").Unicode("eval").Op(0x93)
            .Mark().Unicode("1+1").Tuple().Reduce().Stop().ToArray();
        Assert.Equal("builtins.eval", Assert.Throws<UnsafePickleException>(() => Load(pickle)).GlobalName);
    }

    [Fact]
    public void ReadsAnOrderedDictOfValues()
    {
        var pickle = new PickleBuilder().Proto().OrderedDict().Mark().Unicode("a").Int(1).Unicode("b").Int(1L << 40)
            .SetItems().Stop().ToArray();
        var dict = Assert.IsType<PickleDict>(Load(pickle));
        Assert.Equal(1L, dict.Get("a"));
        Assert.Equal(1L << 40, dict.Get("b"));
    }

    [Fact]
    public void AbsurdLengthIsRefusedBeforeAllocating()
    {
        // BINBYTES8 declaring 2^62 bytes in a 20-byte pickle.
        var pickle = new PickleBuilder().Proto(4).Op(0x8e).Raw(0, 0, 0, 0, 0, 0, 0, 0x40).Stop().ToArray();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<WeightFileException>(() => Load(pickle));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        Assert.Contains("limit", ex.Message);
    }

    [Fact]
    public void LengthPastTheEndOfTheFileIsRefused()
    {
        var pickle = new PickleBuilder().Proto().Op((byte)'X').Raw(0xff, 0xff, 0x0f, 0).Stop().ToArray(); // ~1 MB string
        Assert.Contains("past the end", Assert.Throws<WeightFileException>(() => Load(pickle)).Message);
    }

    [Fact]
    public void DeepNestingIsBounded()
    {
        var b = new PickleBuilder().Proto();
        for (int i = 0; i < 100_000; i++) b.Mark();
        Assert.Contains("nesting", Assert.Throws<WeightFileException>(() => Load(b.ToArray())).Message);
    }

    [Fact]
    public void StackAndMemoAreBounded()
    {
        var limits = new WeightReadLimits { MaxPickleItems = 1000 };
        var stack = new PickleBuilder().Proto();
        for (int i = 0; i < 2000; i++) stack.None();
        Assert.Contains("stack", Assert.Throws<WeightFileException>(() => Load(stack.ToArray(), limits)).Message);

        var memo = new PickleBuilder().Proto().None();
        for (int i = 0; i < 2000; i++) memo.Op((byte)'r').Raw(BitConverter.GetBytes(i));
        Assert.Contains("memo", Assert.Throws<WeightFileException>(() => Load(memo.ToArray(), limits)).Message);

        var missing = new PickleBuilder().Proto().Op((byte)'h').Raw(7).Stop().ToArray();
        Assert.Contains("memo index 7", Assert.Throws<WeightFileException>(() => Load(missing)).Message);
    }

    [Fact]
    public void TruncatedAndEmptyPicklesFailCleanly()
    {
        Assert.Throws<WeightFileException>(() => Load([]));
        Assert.Throws<WeightFileException>(() => Load(new PickleBuilder().Proto().OrderedDict().ToArray()));
        Assert.Throws<WeightFileException>(() => Load(new PickleBuilder().Proto().Stop().ToArray())); // empty stack
    }

    private static readonly byte[] Valid = new PickleBuilder().Proto().OrderedDict().Mark()
        .Unicode("layer.weight").ZipTensor("FloatStorage", "0", 6, 0, [2, 3], [3, 1])
        .Unicode("layer.bias").ZipTensor("HalfStorage", "1", 2, 0, [2], [1])
        .SetItems().Stop().ToArray();

    /// <summary>Random and mutated pickles: only WeightFileException, and allocation stays near the input size.</summary>
    [Fact]
    public void FuzzedPicklesOnlyFailWithTheDocumentedException()
    {
        var random = Gen.Byte.Array[0, 256];
        var mutated = Gen.Select(Gen.Int[0, Valid.Length - 1].Array[1, 8], Gen.Byte.Array[8], (positions, values) =>
        {
            var copy = (byte[])Valid.Clone();
            for (int i = 0; i < positions.Length; i++) copy[positions[i]] = values[i];
            return copy;
        });
        var truncated = Gen.Int[0, Valid.Length].Select(n => Valid[..n]);
        Gen.OneOf(random, mutated, truncated).Sample(bytes =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                using var ms = new MemoryStream(bytes);
                PickleReader.Load(ms, "fuzz.pkl", WeightReadLimits.Default,
                    pid => pid is object?[] { Length: 5 } ? new StorageRef("0", TorchSharp.torch.ScalarType.Float32, 6) : null);
            }
            catch (WeightFileException) { }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 8 << 20, $"allocated {allocated} bytes for a {bytes.Length}-byte pickle");
        }, iter: 3000, threads: 1);
    }
}
