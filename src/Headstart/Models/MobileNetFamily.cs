namespace Headstart.Models;

/// <summary>Registry records of MobileNetV2 and MobileNetV3 (Large, Small).</summary>
internal static class MobileNetFamily
{
    /// <summary>"features.first" .. "features.last" as prefixes.</summary>
    private static string[] Features(int first, int last) =>
        [.. Enumerable.Range(first, last - first + 1).Select(i => $"features.{i}")];

    public static IEnumerable<ModelSpec> Specs()
    {
        // Stages split where the resolution halves (blocks with stride 2), as torchvision's feature extractors do.
        yield return new ModelSpec
        {
            Name = "mobilenet_v2",
            Family = "mobilenet",
            Layout = new ForwardLayout.FeaturesThenClassifier(),
            Description = "MobileNetV2 1.0 (Sandler et al. 2018)",
            Factory = n => new MobileNetV2("mobilenet_v2", n),
            ClassifierPrefix = "classifier",
            HeadPrefix = "classifier.1",
            LayerGroups =
            [
                new("stem", Features(0, 1)),        // stem conv + first block, 1/2 resolution
                new("stage2", Features(2, 3)),      // 1/4
                new("stage3", Features(4, 6)),      // 1/8
                new("stage4", Features(7, 13)),     // 1/16
                new("stage5", Features(14, 18)),    // 1/32, incl. the 1x1 conv to 1280
                new("head", ["classifier"]),
            ],
            // Published in 2018, before PyTorch 1.6: legacy (non-zip) format.
            WeightSources = [TorchvisionHub.Source("mobilenet_v2-b0353104.pth", WeightFormat.PthLegacy)],
        };
        yield return new ModelSpec
        {
            Name = "mobilenet_v3_large",
            Family = "mobilenet",
            Layout = new ForwardLayout.FeaturesThenClassifier(),
            Description = "MobileNetV3-Large 1.0 (Howard et al. 2019)",
            Factory = n => new MobileNetV3("mobilenet_v3_large", MobileNetV3.Large, 1280, n),
            ClassifierPrefix = "classifier",
            HeadPrefix = "classifier.3",
            LayerGroups =
            [
                new("stem", Features(0, 1)),
                new("stage2", Features(2, 3)),
                new("stage3", Features(4, 6)),
                new("stage4", Features(7, 12)),
                new("stage5", Features(13, 16)),    // incl. the 1x1 conv to 960
                new("head", ["classifier"]),  // fc 960→1280, Hardswish, dropout, fc 1280→N
            ],
            WeightSources = [TorchvisionHub.Source("mobilenet_v3_large-8738ca79.pth", WeightFormat.PthZip)],
        };
        yield return new ModelSpec
        {
            Name = "mobilenet_v3_small",
            Family = "mobilenet",
            Layout = new ForwardLayout.FeaturesThenClassifier(),
            Description = "MobileNetV3-Small 1.0 (Howard et al. 2019)",
            Factory = n => new MobileNetV3("mobilenet_v3_small", MobileNetV3.Small, 1024, n),
            ClassifierPrefix = "classifier",
            HeadPrefix = "classifier.3",
            LayerGroups =
            [
                new("stem", Features(0, 1)),        // the first block already has stride 2
                new("stage2", Features(2, 3)),
                new("stage3", Features(4, 8)),
                new("stage4", Features(9, 12)),     // incl. the 1x1 conv to 576
                new("head", ["classifier"]),  // fc 576→1024, Hardswish, dropout, fc 1024→N
            ],
            WeightSources = [TorchvisionHub.Source("mobilenet_v3_small-047dcff4.pth", WeightFormat.PthZip)],
        };
    }
}
