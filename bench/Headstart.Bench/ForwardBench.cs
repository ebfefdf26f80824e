using System.Diagnostics;
using System.Runtime.InteropServices;
using Headstart.Onnx;
using Headstart.Data;
using Headstart.Models;
using Headstart.Training;
using Headstart.Weights;
using static TorchSharp.torch;

namespace Headstart.Bench;

/// <summary>T_decode and T_forward for one image set: seconds for the whole set, and the batch-0 features of each engine.</summary>
public sealed record ForwardResult(int Images, int BatchSize, int DecodeWorkers, double DecodeSeconds, int TorchThreads,
    double TorchSeconds, double OrtSeconds, double OrtVsTorchMaxAbsDiff, float FeatureMaxAbs)
{
    public double DecodeMsPerImage => 1000 * DecodeSeconds / Images;
    public double TorchMsPerImage => 1000 * TorchSeconds / Images;
    public double OrtMsPerImage => 1000 * OrtSeconds / Images;
    /// <summary>The floor T_train is held against: the faster engine's bare forward over the set.</summary>
    public double FastestSeconds => Math.Min(TorchSeconds, OrtSeconds);
    public string FastestEngine => OrtSeconds < TorchSeconds ? "ONNX Runtime" : "TorchSharp";
}

/// <summary>
/// Decodes the images once with the eval transform (timed: T_decode), keeps the batches in memory, then times the
/// bare resnet18-cntk backbone over them with both engines (T_forward): TorchSharp's ForwardFeatures in eval mode under
/// no_grad, and <see cref="OrtFeatureExtractor"/>. One untimed warm-up batch per engine; the best of
/// <c>repeats</c> passes counts. Also writes what the PyTorch script needs to run the same network on the same input.
/// </summary>
public static class ForwardBench
{
    public const string Model = "resnet18-cntk";

    public static ForwardResult Run(ImageDataset data, int maxImages, int batchSize, int repeats, string exportDir, Action<string> log)
    {
        var spec = ModelRegistry.Get(Model);
        var pre = spec.PreprocessingFor(spec.WeightSources.FirstOrDefault());   // the embedded weights' own
        float[]? meanImage = pre.MeanImage is { } mi ? MeanImages.Get(mi) : null;
        var evalTf = ImageTransform.Eval(pre, meanImage);
        var samples = data.Train.Concat(data.Val).Take(maxImages).ToList();
        int workers = Environment.ProcessorCount; // BatchLoader's default (workers: 0)

        log($"T_decode: decoding + preprocessing {samples.Count} images (BatchLoader, eval transform, {workers} workers)...");
        var batches = new List<Tensor>();
        try
        {
            int[] order = Enumerable.Range(0, samples.Count).ToArray();
            var sw = Stopwatch.StartNew();
            foreach (var batch in BatchLoader.Batches(data.Source, samples, order, evalTf, batchSize, seed: 0))
                batches.Add(batch.Images); // (B, 3, 224, 224), kept for the forward passes
            double decodeSeconds = sw.Elapsed.TotalSeconds;
            int images = batches.Sum(b => (int)b.shape[0]);

            using var model = spec.Create(data.Classes.Count);
            Pretrained.Load(model, spec, Pretrained.Resolve(spec));
            model.eval();
            int threads = get_num_threads();
            log($"T_forward TorchSharp: {images} images, batch {batchSize}, {threads} threads, best of {repeats}...");
            Tensor torchFeatures0;
            double torchSeconds;
            using (no_grad())
            {
                using (NewDisposeScope()) model.ForwardFeatures(batches[0]); // warm-up
                using (NewDisposeScope())                                    // (B, 512), for the parity checks
                    torchFeatures0 = model.ForwardFeatures(batches[0]).MoveToOuterDisposeScope();
                torchSeconds = Best(repeats, () =>
                {
                    foreach (var b in batches)
                        using (NewDisposeScope()) model.ForwardFeatures(b);
                });
            }
            using var _ = torchFeatures0;

            log($"T_forward ONNX Runtime: {images} images, batch {batchSize}, best of {repeats}...");
            double ortSeconds, diff;
            using (var ort = new OrtFeatureExtractor(EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNet18)))
            {
                using var ortFeatures0 = ort.Extract(batches[0]); // warm-up + parity
                using (NewDisposeScope()) diff = (ortFeatures0 - torchFeatures0).abs().max().item<float>();
                ortSeconds = Best(repeats, () =>
                {
                    foreach (var b in batches)
                        using (var f = ort.Extract(b)) { }
                });
            }
            float maxAbs;
            using (NewDisposeScope()) maxAbs = torchFeatures0.abs().max().item<float>();

            // For bench/pytorch_cached.py: the weights, the mean image, batch 0 as preprocessed here and its features.
            Directory.CreateDirectory(exportDir);
            using (var sd = new StateDict())
            {
                foreach (var (k, v) in model.state_dict()) sd.Add(k, v.detach().clone());
                Safetensors.Write(Path.Combine(exportDir, "resnet18-cntk.safetensors"), sd);
            }
            if (meanImage is not null) WriteF32(Path.Combine(exportDir, "mean_image.f32"), meanImage);
            WriteF32(Path.Combine(exportDir, "batch0.f32"), batches[0].data<float>().ToArray());          // (B, 3, 224, 224)
            WriteF32(Path.Combine(exportDir, "batch0.features.f32"), torchFeatures0.data<float>().ToArray()); // (B, 512)

            return new ForwardResult(images, batchSize, workers, decodeSeconds, threads, torchSeconds, ortSeconds, diff, maxAbs);
        }
        finally
        {
            foreach (var b in batches) b.Dispose();
        }
    }

    private static double Best(int repeats, Action pass)
    {
        double best = double.MaxValue;
        for (int r = 0; r < Math.Max(1, repeats); r++)
        {
            var sw = Stopwatch.StartNew();
            pass();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }

    public static void WriteF32(string path, float[] values) => File.WriteAllBytes(path, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
}
