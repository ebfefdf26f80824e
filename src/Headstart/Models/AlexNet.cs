using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>
/// torchvision's AlexNet (the "one weird trick" variant, 64-192-384-256-256 channels), with torchvision state-dict
/// keys. The classifier section is the whole <c>classifier</c> Sequential (dropout, fc 9216→4096, dropout,
/// fc 4096→4096, fc 4096→N), so freezing the features trains all three FC layers, as the transfer-learning seed does.
/// </summary>
public sealed class AlexNet : ImageClassifier
{
    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Sequential classifier;
    private readonly int numClasses;

    public AlexNet(string name = "alexnet", int numClasses = 1000, double dropout = 0.5) : base(name)
    {
        this.numClasses = numClasses;
        features = Sequential(
            Conv2d(3, 64, 11, stride: 4, padding: 2), ReLU(inplace: true),
            MaxPool2d(3, stride: 2),
            Conv2d(64, 192, 5, padding: 2), ReLU(inplace: true),
            MaxPool2d(3, stride: 2),
            Conv2d(192, 384, 3, padding: 1), ReLU(inplace: true),
            Conv2d(384, 256, 3, padding: 1), ReLU(inplace: true),
            Conv2d(256, 256, 3, padding: 1), ReLU(inplace: true),
            MaxPool2d(3, stride: 2));
        avgpool = AdaptiveAvgPool2d((6, 6));
        classifier = Sequential(
            Dropout(dropout),
            Linear(256 * 6 * 6, 4096), ReLU(inplace: true),
            Dropout(dropout),
            Linear(4096, 4096), ReLU(inplace: true),
            Linear(4096, numClasses));
        // torchvision keeps PyTorch's default (kaiming-uniform) initialisation for AlexNet, as TorchSharp does.
        RegisterComponents();
    }

    public override int NumClasses => numClasses;

    public override Tensor ForwardFeatures(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = avgpool.call(features.call(input));   // (B, 256, 6, 6)
        return x.flatten(1).MoveToOuterDisposeScope(); // (B, 9216)
    }

    public override Tensor ForwardClassifier(Tensor features) => classifier.call(features);
}
