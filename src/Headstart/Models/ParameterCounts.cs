namespace Headstart.Models;

/// <summary>
/// Parameter counts of every registered model at 1000 classes, so that listing the zoo does not build ~60 networks.
/// Generated from the models themselves; a registry contract test rebuilds each model and checks its entry.
/// </summary>
internal static class ParameterCounts
{
    public static readonly IReadOnlyDictionary<string, long> AtImageNet = new Dictionary<string, long>(StringComparer.Ordinal)
    {
        ["resnet18-cntk"] = 16410152,
        ["resnet18"] = 11689512,
        ["resnet34"] = 21797672,
        ["resnet50"] = 25557032,
        ["resnet101"] = 44549160,
        ["resnet152"] = 60192808,
        ["resnext50_32x4d"] = 25028904,
        ["resnext101_32x8d"] = 88791336,
        ["resnext101_64x4d"] = 83455272,
        ["wide_resnet50_2"] = 68883240,
        ["wide_resnet101_2"] = 126886696,
        ["alexnet"] = 61100840,
        ["vgg11"] = 132863336,
        ["vgg13"] = 133047848,
        ["vgg16"] = 138357544,
        ["vgg19"] = 143667240,
        ["vgg11_bn"] = 132868840,
        ["vgg13_bn"] = 133053736,
        ["vgg16_bn"] = 138365992,
        ["vgg19_bn"] = 143678248,
        ["mobilenet_v2"] = 3504872,
        ["mobilenet_v3_large"] = 5483032,
        ["mobilenet_v3_small"] = 2542856,
        ["googlenet"] = 6624904,
        ["inception_v3"] = 23834568,
        ["squeezenet1_0"] = 1248424,
        ["squeezenet1_1"] = 1235496,
        ["densenet121"] = 7978856,
        ["densenet161"] = 28681000,
        ["densenet169"] = 14149480,
        ["densenet201"] = 20013928,
        ["efficientnet_b0"] = 5288548,
        ["efficientnet_b1"] = 7794184,
        ["efficientnet_b2"] = 9109994,
        ["efficientnet_b3"] = 12233232,
        ["efficientnet_b4"] = 19341616,
        ["efficientnet_b5"] = 30389784,
        ["efficientnet_b6"] = 43040704,
        ["efficientnet_b7"] = 66347960,
        ["convnext_tiny"] = 28589128,
        ["convnext_small"] = 50223688,
        ["convnext_base"] = 88591464,
        ["shufflenet_v2_x0_5"] = 1366792,
        ["shufflenet_v2_x1_0"] = 2278604,
        ["shufflenet_v2_x1_5"] = 3503624,
        ["shufflenet_v2_x2_0"] = 7393996,
        ["mnasnet0_5"] = 2218512,
        ["mnasnet0_75"] = 3170208,
        ["mnasnet1_0"] = 4383312,
        ["mnasnet1_3"] = 6282256,
        ["small_cnn"] = 211416,
    };
}
