namespace Headstart.Weights;

/// <summary>
/// Weight files that ship with Headstart: the build copies them from the NuGet package
/// Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 into <c>weights/</c> next to the Headstart assembly.
/// </summary>
public static class EmbeddedWeights
{
    /// <summary>The CNTK ResNet18 backbone (resnet18-cntk).</summary>
    public const string CntkResNet18 = "ResNet18Onnx/ResNet18.onnx";

    /// <summary>Its preprocessing graph, holding the 224x224 BGR mean image.</summary>
    public const string CntkResNetPreprocess = "ResNetPrepOnnx/ResNetPreprocess.onnx";

    private const string Package = "Microsoft.ML.DnnImageFeaturizer.ResNet18";
    private const string PackageVersion = "0.23.1";

    /// <summary>Folders searched, in order: the app's base directory, then the Headstart assembly's own folder.</summary>
    public static IReadOnlyList<string> SearchDirectories { get; } =
        new[] { AppContext.BaseDirectory, Path.GetDirectoryName(typeof(EmbeddedWeights).Assembly.Location) }
            .Where(d => !string.IsNullOrEmpty(d))
            .Select(d => Path.Combine(Path.GetFullPath(d!), "weights"))
            .Distinct(StringComparer.Ordinal)
            .ToArray();

    /// <summary>True and the full path when <paramref name="relativePath"/> (e.g. <see cref="CntkResNet18"/>) is present.</summary>
    public static bool TryGetPath(string relativePath, out string path)
    {
        foreach (var dir in SearchDirectories)
        {
            path = Path.Combine(dir, relativePath);
            if (File.Exists(path)) return true;
        }
        path = "";
        return false;
    }

    /// <summary>The full path of an embedded file; a clear <see cref="HeadstartException"/> when it is missing.</summary>
    public static string GetPath(string relativePath) =>
        TryGetPath(relativePath, out var path)
            ? path
            : throw new HeadstartException(
                $"embedded weight file '{relativePath}' is missing (looked in {string.Join(", ", SearchDirectories)}). " +
                $"It comes from the NuGet package {Package} {PackageVersion}, which Headstart's build copies into weights/ " +
                $"next to Headstart.dll: rebuild after a restore (dotnet build), or copy tools/DnnImageModels/{relativePath} from " +
                $"~/.nuget/packages/{Package.ToLowerInvariant()}/{PackageVersion}/ into {SearchDirectories[0]}.");
}
