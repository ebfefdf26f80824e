using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Headstart.Models;

/// <summary>
/// torchvision's VGG (configurations A/B/D/E = vgg11/13/16/19, optionally with BatchNorm), with torchvision state-dict
/// keys. The classifier section is the whole <c>classifier</c> Sequential (fc 25088→4096, dropout, fc 4096→4096,
/// dropout, fc 4096→N).
/// </summary>
public sealed class Vgg : ImageClassifier
{
    /// <summary>Conv widths per stage (each stage ends with a 2x2 max-pool), by depth, as torchvision's cfgs.</summary>
    public static IReadOnlyDictionary<int, int[][]> Configurations { get; } = new Dictionary<int, int[][]>
    {
        [11] = [[64], [128], [256, 256], [512, 512], [512, 512]],
        [13] = [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
        [16] = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
        [19] = [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
    };

    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Sequential classifier;
    private readonly int numClasses;

    /// <param name="depth">11, 13, 16 or 19.</param>
    /// <param name="batchNorm">true for the vggNN_bn variants (BatchNorm after every conv).</param>
    public Vgg(string name, int depth, bool batchNorm, int numClasses = 1000, double dropout = 0.5) : base(name)
    {
        if (!Configurations.TryGetValue(depth, out var stages))
            throw new ArgumentOutOfRangeException(nameof(depth), depth, "VGG depth must be 11, 13, 16 or 19");
        this.numClasses = numClasses;
        var layers = new List<Module<Tensor, Tensor>>();
        long inChannels = 3;
        foreach (var stage in stages)
        {
            foreach (var width in stage)
            {
                layers.Add(Conv2d(inChannels, width, 3, padding: 1));
                if (batchNorm) layers.Add(BatchNorm2d(width));
                layers.Add(ReLU(inplace: true));
                inChannels = width;
            }
            layers.Add(MaxPool2d(2, stride: 2));
        }
        features = Sequential(layers);
        avgpool = AdaptiveAvgPool2d((7, 7));
        classifier = Sequential(
            Linear(512 * 7 * 7, 4096), ReLU(inplace: true), Dropout(dropout),
            Linear(4096, 4096), ReLU(inplace: true), Dropout(dropout),
            Linear(4096, numClasses));
        RegisterComponents();
        InitWeights();   // after registration: named_modules() only sees registered submodules
    }

    public override int NumClasses => numClasses;

    /// <summary>
    /// Per stage, the indices in <c>features</c> of the modules that hold parameters (convs, and BatchNorms for _bn),
    /// matching the layout the constructor builds; used to declare layer groups.
    /// </summary>
    public static IReadOnlyList<int[]> StageParameterModules(int depth, bool batchNorm)
    {
        var result = new List<int[]>();
        int index = 0;
        foreach (var stage in Configurations[depth])
        {
            var indices = new List<int>();
            foreach (var _ in stage)
            {
                indices.Add(index++);                 // conv
                if (batchNorm) indices.Add(index++);  // BatchNorm
                index++;                              // ReLU
            }
            index++;                                  // max-pool
            result.Add([.. indices]);
        }
        return result;
    }

    public override Tensor ForwardFeatures(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = avgpool.call(features.call(input));   // (B, 512, 7, 7)
        return x.flatten(1).MoveToOuterDisposeScope(); // (B, 25088)
    }

    public override Tensor ForwardClassifier(Tensor features) => classifier.call(features);

    // torchvision VGG: kaiming-normal (fan_out, relu) convs, BatchNorm 1/0, Linear N(0, 0.01): MobileNet's scheme
    // (kaiming's default leaky_relu with slope 0 has the same gain as relu).
    private void InitWeights() => Blocks.InitConvBnLinear(this);
}
