namespace Headstart.Weights;

/// <summary>
/// Weight files that ship with Headstart, from the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 (a
/// dependency of the Headstart package): they are copied into <c>DnnImageModels/</c> next to the application, by that
/// package's own build props in this repository's build and by the Headstart package's buildTransitive targets in an
/// app that references the Headstart package.
/// </summary>
public static class EmbeddedWeights
{
    /// <summary>The CNTK ResNet18 backbone (resnet18-cntk).</summary>
    public const string CntkResNet18 = "ResNet18Onnx/ResNet18.onnx";

    /// <summary>Its preprocessing graph, holding the 224x224 BGR mean image.</summary>
    public const string CntkResNetPreprocess = "ResNetPrepOnnx/ResNetPreprocess.onnx";

    /// <summary>The folder next to the application that holds them (the ML.NET package's own layout).</summary>
    public const string Folder = "DnnImageModels";

    private const string Package = "Microsoft.ML.DnnImageFeaturizer.ResNet18";
    private const string PackageVersion = "0.23.1";

    /// <summary>Folders searched, in order: the app's base directory, then the Headstart assembly's own folder.</summary>
    public static IReadOnlyList<string> SearchDirectories { get; } =
        new[] { AppContext.BaseDirectory, Path.GetDirectoryName(typeof(EmbeddedWeights).Assembly.Location) }
            .Where(d => !string.IsNullOrEmpty(d))
            .Select(d => Path.Combine(Path.GetFullPath(d!), Folder))
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
                $"It comes from the NuGet package {Package} {PackageVersion}, a dependency of the Headstart package, whose build " +
                $"copies it into {Folder}/ next to the app: rebuild after a restore (dotnet build), or copy tools/{Folder}/{relativePath} " +
                $"from ~/.nuget/packages/{Package.ToLowerInvariant()}/{PackageVersion}/ into {SearchDirectories[0]}.");
}
