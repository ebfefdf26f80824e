using System.Diagnostics.CodeAnalysis;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Headstart.Cli.Common;

/// <summary>
/// Ends the process once a verb has finished. On Linux it skips the native libraries' teardown: after the last output,
/// libtorch's and ONNX Runtime's static destructors spend CPU time before exit_group (seen with strace -tt; the figure
/// is in bench/README.md). Nothing is lost: bundles and caches are already renamed into place, their streams
/// closed, the console streams and C stdio are flushed here, and no code of ours runs at process exit.
/// </summary>
internal static class ProcessExit
{
    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void ExitImmediately(int status);

    /// <summary>fflush(NULL): every C stdio stream, e.g. a native library's warning on a piped stdout.</summary>
    [DllImport("libc", EntryPoint = "fflush")]
    private static extern int FlushAllStdio(IntPtr stream);

    [DoesNotReturn]
    public static void Now(int code)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        if (OperatingSystem.IsLinux())
        {
            FlushAllStdio(IntPtr.Zero);
            ExitImmediately(code);
        }
        Environment.Exit(code);
        throw new UnreachableException();
    }
}
