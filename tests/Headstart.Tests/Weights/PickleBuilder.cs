using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Headstart.Tests.Weights;

/// <summary>Writes pickles opcode by opcode, so tests can build exactly the (hostile) bytes they need.</summary>
internal sealed class PickleBuilder
{
    private readonly MemoryStream bytes = new();

    public PickleBuilder Op(byte op) { bytes.WriteByte(op); return this; }
    public PickleBuilder Raw(params byte[] raw) { bytes.Write(raw); return this; }
    public PickleBuilder Proto(byte version = 2) => Op(0x80).Raw(version);
    public PickleBuilder Mark() => Op((byte)'(');
    public PickleBuilder Tuple() => Op((byte)'t');
    public PickleBuilder EmptyTuple() => Op((byte)')');
    public PickleBuilder Reduce() => Op((byte)'R');
    public PickleBuilder Stop() => Op((byte)'.');
    public PickleBuilder None() => Op((byte)'N');
    public PickleBuilder False() => Op(0x89);
    public PickleBuilder SetItems() => Op((byte)'u');
    public PickleBuilder BinPersId() => Op((byte)'Q');

    /// <summary>GLOBAL 'module name' (protocol 0-3 form).</summary>
    public PickleBuilder Global(string module, string name) =>
        Op((byte)'c').Raw(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));

    public PickleBuilder Unicode(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        Op((byte)'X');
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)b.Length);
        return Raw(len.ToArray()).Raw(b);
    }

    /// <summary>An int: BININT for 32-bit values, else LONG1.</summary>
    public PickleBuilder Int(long v)
    {
        if (v is >= int.MinValue and <= int.MaxValue)
        {
            Op((byte)'J');
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, (int)v);
            return Raw(b.ToArray());
        }
        var l = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(l, v);
        return Op(0x8a).Raw(8).Raw(l);
    }

    public PickleBuilder IntTuple(params long[] values)
    {
        Mark();
        foreach (var v in values) Int(v);
        return Tuple();
    }

    /// <summary>OrderedDict() on the stack.</summary>
    public PickleBuilder OrderedDict() => Global("collections", "OrderedDict").EmptyTuple().Reduce();

    /// <summary>A zip-format tensor: _rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict()).</summary>
    public PickleBuilder ZipTensor(string storageType, string key, long numel, long offset, long[] size, long[] stride)
    {
        Global("torch._utils", "_rebuild_tensor_v2").Mark();
        Mark().Unicode("storage").Global("torch", storageType).Unicode(key).Unicode("cpu").Int(numel).Tuple().BinPersId();
        Int(offset).IntTuple(size).IntTuple(stride).False().OrderedDict();
        return Tuple().Reduce();
    }

    public byte[] ToArray() => bytes.ToArray();

    /// <summary>A zip .pth holding one float tensor 'w' whose storage '0' has <paramref name="numel"/> elements.</summary>
    public static byte[] ZipPth(long numel, long[] size, Action<ZipArchive> addData, string prefix = "archive")
    {
        var pickle = new PickleBuilder().Proto().OrderedDict().Mark().Unicode("w")
            .ZipTensor("FloatStorage", "0", numel, 0, size, size.Length == 0 ? [] : [1]).SetItems().Stop().ToArray();
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            using (var s = zip.CreateEntry($"{prefix}/data.pkl", CompressionLevel.NoCompression).Open()) s.Write(pickle);
            addData(zip);
        }
        return ms.ToArray();
    }
}
