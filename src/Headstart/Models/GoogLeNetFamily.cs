namespace Headstart.Models;

/// <summary>Registry record of GoogLeNet.</summary>
internal static class GoogLeNetFamily
{
    public static IEnumerable<ModelSpec> Specs()
    {
        yield return new ModelSpec
        {
            Name = "googlenet",
            Family = "googlenet",
            Layout = new ForwardLayout.ChildrenInOrder(Head: "dropout"),
            Description = "GoogLeNet / Inception v1 with BatchNorm (Szegedy et al. 2014)",
            Factory = n => new GoogLeNet("googlenet", n),
            ClassifierPrefix = "fc",
            HeadPrefix = "fc",
            LayerGroups =
            [
                new("stem", ["conv1", "conv2", "conv3"]),
                new("inception3", ["inception3a", "inception3b"]),
                new("inception4", ["inception4a", "inception4b", "inception4c", "inception4d", "inception4e"]),
                new("inception5", ["inception5a", "inception5b"]),
                new("head", ["fc"]),
            ],
            // The file carries aux1/aux2, which torchvision itself drops after loading (they were never trained).
            IgnoredWeightPrefixes = ["aux1", "aux2"],
            WeightSources = [TorchvisionHub.Source("googlenet-1378be20.pth", WeightFormat.PthLegacy)],
        };
    }
}
