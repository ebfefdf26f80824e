namespace Headstart.Models;

/// <summary>All models Headstart knows, by torchvision name (plus "resnet18-cntk", the embedded default).</summary>
public static class ModelRegistry
{
    /// <summary>The default model: real ImageNet weights that ship with Headstart.</summary>
    public const string DefaultModel = "resnet18-cntk";

    private static readonly Lazy<IReadOnlyDictionary<string, ModelSpec>> specs = new(() =>
    {
        var all = new[]
        {
            ResNetFamily.Specs(),
            AlexNetFamily.Specs(),
            VggFamily.Specs(),
            MobileNetFamily.Specs(),
            GoogLeNetFamily.Specs(),
            InceptionFamily.Specs(),
            SqueezeNetFamily.Specs(),
            DenseNetFamily.Specs(),
            EfficientNetFamily.Specs(),
            ConvNeXtFamily.Specs(),
            ShuffleNetV2Family.Specs(),
            MNASNetFamily.Specs(),
            SmallCnnFamily.Specs(),
            // Each model family adds its records here (one file per family under Models/).
        }.SelectMany(s => s);
        var dict = new Dictionary<string, ModelSpec>(StringComparer.Ordinal);
        foreach (var s in all)
            if (!dict.TryAdd(s.Name, s)) throw new InvalidOperationException($"duplicate model name '{s.Name}' in the registry");
        return dict;
    });

    /// <summary>Every registered model, in registration order.</summary>
    public static IEnumerable<ModelSpec> All => specs.Value.Values;

    /// <summary>A registry model by name, or a brought ONNX backbone (<c>onnx:PATH</c>, <see cref="OnnxBackbone"/>).</summary>
    public static bool TryGet(string name, out ModelSpec spec)
    {
        if (!OnnxBackbone.Names(name)) return specs.Value.TryGetValue(name, out spec!);
        spec = OnnxBackbone.Spec(name);
        return true;
    }

    /// <summary>Parameters of the model at 1000 classes, counted on the model itself (<see cref="ParameterCounts"/>).</summary>
    public static long ParameterCount(ModelSpec spec) => ParameterCounts.Of(spec);

    /// <summary>Looks a model up by name; the error lists close names.</summary>
    public static ModelSpec Get(string name)
    {
        if (TryGet(name, out var spec)) return spec;
        var close = specs.Value.Keys
            .OrderBy(k => Distance(k, name)).Take(3);
        throw new HeadstartException(
            $"unknown model '{name}'. Did you mean: {string.Join(", ", close)}? Run 'headstart models' for the full list, " +
            $"or bring a backbone as an ONNX file with --model {OnnxBackbone.Scheme}PATH.");
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}
