using System.Runtime.InteropServices;
using Headstart.IO;

namespace Headstart.Runtime;

/// <summary>
/// What a convolution verdict depends on: the CPU (model and instruction-set flags), the operating system and
/// architecture, the TorchSharp and libtorch versions, the self-check's own version, and a DNNL_MAX_CPU_ISA the user set. A verdict is reused only on
/// an identical fingerprint.
/// </summary>
public sealed record EngineFingerprint(string Cpu, string CpuFlags, string Platform, string TorchSharpVersion, string LibTorchVersion,
    string CheckVersion, string OneDnnMaxIsa = "")
{
    /// <summary>A short stable id of the whole fingerprint: the cached verdict's file name.</summary>
    public string Key => FileHashes.OfText(string.Join("\u001f", Cpu, CpuFlags, Platform, TorchSharpVersion, LibTorchVersion, CheckVersion, OneDnnMaxIsa))[..16];

    /// <summary>This process's fingerprint (loads libtorch to read its version; runs no convolution).</summary>
    public static EngineFingerprint Current()
    {
        var (model, flags) = ReadCpu();
        global::TorchSharp.torch.InitializeDeviceType(global::TorchSharp.DeviceType.CPU);
        return new EngineFingerprint(model, flags,
            $"{RuntimeInformation.OSDescription} {RuntimeInformation.ProcessArchitecture}",
            typeof(global::TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "unknown",
            global::TorchSharp.torch.__version__, ConvSelfCheck.Version, Environment.GetEnvironmentVariable("DNNL_MAX_CPU_ISA") ?? "");
    }

    /// <summary>The CPU's model name and its sorted flags, from /proc/cpuinfo where there is one.</summary>
    public static (string Model, string Flags) ReadCpu()
    {
        string model = RuntimeInformation.ProcessArchitecture.ToString(), flags = "";
        const string cpuinfo = "/proc/cpuinfo";
        if (!File.Exists(cpuinfo)) return (model, flags);
        foreach (var line in File.ReadLines(cpuinfo))
        {
            if (line.StartsWith("model name", StringComparison.Ordinal) && model == RuntimeInformation.ProcessArchitecture.ToString())
                model = line.Split(':', 2)[1].Trim();
            else if ((line.StartsWith("flags", StringComparison.Ordinal) || line.StartsWith("Features", StringComparison.Ordinal)) && flags.Length == 0)
                flags = string.Join(' ', line.Split(':', 2)[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
            if (flags.Length > 0 && model != RuntimeInformation.ProcessArchitecture.ToString()) break;
        }
        return (model, flags);
    }
}
