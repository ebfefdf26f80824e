namespace Headstart.Models;

/// <summary>Registry records of VGG-11/13/16/19, with and without BatchNorm.</summary>
internal static class VggFamily
{
    private static ModelSpec Spec(int depth, bool batchNorm, string file)
    {
        string name = batchNorm ? $"vgg{depth}_bn" : $"vgg{depth}";
        // One group per stage between max-pools (the first is the stem), then the whole classifier as "head".
        var groups = Vgg.StageParameterModules(depth, batchNorm)
            .Select((indices, i) => new LayerGroup(i == 0 ? "stem" : $"stage{i + 1}", [.. indices.Select(ix => $"features.{ix}")]))
            .Append(new LayerGroup("head", ["classifier"]))
            .ToArray();
        return new ModelSpec
        {
            Name = name,
            Family = "vgg",
            Layout = new ForwardLayout.FeaturesThenClassifier(GlobalPool: false),
            Description = $"VGG-{depth}{(batchNorm ? " with BatchNorm" : "")} (Simonyan & Zisserman 2014)",
            Factory = n => new Vgg(name, depth, batchNorm, n),
            ClassifierPrefix = "classifier",
            HeadPrefix = "classifier.6",
            LayerGroups = groups,
            // torchvision's VGG files predate PyTorch 1.6 and use the legacy (non-zip) format.
            WeightSources = [TorchvisionHub.Source(file, WeightFormat.PthLegacy)],
        };
    }

    public static IEnumerable<ModelSpec> Specs()
    {
        yield return Spec(11, false, "vgg11-8a719046.pth");
        yield return Spec(13, false, "vgg13-19584684.pth");
        yield return Spec(16, false, "vgg16-397923af.pth");
        yield return Spec(19, false, "vgg19-dcbb9e9d.pth");
        yield return Spec(11, true, "vgg11_bn-6002323d.pth");
        yield return Spec(13, true, "vgg13_bn-abd245e5.pth");
        yield return Spec(16, true, "vgg16_bn-6c64b313.pth");
        yield return Spec(19, true, "vgg19_bn-c79401a0.pth");
    }
}
