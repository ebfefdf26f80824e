using System.CommandLine;
using System.Diagnostics;
using Headstart.Runtime;

namespace Headstart.Cli.Common;

/// <summary>
/// Runs the convolution self-check (<see cref="EngineGuard"/>) in a child process the first time a command that trains
/// with libtorch runs on a machine. In-process, a check that finds the engine defective leaves only the slow route
/// (oneDNN off for convolutions: about 3x per ResNet18 training step, bench/README.md) because oneDNN has already
/// started; after a child has cached the verdict, this process starts oneDNN capped at SSE4.1, the faster exact route.
/// </summary>
internal static class EngineCheckFirst
{
    public const string CommandName = "engine-check";

    /// <summary>The hidden verb the child runs: the guard's check, its verdict cached, nothing else.</summary>
    public static Command Create()
    {
        var cmd = new Command(CommandName, "Run the convolution self-check and cache its verdict (run by the other verbs in a child process)") { Hidden = true };
        cmd.SetAction(parse => Shell.Run(parse, _ =>
        {
            var status = EngineGuard.Ensure();
            return (Shell.Ok, new { verdict = status.Verdict, workaround = status.Workaround, verdict_file = status.VerdictFile });
        }));
        return cmd;
    }

    /// <summary>Checks in a child process when no verdict is cached; any failure there leaves the check to this
    /// process, as before.</summary>
    public static void Run(Output output)
    {
        if (!EngineGuard.CheckPending()) return;
        string? exe = Environment.ProcessPath;
        if (exe is null) return;
        var start = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // Under 'dotnet Headstart.Cli.dll' the process is dotnet itself: the child needs the assembly too.
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet") start.ArgumentList.Add(typeof(EngineCheckFirst).Assembly.Location);
        start.ArgumentList.Add(CommandName);
        start.ArgumentList.Add("--json");
        output.Line("[grey]checking this CPU's convolutions once (cached afterwards)...[/]");
        try
        {
            using var child = Process.Start(start);
            if (child is null) return;
            var stdout = child.StandardOutput.ReadToEndAsync();
            var stderr = child.StandardError.ReadToEndAsync();
            if (!child.WaitForExit(TimeSpan.FromMinutes(5))) child.Kill(entireProcessTree: true);
            Task.WaitAll(stdout, stderr);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            // The check then runs in this process, as it always could.
        }
    }
}
