namespace Headstart.Models;

/// <summary>Registry record of Inception v3.</summary>
internal static class InceptionFamily
{
    public static IEnumerable<ModelSpec> Specs()
    {
        yield return new ModelSpec
        {
            Name = "inception_v3",
            Family = "inception",
            Layout = new ForwardLayout.ChildrenInOrder(Head: "dropout"),
            Description = "Inception v3 (Szegedy et al. 2015), 299 px input",
            Factory = n => new InceptionV3("inception_v3", n),
            ClassifierPrefix = "fc",
            HeadPrefix = "fc",
            LayerGroups =
            [
                new("stem", ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"]),
                new("mixed5", ["Mixed_5b", "Mixed_5c", "Mixed_5d"]),                              // 35x35
                new("mixed6", ["Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"]),      // 17x17
                new("mixed7", ["Mixed_7a", "Mixed_7b", "Mixed_7c"]),                              // 8x8
                new("head", ["fc"]),
            ],
            // torchvision's transforms for these weights: resize 342, centre crop 299, ImageNet mean/std.
            Preprocessing = Preprocessing.ImageNet with { InputSize = 299, ResizeSize = 342 },
            // The file carries the training-only auxiliary classifier; inference never uses it.
            IgnoredWeightPrefixes = ["AuxLogits"],
            WeightSources = [TorchvisionHub.Source("inception_v3_google-0cc3c7bd.pth", WeightFormat.PthZip)],
        };
    }
}
