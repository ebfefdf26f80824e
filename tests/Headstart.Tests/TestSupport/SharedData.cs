using Xunit;

namespace Headstart.Tests.TestSupport;

/// <summary>Locates ../shared (datasets and PyTorch fixtures). Tests that need it skip with a clear reason when absent.</summary>
public static class SharedData
{
    /// <summary>HEADSTART_SHARED, else the first "shared" folder beside an ancestor of the test binary.</summary>
    public static string? Root { get; } = Find();

    private static string? Find()
    {
        var env = Environment.GetEnvironmentVariable("HEADSTART_SHARED");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? Path.GetFullPath(env) : null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared");
            if (dir.Parent is not null && Directory.Exists(Path.Combine(candidate, "fixtures"))) return candidate;
        }
        return null;
    }

    public static string PathTo(string relative) =>
        Root is null ? throw new InvalidOperationException("../shared is absent") : Path.Combine(Root, relative);

    public static bool Has(string relative) =>
        Root is not null && (File.Exists(PathTo(relative)) || Directory.Exists(PathTo(relative)));
}

/// <summary>A fact that needs a file or folder under ../shared; skipped with the reason when it is absent.</summary>
public sealed class SharedFactAttribute : FactAttribute
{
    public SharedFactAttribute(string relativePath)
    {
        if (!SharedData.Has(relativePath))
            Skip = $"needs ../shared/{relativePath}, which is absent on this clone (CI always has it)";
    }
}

/// <summary>A theory that needs a file or folder under ../shared.</summary>
public sealed class SharedTheoryAttribute : TheoryAttribute
{
    public SharedTheoryAttribute(string relativePath)
    {
        if (!SharedData.Has(relativePath))
            Skip = $"needs ../shared/{relativePath}, which is absent on this clone (CI always has it)";
    }
}
