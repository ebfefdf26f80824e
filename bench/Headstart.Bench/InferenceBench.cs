using System.Diagnostics;
using Headstart.Data;
using Headstart.Inference;

namespace Headstart.Bench;

/// <summary>An inference engine under test: a trained bundle run on images (issue 8 item 3).</summary>
public interface IInferenceEngine : IDisposable
{
    /// <summary>Classifies one encoded image end to end (decode, preprocess, forward, softmax).</summary>
    Prediction Predict(byte[] encodedImage);

    /// <summary>Classifies decoded images in one batched forward pass.</summary>
    IReadOnlyList<Prediction> PredictDecoded(IReadOnlyList<DecodedImage> images);

    /// <summary>The decode-time minimum short side the engine's preprocessing wants (see ImageTransform.DecodeHint).</summary>
    int DecodeHint { get; }
}

/// <summary>TorchSharp: <see cref="Classifier"/>, the app API.</summary>
public sealed class TorchEngine(string bundleDir, InferenceEngine engine = InferenceEngine.Torch) : IInferenceEngine
{
    // The same Classifier API either way: TorchSharp, or the bundle exported in memory and run by ONNX Runtime.
    private readonly Classifier classifier = Classifier.Load(bundleDir, engine: engine);

    public int DecodeHint => ImageTransform.Eval(classifier.Manifest.Preprocessing).DecodeHint;
    public Prediction Predict(byte[] encodedImage) => classifier.Predict(encodedImage);
    public IReadOnlyList<Prediction> PredictDecoded(IReadOnlyList<DecodedImage> images) => classifier.PredictDecoded(images);
    public void Dispose() => classifier.Dispose();
}

/// <summary>Latency (batch 1, from encoded bytes) and throughput (batch 32, decoded images) of one engine.</summary>
public sealed record InferenceResult(string Engine, bool Available, string? Note, int Images, double LatencyMedianMs,
    double LatencyP90Ms, double LatencyMeanMs, int BatchSize, double ThroughputImagesPerSecond);

public static class InferenceBench
{
    public static readonly string[] Engines = ["torch", "onnx"];

    /// <summary>The engine named <paramref name="name"/> on <paramref name="bundleDir"/>, or null with the reason.</summary>
    public static IInferenceEngine? Create(string name, string bundleDir, out string? why)
    {
        why = null;
        switch (name)
        {
            case "torch":
                return new TorchEngine(bundleDir);
            case "onnx":
                return new TorchEngine(bundleDir, InferenceEngine.Onnx);
            default:
                why = $"unknown engine '{name}'";
                return null;
        }
    }

    public static InferenceResult Run(string engineName, string bundleDir, IReadOnlyList<string> imagePaths, int batchSize, Action<string> log)
    {
        using var engine = Create(engineName, bundleDir, out var why);
        if (engine is null)
        {
            log($"inference {engineName}: skipped: {why}");
            return new InferenceResult(engineName, false, why, 0, double.NaN, double.NaN, double.NaN, batchSize, double.NaN);
        }
        var bytes = imagePaths.Select(File.ReadAllBytes).ToList(); // file reads are not part of either measure
        log($"inference {engineName}: latency over {bytes.Count} images at batch 1, throughput at batch {batchSize}...");
        for (int i = 0; i < Math.Min(3, bytes.Count); i++) engine.Predict(bytes[i]); // warm-up
        var latencies = new List<double>(bytes.Count);
        foreach (var b in bytes)
        {
            var sw = Stopwatch.StartNew();
            engine.Predict(b);
            latencies.Add(sw.Elapsed.TotalMilliseconds);
        }
        latencies.Sort();

        var decoded = bytes.Select(b => ImageDecoder.Decode(b, null, engine.DecodeHint)).ToList();
        engine.PredictDecoded(decoded.Take(batchSize).ToList()); // warm-up at the batch size
        var total = Stopwatch.StartNew();
        for (int i = 0; i < decoded.Count; i += batchSize)
            engine.PredictDecoded(decoded.Skip(i).Take(batchSize).ToList());
        double throughput = decoded.Count / total.Elapsed.TotalSeconds;

        return new InferenceResult(engineName, true, null, bytes.Count, Percentile(latencies, 0.5), Percentile(latencies, 0.9),
            latencies.Average(), batchSize, throughput);
    }

    private static double Percentile(List<double> sorted, double q) => sorted[(int)Math.Min(sorted.Count - 1, Math.Round(q * (sorted.Count - 1)))];
}
