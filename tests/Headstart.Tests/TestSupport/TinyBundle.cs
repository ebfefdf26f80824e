using Headstart.Bundles;
using Headstart.Models;
using Headstart.Training;
using TorchSharp;

namespace Headstart.Tests.TestSupport;

/// <summary>
/// A bundle written directly (no training): a small zoo model with a 3-class head, random BatchNorm statistics and a
/// head scaled so that its probabilities are neither uniform nor saturated, over a generated shapes dataset.
/// </summary>
public static class TinyBundle
{
    public static (string Bundle, string[] Images) Create(string root, string arch = "mobilenet_v3_small")
    {
        string data = Path.Combine(root, "shapes"), bundle = Path.Combine(root, "bundle");
        var classes = SyntheticImages.WriteImageFolder(data, classes: 3, trainPerClass: 2, valPerClass: 2);
        var spec = ModelRegistry.Get(arch);
        using var model = spec.Create(classes.Length);
        using (torch.no_grad())
        {
            var g = torch.manual_seed(3);
            foreach (var (_, m) in model.named_modules())
                if (m is TorchSharp.Modules.BatchNorm2d bn)
                {
                    bn.running_mean!.copy_(torch.randn(bn.running_mean.shape, generator: g) * 0.1f);
                    bn.running_var!.copy_(torch.rand(bn.running_var.shape, generator: g) + 0.5f);
                }
            foreach (var (key, p) in model.named_parameters())
                if (key.StartsWith(spec.HeadPrefix + ".")) p.mul_(40f);
        }
        model.eval();
        var manifest = new BundleManifest
        {
            Arch = arch, Classes = classes, Preprocessing = spec.Preprocessing,
            Dataset = new DatasetSummary(data, "folders", 6, 6, new Dictionary<string, int>(), new Dictionary<string, int>(), 0, []),
        };
        ModelBundle.Save(bundle, model, manifest);
        var images = Directory.EnumerateFiles(Path.Combine(data, "val"), "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        return (bundle, images);
    }
}
