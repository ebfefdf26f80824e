using Headstart.Models;
using Headstart.Weights;

namespace Headstart.Training;

/// <summary>A weights file on this machine and its record (preprocessing, head, engines, origin).</summary>
public sealed record ResolvedWeights(string Path, WeightSource Source);

/// <summary>Finds and loads a model's pretrained weights: an explicit file, the embedded source, or the weight store.</summary>
public static class Pretrained
{
    /// <summary>Resolves the weights file for <paramref name="spec"/> and its record; throws with the fix when none is
    /// on this machine.</summary>
    public static ResolvedWeights Resolve(ModelSpec spec, string? explicitPath = null)
    {
        if (explicitPath is not null)
        {
            if (!File.Exists(explicitPath))
                throw new HeadstartException(Directory.Exists(explicitPath)
                    ? $"--weights '{explicitPath}' is a folder; pass the weight file itself (.pth, .safetensors or .onnx)"
                    : $"weights file '{explicitPath}' does not exist");
            string full = System.IO.Path.GetFullPath(explicitPath);
            return new ResolvedWeights(full, spec.SourceOf(full));
        }
        var store = new WeightStore();   // (a brought backbone's source is its own file: WeightSource.LocalFile)
        if (spec.WeightSources.FirstOrDefault(store.IsPresent) is { } present) return new ResolvedWeights(store.PathFor(present), present);
        string hint = spec.WeightSources.Any(s => s.Url is not null)
            ? $"run 'headstart weights download {spec.Name}' (needs internet), or pass --weights PATH"
            : "pass --weights PATH";
        throw new HeadstartException(
            $"no pretrained weights for '{spec.Name}' on this machine: {hint}, or train from scratch with --no-pretrained. " +
            $"The embedded default '{ModelRegistry.DefaultModel}' always works offline.");
    }

    /// <summary>Loads pretrained weights into <paramref name="model"/>; the head is skipped when the class count differs.</summary>
    /// <param name="skipHead">Never touch the classifier head, even when the file has one of the right shape.</param>
    public static LoadReport Load(ImageClassifier model, ModelSpec spec, ResolvedWeights weights, bool skipHead = false)
    {
        using var sd = WeightFile.Read(weights.Path);
        return WeightLoader.Load(model, sd, spec, new LoadOptions { Strict = true, SkipHead = skipHead ? true : null }, weights.Source);
    }
}
