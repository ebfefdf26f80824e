using Headstart.Onnx;

namespace Headstart.Weights;

/// <summary>Reads pretrained weights out of ONNX files into torchvision state_dicts.</summary>
public static class OnnxWeights
{
    /// <summary>
    /// Imports an ONNX model whose architecture Headstart recognises. Today that is torchvision's BasicBlock
    /// <c>ResNet</c> feature extractor (conv1 … layer4 + global average pool, no fc), e.g. the CNTK ResNet18 of
    /// Microsoft.ML.DnnImageFeaturizer.ResNet18. Anything else is a <see cref="HeadstartException"/>.
    /// </summary>
    public static StateDict Read(string path) => ImportResNet(path).State;

    /// <summary>
    /// Imports the CNTK ResNet18 shipped in Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 (ResNet18Onnx/ResNet18.onnx)
    /// as the state_dict of torchvision's <c>ResNet(BasicBlock, [2, 2, 2, 3])</c> without fc: conv1, bn1,
    /// layer1..layer4 (layer4 has a third block) with torchvision keys. The model reads BGR 0-255 minus the mean image
    /// (see <see cref="ReadMeanImage"/>) and its features are the 512-d pool5 output.
    /// </summary>
    public static StateDict ReadCntkResNet18(string onnxPath)
    {
        var result = ImportResNet(onnxPath);
        if (!result.Layers.SequenceEqual([2, 2, 2, 3]) || result.FeatureDim != 512 || result.InputSize != 224)
        {
            result.State.Dispose();
            throw new HeadstartException(
                $"'{onnxPath}' is a ResNet with blocks [{string.Join(", ", result.Layers)}], {result.FeatureDim}-d features and " +
                $"{result.InputSize} px input, not the CNTK ResNet18 ([2, 2, 2, 3], 512, 224). Use OnnxWeights.Read for other ResNets.");
        }
        result.State.Metadata["format"] = "onnx";
        result.State.Metadata["source"] = Path.GetFileName(onnxPath);
        return result.State;
    }

    private static OnnxResNetImporter.Result ImportResNet(string path)
    {
        var model = OnnxProtoExtensions.LoadModel(path);
        try
        {
            return OnnxResNetImporter.Import(model, Path.GetDirectoryName(Path.GetFullPath(path))!);
        }
        catch (FormatException e)
        {
            throw new HeadstartException(
                $"'{path}' is not an ONNX architecture Headstart can import (supported: torchvision-shaped BasicBlock ResNet " +
                $"feature extractors such as the CNTK ResNet18): {e.Message}.", e);
        }
    }

    /// <summary>
    /// Reads the mean image of a CNTK/ML.NET preprocessing graph such as ResNetPrepOnnx/ResNetPreprocess.onnx, which is
    /// <c>OriginalInput (1, 3, 224, 224) RGB 0-255 → Split(axis 1) → Concat(B, G, R) → Sub(MeanImage (1, 3, 224, 224))</c>.
    /// The graph is checked to compute exactly that. Returns MeanImage flattened as (3, 224, 224) in the order the
    /// network expects, BGR, in 0-255 pixel units: the backbone input is <c>bgr255 - mean</c>.
    /// </summary>
    public static float[] ReadMeanImage(string preprocessOnnxPath)
    {
        var model = OnnxProtoExtensions.LoadModel(preprocessOnnxPath);
        var graph = new OnnxGraphIndex(model.Graph);
        try
        {
            var input = graph.DataInputs.SingleOrDefault() ?? throw new FormatException("expected one input");
            var split = graph.SingleConsumer(input.Name, "Split");
            if (split.Int("axis", 0) != 1 || split.Output.Count != 3) throw new FormatException($"{split.Describe()} does not split 3 channels");
            var concat = graph.ConsumersOf(split.Output[0]).SingleOrDefault() ?? throw new FormatException("the split channels are not concatenated");
            if (concat.OpType != "Concat" || concat.Int("axis", 0) != 1 || !concat.Input.SequenceEqual(split.Output.Reverse()))
                throw new FormatException($"{concat.Describe()} does not reverse the channel order (RGB → BGR)");
            var sub = graph.SingleConsumer(concat.Output[0], "Sub");
            if (sub.Input[0] != concat.Output[0] || !graph.Graph.Output.Any(o => o.Name == sub.Output[0]))
                throw new FormatException($"{sub.Describe()} is not 'BGR input - mean image' feeding the graph output");
            var mean = graph.Initializer(sub, 1);
            var shape = mean.Dims.ToArray();
            if (shape.Length != 4 || shape[0] != 1 || shape[1] != 3 || shape[2] != input.Shape()[2] || shape[3] != input.Shape()[3])
                throw new FormatException($"the mean image has shape [{string.Join(", ", shape)}], expected (1, 3, H, W) like the input");
            return mean.ToFloats(Path.GetDirectoryName(Path.GetFullPath(preprocessOnnxPath))!);   // (3·H·W), BGR, 0-255
        }
        catch (FormatException e)
        {
            throw new HeadstartException(
                $"'{preprocessOnnxPath}' is not a CNTK mean-image preprocessing graph (RGB → BGR, minus a mean image): {e.Message}.", e);
        }
    }
}
