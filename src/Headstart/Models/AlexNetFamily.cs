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
                new("classifier", ["classifier"]),
            ],
            WeightSources = [TorchvisionHub.Source(file, WeightFormat.PthLegacy)],
        };
    }
}

/// <summary>torchvision's weight store: https://download.pytorch.org/models/.</summary>
internal static class TorchvisionHub
{
    public const string BaseUrl = "https://download.pytorch.org/models/";

    /// <summary>
    /// An IMAGENET1K_V1 source for a torchvision file; its name ends in the first 8 hex digits of its SHA-256
    /// (e.g. "alexnet-owt-7be5be79.pth" → "7be5be79").
    /// </summary>
    public static WeightSource Source(string fileName, WeightFormat format, string id = "IMAGENET1K_V1") =>
        new(id, format, fileName, BaseUrl + fileName, Path.GetFileNameWithoutExtension(fileName).Split('-')[^1]);
}
