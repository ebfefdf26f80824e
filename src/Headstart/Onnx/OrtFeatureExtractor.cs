using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using static TorchSharp.torch;

namespace Headstart.Onnx;

/// <summary>
/// A frozen backbone run by ONNX Runtime instead of TorchSharp: one <see cref="InferenceSession"/> reused for every
/// batch. For resnet18-cntk it runs the very file the TorchSharp weights are imported from, so features agree to
/// float rounding. The file's fixed batch dimension (CNTK exports batch 1) is made symbolic on load, so any batch size
/// runs in one call. Thread-safe (ORT sessions are); dispose to free the session.
/// </summary>
public sealed class OrtFeatureExtractor : IDisposable
{
    private readonly InferenceSession session;
    private readonly string inputName, outputName;
    private readonly long[] inputShape;   // (C, H, W)

    /// <param name="onnxPath">A feature extractor with one (N, C, H, W) float input and one (N, F[, 1, 1]) output.</param>
    /// <param name="intraOpThreads">ORT worker threads; default: all cores.</param>
    /// <param name="allowSpinning">Let idle ORT workers spin-wait; turn off when other threads (decoding) share the cores.</param>
    /// <param name="featureOutput">The output that carries the features, for graphs with several; null = the only one.</param>
    public OrtFeatureExtractor(string onnxPath, int? intraOpThreads = null, bool allowSpinning = true, string? featureOutput = null)
    {
        if (!File.Exists(onnxPath)) throw new HeadstartException($"ONNX file not found: '{onnxPath}'.");
        // Batch dimension → symbolic "N", editing only the graph's input and outputs (not the 45 MB of weights).
        var edit = OnnxProtoExtensions.ReadMapped(onnxPath, bytes => OnnxBatchEdit.MakeBatchSymbolic(bytes, onnxPath, featureOutput: featureOutput));
        var inDims = edit.Input.Shape();
        var outDims = edit.Output.Shape();
        if (inDims.Length != 4 || inDims.Skip(1).Any(d => d is null) || outDims.Length < 2 || outDims[1] is null)
            throw new HeadstartException($"'{onnxPath}' has input [{string.Join(", ", inDims)}] / output [{string.Join(", ", outDims)}]; expected (N, C, H, W) / (N, F, ...).");
        inputName = edit.Input.Name;
        outputName = edit.Output.Name;
        inputShape = [.. inDims.Skip(1).Select(d => d!.Value)];
        FeatureDim = outDims.Skip(1).Aggregate(1L, (a, d) => a * (d ?? throw new HeadstartException($"'{onnxPath}' has a dynamic feature dimension.")));

        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = intraOpThreads ?? Environment.ProcessorCount,
            InterOpNumThreads = 1,
        };
        // ORT's idle workers spin for work by default: best for a bare forward loop, but during extraction the decode
        // threads need those cores (the measured difference is in bench/README.md).
        if (!allowSpinning) options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        session = new InferenceSession(edit.Model, options);
    }

    /// <summary>Width of the features, e.g. 512.</summary>
    public long FeatureDim { get; }

    /// <summary>
    /// (B, C, H, W) float32 input, preprocessed exactly as the model expects (for resnet18-cntk: BGR 0-255 minus the
    /// mean image) → (B, FeatureDim) features, on the CPU.
    /// </summary>
    public Tensor Extract(Tensor batch)
    {
        if (batch.dim() != 4 || !batch.shape.Skip(1).SequenceEqual(inputShape))
            throw new ArgumentException($"expected a (B, {string.Join(", ", inputShape)}) batch, got ({string.Join(", ", batch.shape)})", nameof(batch));
        if (batch.dtype != ScalarType.Float32) throw new ArgumentException($"expected float32, got {batch.dtype}", nameof(batch));
        long b = batch.shape[0];
        // ONNX Runtime reads the tensor's own (contiguous, CPU) memory: no copy of the 19 MB a batch of 32 holds.
        using var cpu = batch.cpu();
        using var dense = cpu.contiguous();
        var bytes = dense.bytes;                                                                  // (B·C·H·W) floats, a view
        unsafe
        {
            fixed (byte* data = bytes)
            {
                using var inputValue = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float,
                    [b, .. inputShape], (IntPtr)data, bytes.Length);
                using var runOptions = new RunOptions();
                using var outputs = session.Run(runOptions, [inputName], [inputValue], [outputName]);
                var features = outputs[0].GetTensorDataAsSpan<float>();                          // (B·F)
                return tensor(features.ToArray(), [b, FeatureDim]);                              // (B, F)
            }
        }
    }

    public void Dispose() => session.Dispose();
}
