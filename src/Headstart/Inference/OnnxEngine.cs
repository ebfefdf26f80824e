using System.Text.Json;
using Headstart.Export;
using Headstart.Models;
using Microsoft.ML.OnnxRuntime;

namespace Headstart.Inference;

/// <summary>Which runtime executes a <see cref="Classifier"/>.</summary>
public enum InferenceEngine
{
    /// <summary>TorchSharp (libtorch), the bundle's own model.</summary>
    Torch,
    /// <summary>ONNX Runtime, on an exported (or exported-on-the-fly) model.</summary>
    Onnx,
}

/// <summary>
/// One ONNX Runtime session over a model written by <see cref="OnnxExporter"/>, reused for every batch. Run is
/// thread-safe in ORT, so no lock is needed here. Reads the class names, preprocessing and input format from the
/// model's metadata_props.
/// </summary>
internal sealed class OnnxEngine : IDisposable
{
    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();

    public OnnxEngine(byte[] model) : this(new InferenceSession(model)) { }
    public OnnxEngine(string path) : this(new InferenceSession(path)) { }

    private OnnxEngine(InferenceSession session)
    {
        this.session = session;
        var meta = session.ModelMetadata.CustomMetadataMap;
        if (!meta.TryGetValue("headstart.classes", out var classes) || !meta.TryGetValue("headstart.preprocessing", out var pre))
        {
            session.Dispose();
            throw new HeadstartException("this ONNX model was not exported by Headstart (its metadata has no headstart.classes / " +
                                         "headstart.preprocessing); export it with 'headstart export BUNDLE --format onnx'.");
        }
        Classes = JsonSerializer.Deserialize<string[]>(classes)!;
        Preprocessing = JsonSerializer.Deserialize<Preprocessing>(pre, OnnxExporter.MetadataJson)!;
        Arch = meta.TryGetValue("headstart.model", out var m) ? m : "onnx";
        Uint8Input = meta.TryGetValue("headstart.input_format", out var f) && f == "uint8-hwc";
        InputSize = (int)session.InputMetadata[OnnxExporter.InputName].Dimensions[Uint8Input ? 1 : 2];
        TestTimeFlip = meta.TryGetValue(OnnxExporter.TestTimeFlipKey, out var t) && t == "true";
    }

    public IReadOnlyList<string> Classes { get; }
    public Preprocessing Preprocessing { get; }
    public string Arch { get; }
    public bool Uint8Input { get; }
    public int InputSize { get; }
    /// <summary>The graph averages each image with its mirror image (recorded in its metadata; the graph does it).</summary>
    public bool TestTimeFlip { get; }

    /// <summary>(N, 3, S, S) RGB 0-1, planar → (N, K) probabilities, row-major.</summary>
    public float[] Probabilities(float[] rgb01, int n)
    {
        int s = InputSize;
        using var input = Uint8Input
            ? OrtValue.CreateTensorValueFromMemory(ToHwcBytes(rgb01, n, s), [n, s, s, 3])
            : OrtValue.CreateTensorValueFromMemory(rgb01, [n, 3, s, s]);
        using var outputs = session.Run(runOptions, [OnnxExporter.InputName], [input], [OnnxExporter.ProbabilitiesName]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static byte[] ToHwcBytes(float[] planar, int n, int s)
    {
        int plane = s * s;
        var bytes = new byte[n * 3 * plane];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < plane; p++)
                    bytes[(i * plane + p) * 3 + c] = (byte)Math.Clamp(MathF.Round(planar[(i * 3 + c) * plane + p] * 255f), 0, 255);
        return bytes;
    }

    public void Dispose()
    {
        runOptions.Dispose();
        session.Dispose();
    }
}
