using System.Reflection;

namespace Headstart;

/// <summary>Facts about this build of Headstart.</summary>
public static class HeadstartInfo
{
    /// <summary>The version (set in one place, Directory.Build.props), without the "+commit" suffix that Source Link
    /// appends to the informational version.</summary>
    public static string Version { get; } =
        (typeof(HeadstartInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
         ?? typeof(HeadstartInfo).Assembly.GetName().Version?.ToString(3) ?? "0.0.0").Split('+')[0];
}
