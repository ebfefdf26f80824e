using System.Diagnostics;
using System.Text.Json;

namespace Headstart.Bench;

/// <summary>What one child process did: exit code, wall time, peak resident set size, and its output.</summary>
public sealed record ChildResult(int ExitCode, TimeSpan Wall, long PeakRssBytes, IReadOnlyList<string> Stdout, IReadOnlyList<string> Stderr)
{
    /// <summary>The last stdout line parsed as JSON (the CLI's --json contract), or null.</summary>
    public JsonElement? LastJson
    {
        get
        {
            var last = Stdout.LastOrDefault(l => l.TrimStart().StartsWith('{'));
            if (last is null) return null;
            try { return JsonDocument.Parse(last).RootElement.Clone(); }
            catch (JsonException) { return null; }
        }
    }

    public string Tail(int lines = 15) => string.Join('\n', Stderr.TakeLast(lines).Concat(Stdout.TakeLast(3)));
}

/// <summary>
/// Runs a child process and samples its peak RSS: VmHWM in /proc/&lt;pid&gt;/status is the kernel's own high-water
/// mark, so polling it (every 20 ms) only misses a peak reached in the last 20 ms before exit.
/// </summary>
public static class ChildProcess
{
    public static ChildResult Run(string file, IEnumerable<string> args, string? workingDirectory = null,
        Action<string>? onStderrLine = null, TimeSpan? heartbeat = null, Action<TimeSpan, long, long>? onHeartbeat = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        var stdout = new List<string>();
        var stderr = new List<string>();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.Add(e.Data); };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr) stderr.Add(e.Data);
            onStderrLine?.Invoke(e.Data);
        };
        var sw = Stopwatch.StartNew();
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        long peak = 0;
        var nextBeat = heartbeat ?? TimeSpan.MaxValue;
        while (!p.WaitForExit(20))
        {
            var (rss, hwm) = ReadRss(p.Id);
            peak = Math.Max(peak, hwm);
            if (sw.Elapsed >= nextBeat)
            {
                onHeartbeat?.Invoke(sw.Elapsed, rss, peak);
                nextBeat += heartbeat!.Value;
            }
        }
        var wall = sw.Elapsed;
        p.WaitForExit(); // flush the asynchronous readers
        return new ChildResult(p.ExitCode, wall, peak, stdout, stderr);
    }

    /// <summary>(VmRSS, VmHWM) in bytes of a live process; zeros once it has gone.</summary>
    public static (long Rss, long Hwm) ReadRss(int pid)
    {
        try
        {
            long rss = 0, hwm = 0;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kb(line);
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) hwm = Kb(line);
            }
            return (rss, hwm);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return (0, 0); }

        static long Kb(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }

    /// <summary>This process's own peak RSS in bytes.</summary>
    public static long SelfPeakRss() => ReadRss(Environment.ProcessId).Hwm;
}
