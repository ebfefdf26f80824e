using System.Text.Json;
using System.Text.RegularExpressions;

namespace Headstart.Bench;

/// <summary>One `headstart train` child run: wall time of the process, its own train_seconds, accuracy and peak RSS.</summary>
public sealed record TrainRun(string Label, bool Ok, double WallSeconds, double? TrainSeconds, double? Accuracy, long PeakRssBytes,
    string? Bundle, string? Error);

/// <summary>Runs the real CLI (`dotnet Headstart.Cli.dll train DATA --json ...`) as a child process, as a user would.</summary>
public sealed partial class TrainRuns(string dotnet, string cliDll, string workDir, IReadOnlyList<string> extraArgs, Action<string> log)
{
    /// <summary>
    /// Runs `train` against <paramref name="cacheDir"/> (a fresh directory = cold run, the same again = warm run),
    /// logging the child's RSS every <paramref name="heartbeatSeconds"/> and, when <paramref name="echo"/>, its output.
    /// </summary>
    public TrainRun Train(string label, string data, string cacheDir, IEnumerable<string> recipeArgs, bool echo = false,
        int heartbeatSeconds = 30)
    {
        string outDir = Path.Combine(workDir, "bundles", Slug(label));
        string[] args = [cliDll, "train", data, "--json", "--cache-dir", cacheDir, "--out", outDir, .. recipeArgs, .. extraArgs];
        log($"{label}: {Path.GetFileName(dotnet)} {string.Join(' ', args.Select(Quote))}");
        var r = ChildProcess.Run(dotnet, args, workDir,
            onStderrLine: echo ? line => log("  | " + Ansi().Replace(line, "")) : null,
            heartbeat: TimeSpan.FromSeconds(heartbeatSeconds),
            onHeartbeat: (t, rss, peak) => log($"  ... {t.TotalSeconds:F0} s, RSS {Mb(rss)} MB, peak {Mb(peak)} MB"));
        var json = r.LastJson;
        double? acc = Get(json, "val_accuracy"), secs = Get(json, "train_seconds");
        string? bundle = json is { } j && j.TryGetProperty("bundle", out var b) ? b.GetString() : null;
        bool ok = r.ExitCode == 0 && acc is not null;
        string? error = ok ? null : $"exit {r.ExitCode}: " + (json is { } e && e.TryGetProperty("error", out var m) ? m.GetString() : r.Tail());
        var run = new TrainRun(label, ok, r.Wall.TotalSeconds, secs, acc, r.PeakRssBytes, bundle, error);
        log(ok
            ? $"{label}: {run.WallSeconds:F1} s wall ({secs:F1} s in process), val accuracy {acc:P1}, peak RSS {Mb(run.PeakRssBytes)} MB"
            : $"{label}: FAILED ({error})");
        return run;
    }

    public static double Mb(long bytes) => Math.Round(bytes / (1024.0 * 1024.0));

    private static double? Get(JsonElement? json, string name) =>
        json is { } j && j.ValueKind == JsonValueKind.Object && j.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number
            ? v.GetDouble() : null;

    [GeneratedRegex(@"\x1b\[[0-9;]*m")]
    private static partial Regex Ansi();

    private static string Slug(string s) => new(s.Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());

    private static string Quote(string s) => s.Contains(' ') ? $"'{s}'" : s;
}
