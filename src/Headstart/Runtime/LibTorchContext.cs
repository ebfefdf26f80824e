using System.Runtime.InteropServices;

namespace Headstart.Runtime;

/// <summary>
/// The switches of libtorch's global <c>at::Context</c> that TorchSharp 0.107 does not wrap: whether convolutions may
/// use oneDNN (PyTorch's <c>torch.backends.mkldnn.enabled</c>) and NNPACK (<c>torch.backends.nnpack.enabled</c>).
/// These are C++ member functions, called through their Itanium-ABI names (Linux, macOS); on Windows the entry points
/// are not found and <see cref="Available"/> says so.
/// </summary>
internal static partial class LibTorchContext
{
    private const string Lib = "libtorch_cpu";

    [LibraryImport(Lib, EntryPoint = "_ZN2at13globalContextEv")]
    private static partial IntPtr GlobalContext();

    [LibraryImport(Lib, EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static partial void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport(Lib, EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool UserEnabledMkldnn(IntPtr context);

    [LibraryImport(Lib, EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    private static partial void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    /// <summary>
    /// Sets DNNL_MAX_CPU_ISA in the process's native environment, where oneDNN reads it (once, when it first runs; .NET's
    /// Environment.SetEnvironmentVariable does not reach it on Unix). False when the user set the variable, or off Unix.
    /// </summary>
    public static bool TrySetOneDnnMaxIsa(string isa)
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DNNL_MAX_CPU_ISA")) || OperatingSystem.IsWindows()) return false;
        try { return SetEnv("DNNL_MAX_CPU_ISA", isa, 0) == 0; }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException) { return false; }
    }

    /// <summary>True when the switches can be reached (libtorch loaded, entry points found).</summary>
    public static bool Available => Try(() => { GlobalContext(); return true; }, out _);

    /// <summary>Whether convolutions may use oneDNN; null when the switch cannot be reached.</summary>
    public static bool? MkldnnEnabled => Try(() => UserEnabledMkldnn(GlobalContext()), out var on) ? on : null;

    /// <summary>
    /// Sends convolutions to libtorch's own im2col + GEMM kernels: oneDNN off, and NNPACK off too (it is the next
    /// candidate, and on x86 CPUs without its kernels every call would print "Could not initialize NNPACK").
    /// </summary>
    public static void UseNativeConvolutions(bool native)
    {
        var ctx = GlobalContext();
        SetUserEnabledMkldnn(ctx, !native);
        SetUserEnabledNnpack(ctx, !native);
    }

    private static bool Try<T>(Func<T> f, out T value)
    {
        try
        {
            TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU);   // loads libtorch_cpu
            value = f();
            return true;
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            value = default!;
            return false;
        }
    }
}
