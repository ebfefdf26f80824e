using System.Diagnostics;
using System.Text.Json;

namespace Headstart.Tests.TestSupport;

/// <summary>The result of one CLI process run.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>The last stdout line parsed as JSON (for runs with --json).</summary>
    public JsonElement Json
    {
        get
        {
            var last = Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()
                       ?? throw new InvalidOperationException($"no stdout; stderr: {Stderr}");
            return JsonDocument.Parse(last).RootElement.Clone();
        }
    }

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs the real headstart CLI (Headstart.Cli.dll next to the tests) as a child process.</summary>
public static class CliRunner
{
    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "Headstart.Cli.dll");

    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        return psi;
    }

    public static CliResult Run(params string[] args) => Run(args, null);

    public static CliResult Run(IEnumerable<string> args, IDictionary<string, string>? env, int timeoutSeconds = 600)
    {
        using var p = Process.Start(StartInfo(args, env))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"headstart {string.Join(' ', args)} did not finish in {timeoutSeconds}s");
        }
        return new CliResult(p.ExitCode, stdout.Result, stderr.Result);
    }
}
