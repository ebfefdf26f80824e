using System.Text;

namespace Headstart.Weights.Pickle;

/// <summary>
/// The allowlist: the only Python globals a state_dict pickle may name, and what each builds. Anything else
/// (<c>os.system</c>, <c>builtins.eval</c>, a pickled nn.Module class) is refused at GLOBAL time, before it could be
/// called. Mirrors the spirit of <c>torch.load(weights_only=True)</c>.
/// </summary>
internal static class TorchGlobals
{
    private const string OrderedDict = "collections.OrderedDict";
    private const string RebuildTensorV2 = "torch._utils._rebuild_tensor_v2";
    private const string RebuildTensor = "torch._utils._rebuild_tensor";
    private const string RebuildParameter = "torch._utils._rebuild_parameter";
    private const string RebuildParameterWithState = "torch._utils._rebuild_parameter_with_state";
    private const string TorchSize = "torch.Size";
    private const string CodecsEncode = "_codecs.encode";

    private static readonly HashSet<string> callables =
        [OrderedDict, RebuildTensorV2, RebuildTensor, RebuildParameter, RebuildParameterWithState, TorchSize, CodecsEncode];

    /// <summary>Every allowlisted global, as <c>module.name</c> (storage types included).</summary>
    public static IEnumerable<string> Allowed => callables.Concat(DTypes.StorageTypes.Keys.Select(k => "torch." + k));

    public static PickleGlobal Resolve(string module, string name, string source)
    {
        var full = $"{module}.{name}";
        if (callables.Contains(full) || (module == "torch" && DTypes.StorageTypes.ContainsKey(name)))
            return new PickleGlobal(module, name);
        var hint = module.StartsWith("torch.nn.", StringComparison.Ordinal)
            ? " It looks like a whole pickled model (torch.save(model)); save model.state_dict() instead."
            : " A state_dict only needs tensors, storages and OrderedDict; re-save the file with torch.save(model.state_dict()).";
        throw new UnsafePickleException(full,
            $"{source}: refused to load: the pickle references the global '{full}', which is not on the allowlist of " +
            $"a weight file.{hint} Loading was stopped before anything ran.");
    }

    /// <summary>REDUCE: calls an allowlisted function with a tuple of arguments.</summary>
    public static object? Call(object? func, object? args, PickleReader reader)
    {
        var g = func as PickleGlobal ?? throw reader.Malformed($"REDUCE on a {PickleReader.Describe(func)}, not a callable");
        var a = args as object?[] ?? throw reader.Malformed($"arguments of {g} are a {PickleReader.Describe(args)}, not a tuple");
        switch (g.FullName)
        {
            case OrderedDict:
                return NewDict(a, reader);
            case RebuildTensorV2 when a.Length is 6 or 7:
            case RebuildTensor when a.Length == 4:
                if (a[0] is not StorageRef storage) throw reader.Malformed($"{g} expects a storage, got {PickleReader.Describe(a[0])}");
                return new TensorRef(storage, AsLong(a[1], "storage_offset", reader), LongTuple(a[2], "size", reader),
                    LongTuple(a[3], "stride", reader));
            case RebuildParameter when a.Length == 3:
            case RebuildParameterWithState when a.Length == 4:
                return a[0] as TensorRef ?? throw reader.Malformed($"{g} expects a tensor, got {PickleReader.Describe(a[0])}");
            case TorchSize when a.Length == 1:
                return LongTuple(a[0], "torch.Size", reader).Select(v => (object?)v).ToArray();
            case CodecsEncode when a.Length == 2 && a[0] is string text && a[1] is "latin1" or "latin-1":
                // How Python 3 pickles bytes at protocol 2: _codecs.encode(str, 'latin1').
                return Encoding.Latin1.GetBytes(text);
            default:
                throw reader.Malformed($"{g} cannot be called with {a.Length} argument(s) here");
        }
    }

    /// <summary>NEWOBJ: only OrderedDict may be instantiated this way.</summary>
    public static object? New(object? cls, object? args, PickleReader reader) =>
        cls is PickleGlobal { FullName: OrderedDict }
            ? new PickleDict()
            : throw reader.Malformed($"NEWOBJ of {PickleReader.Describe(cls)} is not allowed");

    /// <summary>BUILD: attaches instance state; allowed on dicts (a state_dict's _metadata) and tensors only.</summary>
    public static void Build(object? target, object? state, PickleReader reader)
    {
        switch (target)
        {
            case PickleDict dict: dict.State = state; break;
            case TensorRef: break; // Parameter state (_rebuild_parameter_with_state) carries nothing a state_dict needs.
            default: throw reader.Malformed($"BUILD on a {PickleReader.Describe(target)} is not allowed");
        }
    }

    private static PickleDict NewDict(object?[] args, PickleReader reader)
    {
        var dict = new PickleDict();
        if (args.Length == 0) return dict;
        // Python 2's OrderedDict.__reduce__ passes its items as a list of [key, value] pairs.
        if (args.Length != 1 || args[0] is not List<object?> pairs)
            throw reader.Malformed("OrderedDict expects no arguments or a list of pairs");
        foreach (var pair in pairs)
        {
            switch (pair)
            {
                case List<object?> { Count: 2 } l: dict.Set(l[0], l[1]); break;
                case object?[] { Length: 2 } t: dict.Set(t[0], t[1]); break;
                default: throw reader.Malformed("OrderedDict item is not a (key, value) pair");
            }
        }
        return dict;
    }

    internal static long AsLong(object? value, string what, PickleReader reader) =>
        value is long v ? v : throw reader.Malformed($"{what} must be an int, got {PickleReader.Describe(value)}");

    internal static long[] LongTuple(object? value, string what, PickleReader reader)
    {
        var items = value switch
        {
            object?[] t => t,
            List<object?> l => l.ToArray(),
            _ => throw reader.Malformed($"{what} must be a tuple of ints, got {PickleReader.Describe(value)}"),
        };
        if (items.Length > 64) throw reader.Malformed($"{what} has {items.Length} dimensions (at most 64)");
        return items.Select(v => AsLong(v, what, reader)).ToArray();
    }
}
