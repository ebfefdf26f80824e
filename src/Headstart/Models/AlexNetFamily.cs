namespace Headstart.Models;

/// <summary>Registry record of AlexNet.</summary>
internal static class AlexNetFamily
{
    public static IEnumerable<ModelSpec> Specs()
    {
        const string file = "alexnet-owt-7be5be79.pth";
        yield return new ModelSpec
        {
            Name = "alexnet",
            Family = "alexnet",
            Layout = new ForwardLayout.FeaturesThenClassifier(GlobalPool: false),
            Description = "AlexNet (Krizhevsky 2014, 'one weird trick' variant)",
            Factory = n => new AlexNet("alexnet", n),
            ClassifierPrefix = "classifier",
            HeadPrefix = "classifier.6",
            // features: 0 conv1, 3 conv2, 6/8/10 conv3-5 (ReLUs and pools hold no parameters).
            LayerGroups =
            [
                new("stem", ["features.0"]),
                new("conv2", ["features.3"]),
                new("conv3-5", ["features.6", "features.8", "features.10"]),
                new("head", ["classifier"]),
            ],
            WeightSources = [TorchvisionHub.Source(file, WeightFormat.PthLegacy)],
        };
    }
}
