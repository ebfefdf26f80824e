namespace Headstart.Studio;

/// <summary>How a Studio server runs: where it may read and write, whom it answers, and its upload limits.</summary>
public sealed record StudioOptions
{
    /// <summary>The only folder whose datasets can be listed, read and uploaded into.</summary>
    public required string DataRoot { get; init; }
    /// <summary>Where jobs, bundles and exports go (never under the data root).</summary>
    public required string OutputRoot { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 5117;
    /// <summary>Required on every request and event stream when set (always, for a host other than loopback).</summary>
    public string? Token { get; init; }
    public long MaxUploadBytes { get; init; } = 512L << 20;
    public int MaxUploadFiles { get; init; } = 50_000;
    public long MaxUnpackedBytes { get; init; } = 4L << 30;
    /// <summary>An entry that unpacks to more than this many times its packed size is taken for a zip bomb.</summary>
    public int MaxCompressionRatio { get; init; } = 200;
    public int MaxPredictFiles { get; init; } = 32;

    /// <summary>True when <paramref name="host"/> names this machine's loopback interface only.</summary>
    public static bool IsLoopback(string host) => host is "127.0.0.1" or "localhost" or "::1" or "[::1]";
}
