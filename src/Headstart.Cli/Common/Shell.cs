using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Headstart.Training;
using Spectre.Console;

namespace Headstart.Cli.Common;

/// <summary>A user-facing error: printed without a stack trace; exit code 1 (runtime) or 2 (usage).</summary>
public sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>Shared options and the run wrapper every verb uses: exit codes, --json, errors.</summary>
public static class Shell
{
    public const int Ok = 0, RuntimeError = 1, UsageError = 2;
    /// <summary>An internal error: a bug in Headstart, not in the user's data or options (sysexits' EX_SOFTWARE).</summary>
    public const int InternalError = 70;

    /// <summary>--json: human output goes to stderr, and the last stdout line is one JSON object.</summary>
    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print one JSON object as the last stdout line (human output goes to stderr)",
        Recursive = true,
    };

    /// <summary>--verbose: on an internal error, print the stack trace too.</summary>
    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "On an internal error (exit code 70), print the stack trace",
        Recursive = true,
    };

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // Readable non-ASCII (class names, "±") on a terminal; the line is not embedded in HTML.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>
    /// Runs a verb body with uniform error handling. The body returns the JSON result object (or null) and an exit code.
    /// Headstart's own errors (<see cref="HeadstartException"/>, <see cref="CliException"/>) and the file system's are
    /// the user's to fix: their message, exit 1 (or 2 for usage). Anything else is a bug: exit 70, a short message, the
    /// stack trace in a log file and, under --verbose, on stderr.
    /// </summary>
    /// <param name="userErrorCode">The exit code of a user error, when a verb has its own contract (extract's
    /// permanent and transient failures); default 1, or 2 for usage.</param>
    public static int Run(ParseResult parse, Func<Output, (int Code, object? Result)> body, Func<Exception, int>? userErrorCode = null)
    {
        var output = new Output(parse.GetValue(Json));
        try
        {
            var (code, result) = body(output);
            output.Finish(result, code);
            return code;
        }
        catch (Exception ex) when (IsUserError(ex))
        {
            int code = userErrorCode?.Invoke(ex) ?? ex switch { CliException ce => ce.ExitCode, TrainingPlanException => UsageError, _ => RuntimeError };
            output.Error(ex.Message);
            output.Finish(new { error = ex.Message, error_type = ex.GetType().Name }, code);
            return code;
        }
        catch (Exception ex)
        {
            string? log = CrashLog.Write(ex, parse);
            output.Error($"internal error, a bug in Headstart (not in your data or options): {ex.GetType().Name}: {ex.Message}");
            if (parse.GetValue(Verbose)) output.Plain(ex.ToString());
            output.Plain(log is null
                ? "Rerun with --verbose for the stack trace, and please report it."
                : $"The stack trace is in {log} (or rerun with --verbose); please report it.");
            output.Finish(new { error = ex.Message, error_type = ex.GetType().Name, @internal = true, log }, InternalError);
            return InternalError;
        }
    }

    /// <summary>The errors a user can act on: Headstart's own, and the file system's (a path, a permission, a full disk).</summary>
    public static bool IsUserError(Exception ex) =>
        ex is CliException or HeadstartException or IOException or UnauthorizedAccessException;
}

/// <summary>Internal errors' stack traces, one file each under the cache root's logs/ folder.</summary>
public static class CrashLog
{
    /// <summary>Where the logs go: the cache root's logs/ (tests point it elsewhere).</summary>
    public static string Directory { get; set; } = Path.Combine(Headstart.IO.CacheDirs.Root, "logs");

    /// <summary>Writes the trace and the command line; returns the file, or null when it could not be written.</summary>
    public static string? Write(Exception ex, ParseResult parse)
    {
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            string path = Path.Combine(Directory, $"crash-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}.txt");
            File.WriteAllText(path,
                $"headstart {Headstart.HeadstartInfo.Version}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}\n" +
                $"command: headstart {string.Join(' ', parse.Tokens.Select(t => t.Value))}\n\n{ex}\n");
            return path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>Where a verb writes: Spectre.Console for people (stdout, or stderr under --json) and one JSON line.</summary>
public sealed class Output
{
    public Output(bool json)
    {
        IsJson = json;
        Console = json
            ? AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(System.Console.Error) })
            : AnsiConsole.Console;
    }

    public bool IsJson { get; }

    /// <summary>The human console (stderr when --json).</summary>
    public IAnsiConsole Console { get; }

    public void Line(string markup) => Console.MarkupLine(markup);
    public void Plain(string text) => Console.WriteLine(text);
    /// <summary>A line never wrapped (Spectre wraps at 80 columns off a terminal): a URL a user or a script must copy whole.</summary>
    public void Unwrapped(string text) => (IsJson ? System.Console.Error : System.Console.Out).WriteLine(text);
    public void Warn(string text) => Console.MarkupLine($"[yellow]warning:[/] {Markup.Escape(text)}");
    public void Error(string text) => Console.MarkupLine($"[red]error:[/] {Markup.Escape(text)}");

    /// <summary>
    /// A command that ran a model says which convolution engine it ran on (the engine guard's verdict and workaround):
    /// "engine" joins its JSON object unless the command set one itself.
    /// </summary>
    private static object WithEngine(object payload)
    {
        if (Headstart.Runtime.EngineGuard.Current is not { } engine) return payload;
        if (JsonSerializer.SerializeToNode(payload, Shell.JsonOptions) is not System.Text.Json.Nodes.JsonObject obj || obj.ContainsKey("engine"))
            return payload;
        obj["engine"] = JsonSerializer.SerializeToNode(engine.ToJson(), Shell.JsonOptions);
        return obj;
    }

    internal void Finish(object? result, int code)
    {
        if (!IsJson) return;
        object payload = result ?? new { ok = code == 0 };
        System.Console.Out.WriteLine(JsonSerializer.Serialize(WithEngine(payload), Shell.JsonOptions));
        System.Console.Out.Flush();
    }
}
