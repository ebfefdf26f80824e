namespace Headstart.IO;

/// <summary>The one rule for where Headstart keeps its per-user caches (weights, features, engine verdicts).</summary>
public static class CacheDirs
{
    /// <summary>
    /// <c>$HEADSTART_CACHE</c>, else <c>$XDG_CACHE_HOME/headstart</c>, else <c>~/.cache/headstart</c>. A relative
    /// <c>XDG_CACHE_HOME</c> is ignored, as the XDG base-directory spec asks.
    /// </summary>
    public static string Root
    {
        get
        {
            var explicitRoot = Environment.GetEnvironmentVariable("HEADSTART_CACHE");
            if (!string.IsNullOrEmpty(explicitRoot)) return explicitRoot;
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var cache = !string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg)
                ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(cache, "headstart");
        }
    }
}
