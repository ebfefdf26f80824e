using System.CommandLine;
using System.Text.Json;
using Headstart.Cli.Common;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>
/// Only Headstart's own errors (and the file system's) are the user's: message, exit 1 or 2. Anything else is a bug:
/// exit 70, a short message, the trace in a log file.
/// </summary>
[Collection(CliCollection.Name)]
public class ErrorPolicyTests
{
    private static (int Code, JsonElement Json) Run(Exception thrown, string logDir)
    {
        var cmd = new Command("verb") { Shell.Json, Shell.Verbose };
        var parse = cmd.Parse(["--json"]);
        var stdout = new StringWriter();
        var before = Console.Out;
        var beforeDir = CrashLog.Directory;
        Console.SetOut(stdout);
        CrashLog.Directory = logDir;
        try
        {
            int code = Shell.Run(parse, _ => throw thrown);
            var last = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
            return (code, JsonDocument.Parse(last).RootElement.Clone());
        }
        finally
        {
            Console.SetOut(before);
            CrashLog.Directory = beforeDir;
        }
    }

    [Theory]
    [InlineData(typeof(InvalidOperationException))]
    [InlineData(typeof(ArgumentException))]
    [InlineData(typeof(KeyNotFoundException))]
    [InlineData(typeof(NullReferenceException))]
    [InlineData(typeof(InvalidDataException))]
    public void AnythingElseIsABugWithExitSeventyAndALoggedTrace(Type type)
    {
        using var tmp = new TempDir("crash");
        Exception ex;
        try { throw (Exception)Activator.CreateInstance(type, "an invariant broke")!; }
        catch (Exception e) { ex = e; }
        var (code, json) = Run(ex, tmp.Path);
        Assert.Equal(Shell.InternalError, code);
        Assert.True(json.GetProperty("internal").GetBoolean());
        Assert.Equal(type.Name, json.GetProperty("error_type").GetString());
        string log = json.GetProperty("log").GetString()!;
        Assert.StartsWith(tmp.Path, log);
        string trace = File.ReadAllText(log);
        Assert.Contains(type.FullName!, trace);
        Assert.Contains($"at {typeof(ErrorPolicyTests).FullName}", trace);   // the stack, not just the message
    }

    [Fact]
    public void HeadstartsOwnErrorsAndTheFileSystemsAreTheUsers()
    {
        using var tmp = new TempDir("user-error");
        Assert.Equal(1, Run(new HeadstartException("fix your data"), tmp.Path).Code);
        Assert.Equal(1, Run(new Headstart.Weights.WeightFileException("damaged file"), tmp.Path).Code);
        Assert.Equal(2, Run(new CliException("bad option", Shell.UsageError), tmp.Path).Code);
        Assert.Equal(1, Run(new FileNotFoundException("no such file"), tmp.Path).Code);
        Assert.Equal(1, Run(new UnauthorizedAccessException("permission denied"), tmp.Path).Code);
        var (_, json) = Run(new HeadstartException("fix your data"), tmp.Path);
        Assert.False(json.TryGetProperty("internal", out _));
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }
}
