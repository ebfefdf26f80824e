namespace Headstart.Models;

/// <summary>Registry records of the ResNet family, including the embedded CNTK ResNet18.</summary>
internal static class ResNetFamily
{
    private static LayerGroup[] Groups(string head = "fc") =>
    [
        new("stem", ["conv1", "bn1"]),
        new("layer1", ["layer1"]), new("layer2", ["layer2"]), new("layer3", ["layer3"]), new("layer4", ["layer4"]),
        new("head", [head]),
    ];

    private static ModelSpec Spec(string name, string description, bool bottleneck, int[] layers, string file,
        int groups = 1, int width = 64) => new()
    {
        Name = name,
        Family = "resnet",
        Layout = new ForwardLayout.ResNetBlocks(),
        Description = description,
        Factory = n => new ResNet(name, bottleneck, layers, n, groups, width),
        ClassifierPrefix = "fc",
        HeadPrefix = "fc",
        LayerGroups = Groups(),
        WeightSources = [TorchvisionHub.Source(file, WeightFormat.PthZip)],
    };

    public static IEnumerable<ModelSpec> Specs()
    {
        yield return new ModelSpec
        {
            Name = "resnet18-cntk",
            Family = "resnet",
            Layout = new ForwardLayout.ResNetBlocks(),
            Description = "ResNet18 [2,2,2,3] ImageNet weights from Microsoft.ML.DnnImageFeaturizer.ResNet18 (CNTK export); embedded",
            Factory = n => new ResNet("resnet18-cntk", false, [2, 2, 2, 3], n),
            ClassifierPrefix = "fc",
            HeadPrefix = "fc",
            LayerGroups = Groups(),
            // The CNTK export: BGR 0-255 minus a mean image (ResNetPreprocess.onnx), pool5 features and no head; ONNX
            // Runtime runs the file itself on the frozen fast path.
            WeightSources =
            [
                new("CNTK_IMAGENET", WeightFormat.Onnx, "ResNet18Onnx/ResNet18.onnx", Embedded: true)
                {
                    Preprocessing = new Preprocessing
                    {
                        InputSize = 224, ResizeSize = 256,
                        Mean = [0f, 0f, 0f], Std = [1f, 1f, 1f],
                        ChannelOrder = ChannelOrder.Bgr, ValueScale = 255f, MeanImage = "resnet18-cntk",
                    },
                    HeadClasses = null,
                    Engines = WeightEngines.TorchSharp | WeightEngines.OnnxRuntime,
                    Origin = "CNTK export in NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1",
                },
            ],
        };
        yield return Spec("resnet18", "ResNet-18 (He et al. 2015)", false, [2, 2, 2, 2], "resnet18-f37072fd.pth");
        yield return Spec("resnet34", "ResNet-34", false, [3, 4, 6, 3], "resnet34-b627a593.pth");
        yield return Spec("resnet50", "ResNet-50", true, [3, 4, 6, 3], "resnet50-0676ba61.pth");
        yield return Spec("resnet101", "ResNet-101", true, [3, 4, 23, 3], "resnet101-63fe2227.pth");
        yield return Spec("resnet152", "ResNet-152", true, [3, 8, 36, 3], "resnet152-394f9c45.pth");
        yield return Spec("resnext50_32x4d", "ResNeXt-50 32x4d", true, [3, 4, 6, 3], "resnext50_32x4d-7cdf4587.pth", 32, 4);
        yield return Spec("resnext101_32x8d", "ResNeXt-101 32x8d", true, [3, 4, 23, 3], "resnext101_32x8d-8ba56ff5.pth", 32, 8);
        yield return Spec("resnext101_64x4d", "ResNeXt-101 64x4d", true, [3, 4, 23, 3], "resnext101_64x4d-173b62eb.pth", 64, 4);
        yield return Spec("wide_resnet50_2", "Wide ResNet-50-2", true, [3, 4, 6, 3], "wide_resnet50_2-95faca4d.pth", 1, 128);
        yield return Spec("wide_resnet101_2", "Wide ResNet-101-2", true, [3, 4, 23, 3], "wide_resnet101_2-32ee1156.pth", 1, 128);
    }
}
