using Headstart.Models;
using Headstart.Weights;

namespace Headstart.Training;

/// <summary>Finds and loads a model's pretrained weights: an explicit file, the embedded source, or the weight store.</summary>
public static class Pretrained
{
    /// <summary>Resolves the weights file for <paramref name="spec"/>; throws with the fix when none is on this machine.</summary>
    public static string Resolve(ModelSpec spec, string? explicitPath = null)
    {
        if (explicitPath is not null)
        {
            if (!File.Exists(explicitPath))
                throw new HeadstartException(Directory.Exists(explicitPath)
                    ? $"--weights '{explicitPath}' is a folder; pass the weight file itself (.pth, .safetensors or .onnx)"
                    : $"weights file '{explicitPath}' does not exist");
            return Path.GetFullPath(explicitPath);
        }
        string? local = new WeightStore().Resolve(spec);
        if (local is not null) return local;
        string hint = spec.WeightSources.Any(s => s.Url is not null)
            ? $"run 'headstart weights download {spec.Name}' (needs internet), or pass --weights PATH"
            : "pass --weights PATH";
        throw new HeadstartException(
            $"no pretrained weights for '{spec.Name}' on this machine: {hint}, or train from scratch with --no-pretrained. " +
            $"The embedded default '{ModelRegistry.DefaultModel}' always works offline.");
    }

    /// <summary>Loads pretrained weights into <paramref name="model"/>; the head is skipped when the class count differs.</summary>
    /// <param name="skipHead">Never touch the classifier head, even when the file has one of the right shape.</param>
    public static LoadReport Load(ImageClassifier model, ModelSpec spec, string path, bool skipHead = false)
    {
        using var sd = WeightFile.Read(path);
        return WeightLoader.Load(model, sd, spec, new LoadOptions { Strict = true, SkipHead = skipHead ? true : null });
    }
}
