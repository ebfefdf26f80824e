using Headstart.Data;

namespace Headstart.Training;

/// <summary>
/// The names users type for the options' enums ("fine-tune", "light", "onnx", "small-cnn"), read in one place for the
/// CLI's verbs and the Studio's requests. An unknown name is a <see cref="HeadstartException"/> that lists the known ones.
/// </summary>
public static class OptionNames
{
    public static Strategy Strategy(string name) => name switch
    {
        "frozen" => Training.Strategy.Frozen,
        "fine-tune" => Training.Strategy.FineTune,
        "full" => Training.Strategy.Full,
        _ => throw new HeadstartException($"unknown strategy '{name}' (frozen, fine-tune or full)"),
    };

    public static AugmentLevel Augment(string name) => name switch
    {
        "none" => AugmentLevel.None,
        "flip" => AugmentLevel.Flip,
        "light" => AugmentLevel.Light,
        "standard" => AugmentLevel.Standard,
        _ => throw new HeadstartException($"unknown augmentation '{name}' (none, flip, light or standard)"),
    };

    public static FeatureEngine Engine(string name) => name switch
    {
        "auto" => FeatureEngine.Auto,
        "torch" => FeatureEngine.Torch,
        "onnx" => FeatureEngine.Onnx,
        _ => throw new HeadstartException($"unknown engine '{name}' (auto, torch or onnx)"),
    };

    /// <summary>How the head is fitted on cached features; "auto" (null) leaves it to the planner.</summary>
    public static HeadFit? HeadFit(string name) => name switch
    {
        "auto" => null,
        "sgd" => Training.HeadFit.Sgd,
        "lbfgs" => Training.HeadFit.Lbfgs,
        _ => throw new HeadstartException($"unknown head fit '{name}' (auto, sgd or lbfgs)"),
    };

    /// <summary>A recipe a comparison may leave out.</summary>
    public static Recipe SkippableRecipe(string name) => name switch
    {
        "frozen" => Recipe.Frozen,
        "fine-tune" or "finetune" => Recipe.FineTune,
        "scratch" => Recipe.Scratch,
        "small-cnn" or "cnn" => Recipe.SmallCnn,
        _ => throw new HeadstartException($"unknown recipe '{name}'; use frozen, fine-tune, scratch or small-cnn"),
    };
}
