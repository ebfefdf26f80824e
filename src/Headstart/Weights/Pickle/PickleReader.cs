using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace Headstart.Weights.Pickle;

/// <summary>
/// A restricted unpickler for PyTorch state_dicts (pickle protocols 0-5). It builds plain values and records;
/// GLOBAL only resolves names on <see cref="TorchGlobals"/>' allowlist and nothing is ever executed. The stack, memo,
/// nesting and bytes read are bounded by <see cref="WeightReadLimits"/>; every malformed input ends in a
/// <see cref="WeightFileException"/>.
/// </summary>
internal sealed class PickleReader
{
    private readonly Stream stream;
    private readonly string source;
    private readonly WeightReadLimits limits;
    private readonly Func<object?, object?>? persistentLoad;
    private readonly List<object?> stack = [];
    private readonly Stack<int> marks = new();
    private readonly Dictionary<long, object?> memo = [];
    private readonly long start;
    private long consumed;

    private PickleReader(Stream stream, string source, WeightReadLimits limits, Func<object?, object?>? persistentLoad)
    {
        this.stream = stream;
        this.source = source;
        this.limits = limits;
        this.persistentLoad = persistentLoad;
        start = stream.CanSeek ? stream.Position : 0;
    }

    /// <summary>
    /// Reads one pickle from the stream's current position up to and including STOP, leaving the stream just after it
    /// (the legacy .pth format stores several pickles back to back, then raw storage bytes).
    /// </summary>
    /// <param name="persistentLoad">Resolves persistent ids (PyTorch's storage references); null refuses them.</param>
    public static object? Load(Stream stream, string source, WeightReadLimits limits,
        Func<object?, object?>? persistentLoad = null)
    {
        var reader = new PickleReader(stream, source, limits, persistentLoad);
        try
        {
            return reader.Run();
        }
        catch (Exception ex) when (ex is InvalidCastException or FormatException or OverflowException
                                       or EndOfStreamException or ArgumentException or DecoderFallbackException)
        {
            throw reader.Malformed(ex.Message, ex);
        }
    }

    private object? Run()
    {
        while (true)
        {
            byte op = ReadByte();
            switch (op)
            {
                case (byte)'(': // MARK
                    if (marks.Count >= limits.MaxPickleNesting)
                        throw Malformed($"nesting deeper than {limits.MaxPickleNesting} levels");
                    marks.Push(stack.Count);
                    break;
                case (byte)'.': // STOP
                    return Pop();
                case (byte)'0': // POP: the top item, or the mark when the current frame is empty (as CPython does)
                    if (stack.Count > FrameBase) stack.RemoveAt(stack.Count - 1);
                    else PopMark();
                    break;
                case (byte)'1': PopMark(); break; // POP_MARK
                case (byte)'2': Push(Peek()); break; // DUP
                case (byte)'F': Push(double.Parse(ReadLine(), NumberStyles.Float, CultureInfo.InvariantCulture)); break;
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8))); break; // BINFLOAT
                case (byte)'I': Push(ParseInt(ReadLine())); break;
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))); break; // BININT
                case (byte)'K': Push((long)ReadByte()); break; // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2))); break; // BININT2
                case (byte)'L': Push(ParseLong(ReadLine())); break; // LONG (text)
                case 0x8a: Push(DecodeLong(ReadBytes(ReadByte()))); break; // LONG1
                case 0x8b: Push(DecodeLong(ReadBytes(ReadLength(4, 1024)))); break; // LONG4
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break; // NEWTRUE
                case 0x89: Push(false); break; // NEWFALSE
                case (byte)'P': Push(PersistentLoad(ReadLine())); break; // PERSID
                case (byte)'Q': Push(PersistentLoad(Pop())); break; // BINPERSID
                case (byte)'R': // REDUCE
                {
                    var args = Pop();
                    var func = Pop();
                    Push(TorchGlobals.Call(func, args, this));
                    break;
                }
                case 0x81: // NEWOBJ: cls.__new__(cls, *args)
                {
                    var args = Pop();
                    var cls = Pop();
                    Push(TorchGlobals.New(cls, args, this));
                    break;
                }
                case 0x92: // NEWOBJ_EX
                {
                    Pop(); // kwargs
                    var args = Pop();
                    var cls = Pop();
                    Push(TorchGlobals.New(cls, args, this));
                    break;
                }
                case (byte)'b': // BUILD
                {
                    var state = Pop();
                    TorchGlobals.Build(Peek(), state, this);
                    break;
                }
                case (byte)'c': // GLOBAL
                {
                    string module = ReadLine(), name = ReadLine();
                    Push(TorchGlobals.Resolve(module, name, source));
                    break;
                }
                case 0x93: // STACK_GLOBAL
                {
                    var name = Pop() as string ?? throw Malformed("STACK_GLOBAL needs a str name");
                    var module = Pop() as string ?? throw Malformed("STACK_GLOBAL needs a str module");
                    Push(TorchGlobals.Resolve(module, name, source));
                    break;
                }
                case (byte)'i': // INST: GLOBAL + call with the marked items
                {
                    string module = ReadLine(), name = ReadLine();
                    var cls = TorchGlobals.Resolve(module, name, source);
                    Push(TorchGlobals.Call(cls, PopMark(), this));
                    break;
                }
                case (byte)'o': // OBJ
                {
                    var items = PopMark();
                    if (items.Length == 0) throw Malformed("OBJ without a class");
                    Push(TorchGlobals.Call(items[0], items[1..], this));
                    break;
                }
                case (byte)'S' or (byte)'V':
                    throw Malformed("protocol-0 STRING/UNICODE opcodes are not supported (PyTorch writes protocol 2+)");
                case (byte)'T': Push(Utf8(ReadBytes(ReadLength(4)))); break; // BINSTRING (Python 2 str)
                case (byte)'U': Push(Utf8(ReadBytes(ReadByte()))); break; // SHORT_BINSTRING
                case (byte)'X': Push(Utf8(ReadBytes(ReadLength(4)))); break; // BINUNICODE
                case 0x8c: Push(Utf8(ReadBytes(ReadByte()))); break; // SHORT_BINUNICODE
                case 0x8d: Push(Utf8(ReadBytes(ReadLength(8)))); break; // BINUNICODE8
                case (byte)'B': Push(ReadBytes(ReadLength(4))); break; // BINBYTES
                case (byte)'C': Push(ReadBytes(ReadByte())); break; // SHORT_BINBYTES
                case 0x8e or 0x96: Push(ReadBytes(ReadLength(8))); break; // BINBYTES8, BYTEARRAY8
                case (byte)'a': // APPEND
                {
                    var value = Pop();
                    AsList(Peek()).Add(value);
                    break;
                }
                case (byte)'e': // APPENDS
                {
                    var items = PopMark();
                    AsList(Peek()).AddRange(items);
                    break;
                }
                case (byte)']': Push(new List<object?>()); break; // EMPTY_LIST
                case (byte)'l': Push(new List<object?>(PopMark())); break; // LIST
                case 0x8f: Push(new List<object?>()); break; // EMPTY_SET (kept as a list: never interpreted)
                case 0x90: // ADDITEMS
                {
                    var items = PopMark();
                    AsList(Peek()).AddRange(items);
                    break;
                }
                case 0x91: Push(new List<object?>(PopMark())); break; // FROZENSET
                case (byte)')': Push(Array.Empty<object?>()); break; // EMPTY_TUPLE
                case (byte)'t': Push(PopMark()); break; // TUPLE
                case 0x85: Push(new[] { Pop() }); break; // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); Push(new[] { a, b }); break; } // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new[] { a, b, c }); break; } // TUPLE3
                case (byte)'}': Push(new PickleDict()); break; // EMPTY_DICT
                case (byte)'d': // DICT
                {
                    var dict = new PickleDict();
                    SetItems(dict, PopMark());
                    Push(dict);
                    break;
                }
                case (byte)'s': // SETITEM
                {
                    var value = Pop();
                    var key = Pop();
                    AsDict(Peek()).Set(key, value);
                    break;
                }
                case (byte)'u': // SETITEMS
                {
                    var items = PopMark();
                    SetItems(AsDict(Peek()), items);
                    break;
                }
                case (byte)'g': Push(MemoGet(ParseMemoIndex(ReadLine()))); break; // GET
                case (byte)'h': Push(MemoGet(ReadByte())); break; // BINGET
                case (byte)'j': Push(MemoGet(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))); break; // LONG_BINGET
                case (byte)'p': MemoPut(ParseMemoIndex(ReadLine())); break; // PUT
                case (byte)'q': MemoPut(ReadByte()); break; // BINPUT
                case (byte)'r': MemoPut(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))); break; // LONG_BINPUT
                case 0x94: MemoPut(memo.Count); break; // MEMOIZE
                case 0x95: ReadLength(8); break; // FRAME: a length hint only; the opcodes follow inline
                case 0x80: // PROTO
                {
                    byte protocol = ReadByte();
                    if (protocol > 5) throw Malformed($"pickle protocol {protocol} is newer than 5");
                    break;
                }
                case 0x82 or 0x83 or 0x84:
                    throw Malformed("copyreg extension codes (EXT1/2/4) are not allowed in a state_dict");
                case 0x97 or 0x98:
                    throw Malformed("out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER) are not allowed in a state_dict");
                default:
                    throw Malformed($"unknown pickle opcode 0x{op:x2}");
            }
        }
    }

    // ---- errors ----------------------------------------------------------------------------------------------------

    private long Position => start + consumed;

    internal WeightFileException Malformed(string what, Exception? inner = null) =>
        new($"{source}: malformed pickle at byte {Position}: {what}. The file is corrupt or not a PyTorch state_dict.", inner);

    // ---- stack -----------------------------------------------------------------------------------------------------

    private int FrameBase => marks.Count > 0 ? marks.Peek() : 0;

    private void Push(object? value)
    {
        if (stack.Count >= limits.MaxPickleItems) throw Malformed($"more than {limits.MaxPickleItems} values on the stack");
        stack.Add(value);
    }

    private object? Pop()
    {
        if (stack.Count <= FrameBase) throw Malformed("stack underflow");
        var value = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return value;
    }

    private object? Peek() => stack.Count > FrameBase ? stack[^1] : throw Malformed("stack underflow");

    private object?[] PopMark()
    {
        if (marks.Count == 0) throw Malformed("no MARK to pop to");
        int mark = marks.Pop();
        var items = stack.GetRange(mark, stack.Count - mark).ToArray();
        stack.RemoveRange(mark, stack.Count - mark);
        return items;
    }

    private List<object?> AsList(object? value) => value as List<object?> ?? throw Malformed($"APPEND to a {Describe(value)}, not a list");

    private PickleDict AsDict(object? value) => value as PickleDict ?? throw Malformed($"SETITEM on a {Describe(value)}, not a dict");

    private void SetItems(PickleDict dict, object?[] items)
    {
        if (items.Length % 2 != 0) throw Malformed("odd number of items for a dict");
        for (int i = 0; i < items.Length; i += 2) dict.Set(items[i], items[i + 1]);
    }

    internal static string Describe(object? value) => value switch
    {
        null => "None",
        PickleGlobal g => g.FullName,
        object?[] => "tuple",
        List<object?> => "list",
        PickleDict => "dict",
        string => "str",
        byte[] => "bytes",
        _ => value.GetType().Name,
    };

    // ---- memo ------------------------------------------------------------------------------------------------------

    private object? MemoGet(long index) =>
        memo.TryGetValue(index, out var value) ? value : throw Malformed($"memo index {index} was never stored");

    private void MemoPut(long index)
    {
        if (index < 0) throw Malformed($"negative memo index {index}");
        if (!memo.ContainsKey(index) && memo.Count >= limits.MaxPickleItems)
            throw Malformed($"more than {limits.MaxPickleItems} memo entries");
        memo[index] = Peek();
    }

    private long ParseMemoIndex(string line) =>
        long.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out long i) ? i : throw Malformed($"bad memo index '{Clip(line)}'");

    // ---- persistent ids --------------------------------------------------------------------------------------------

    private object? PersistentLoad(object? pid) =>
        persistentLoad is null
            ? throw Malformed("persistent id in a pickle that must not have any")
            : persistentLoad(pid);

    // ---- input -----------------------------------------------------------------------------------------------------

    private void Consume(long n)
    {
        if (n < 0 || consumed + n > limits.MaxPickleBytes)
            throw Malformed($"pickle larger than the {limits.MaxPickleBytes} byte limit");
        consumed += n;
    }

    private byte ReadByte()
    {
        Consume(1);
        int b = stream.ReadByte();
        return b < 0 ? throw Malformed("unexpected end of file (truncated?)") : (byte)b;
    }

    /// <summary>Reads a length field of 1..8 bytes; the caller's read then checks it against the bounds.</summary>
    private long ReadLength(int width, long max = long.MaxValue)
    {
        var bytes = ReadBytes(width);
        ulong length = width switch
        {
            4 => BinaryPrimitives.ReadUInt32LittleEndian(bytes),
            8 => BinaryPrimitives.ReadUInt64LittleEndian(bytes),
            _ => throw new ArgumentOutOfRangeException(nameof(width)),
        };
        if (length > (ulong)Math.Min(max, limits.MaxPickleBytes))
            throw Malformed($"declared length {length} exceeds the limit {Math.Min(max, limits.MaxPickleBytes)}");
        return (long)length;
    }

    private byte[] ReadBytes(long n)
    {
        Consume(n);
        // Never allocate more than the file can still provide: a lying length fails here, not in the allocator.
        if (stream.CanSeek && n > stream.Length - stream.Position)
            throw Malformed($"declared length {n} runs past the end of the file (truncated?)");
        var buffer = new byte[n];
        stream.ReadExactly(buffer);
        return buffer;
    }

    private string ReadLine()
    {
        const int MaxLine = 4096;
        var bytes = new List<byte>();
        while (true)
        {
            byte b = ReadByte();
            if (b == (byte)'\n') break;
            if (bytes.Count >= MaxLine) throw Malformed($"text line longer than {MaxLine} bytes");
            bytes.Add(b);
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static string Utf8(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    private object ParseInt(string line) => line switch
    {
        "00" => false,
        "01" => true,
        _ => ParseLong(line),
    };

    private object ParseLong(string line)
    {
        var text = line.EndsWith('L') ? line[..^1] : line;
        if (text.Length > 256) throw Malformed("integer literal longer than 256 digits");
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v)) return v;
        return BigInteger.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var big)
            ? big : throw Malformed($"bad integer literal '{Clip(text)}'");
    }

    /// <summary>LONG1/LONG4 payload: little-endian two's complement.</summary>
    private static object DecodeLong(byte[] bytes)
    {
        var big = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        return big >= long.MinValue && big <= long.MaxValue ? (object)(long)big : big;
    }

    private static string Clip(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
