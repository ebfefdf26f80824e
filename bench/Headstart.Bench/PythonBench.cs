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

    /// <summary>
    /// Two processes, each measured on its own: the recipe end to end (wall time and peak RSS as for 'headstart train'),
    /// then the bare forward on the batch <see cref="ForwardBench"/> exported to <paramref name="exportDir"/>.
    /// </summary>
    public static PythonResult Run(string script, string data, string exportDir, int forwardImages, Action<string> log)
    {
        string weights = Path.Combine(exportDir, "resnet18-cntk.safetensors");
        var recipe = Invoke([script, "recipe", "--data", data, "--weights", weights, "--mean-image", Path.Combine(exportDir, "mean_image.f32")], log);
        if (recipe.Error is not null) return Failed(recipe.Error, recipe.Result);
        var fwd = Invoke([script, "forward", "--weights", weights, "--batch", Path.Combine(exportDir, "batch0.f32"),
            "--features", Path.Combine(exportDir, "batch0.features.f32"), "--forward-images", forwardImages.ToString()], log);
        if (fwd.Error is not null) return Failed(fwd.Error, recipe.Result);
        JsonElement r = recipe.Json, f = fwd.Json;
        return new PythonResult(true, null, recipe.Result.Wall.TotalSeconds, r.GetProperty("recipe_seconds").GetDouble(),
            r.GetProperty("val_accuracy").GetDouble(), f.GetProperty("forward_ms_per_image").GetDouble(),
            f.GetProperty("forward_images").GetInt32(), r.GetProperty("threads").GetInt32(),
            f.GetProperty("parity_max_abs_diff").GetDouble(), r.GetProperty("torch_version").GetString() ?? "", recipe.Result.PeakRssBytes);
    }

    private static PythonResult Failed(string error, ChildResult r) =>
        new(false, error, r.Wall.TotalSeconds, 0, 0, 0, 0, 0, 0, "", r.PeakRssBytes);

    private static (ChildResult Result, JsonElement Json, string? Error) Invoke(string[] args, Action<string> log)
    {
        log($"PyTorch: {Python} {string.Join(' ', args)}");
        var r = ChildProcess.Run(Python, args, onStderrLine: line => log("  | " + line));
        return r.ExitCode == 0 && r.LastJson is { } j ? (r, j, null) : (r, default, $"exit {r.ExitCode}: {r.Tail()}");
    }
}
