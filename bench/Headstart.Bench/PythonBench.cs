using System.Text.Json;

namespace Headstart.Bench;

/// <summary>bench/pytorch_cached.py's results: the cached recipe in PyTorch eager, and its bare forward.</summary>
public sealed record PythonResult(bool Ok, string? Error, double WallSeconds, double RecipeSeconds, double Accuracy,
    double ForwardMsPerImage, int ForwardImages, int Threads, double ParityMaxAbsDiff, string TorchVersion, long PeakRssBytes);

/// <summary>Runs the same recipe in PyTorch (Debian's python3-torch) when it is installed; never required.</summary>
public static class PythonBench
{
    public const string Python = "/usr/bin/python3";

    /// <summary>True when python3 can import what the script needs; otherwise the reason.</summary>
    public static bool Available(out string why)
    {
        why = "";
        if (!File.Exists(Python)) { why = $"{Python} not found"; return false; }
        var r = ChildProcess.Run(Python, ["-c", "import torch, torchvision, numpy, PIL"]);
        if (r.ExitCode == 0) return true;
        why = "python3 cannot import torch, torchvision, numpy and PIL (apt install python3-torch python3-torchvision)";
        return false;
    }

    public static PythonResult Run(string script, string data, string exportDir, int forwardImages, Action<string> log)
    {
        string[] args =
        [
            script, data, "--weights", Path.Combine(exportDir, "resnet18-cntk.safetensors"),
            "--mean-image", Path.Combine(exportDir, "mean_image.f32"),
            "--batch", Path.Combine(exportDir, "batch0.f32"), "--features", Path.Combine(exportDir, "batch0.features.f32"),
            "--forward-images", forwardImages.ToString(),
        ];
        log($"PyTorch: {Python} {string.Join(' ', args)}");
        var r = ChildProcess.Run(Python, args, onStderrLine: line => log("  | " + line));
        if (r.ExitCode != 0 || r.LastJson is not { } j)
            return new PythonResult(false, $"exit {r.ExitCode}: {r.Tail()}", r.Wall.TotalSeconds, 0, 0, 0, 0, 0, 0, "", r.PeakRssBytes);
        double D(string n) => j.GetProperty(n).GetDouble();
        return new PythonResult(true, null, r.Wall.TotalSeconds, D("recipe_seconds"), D("val_accuracy"), D("forward_ms_per_image"),
            j.GetProperty("forward_images").GetInt32(), j.GetProperty("threads").GetInt32(), D("parity_max_abs_diff"),
            j.GetProperty("torch_version").GetString() ?? "", r.PeakRssBytes);
    }
}
