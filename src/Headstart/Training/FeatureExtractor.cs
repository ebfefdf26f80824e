using Headstart.Data;
using Headstart.Models;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>Runs a frozen backbone once over a set of images: (N, 3, S, S) images to (N, D) features.</summary>
public static class FeatureExtractor
{
    /// <summary>
    /// Extracts features for <paramref name="samples"/> (one pass, eval mode, no grad). Samples that fail to decode are
    /// skipped (reported through <paramref name="onSkipped"/>); the returned labels and indices say which rows exist.
    /// </summary>
    public static (Tensor Features, long[] Labels, int[] Indices) Extract(ImageClassifier model, IImageSource source,
        IReadOnlyList<ImageSample> samples, ImageTransform transform, int batchSize, int seed, int view = 0,
        int workers = 0, Action<SkippedFile>? onSkipped = null, Action<int>? onBatch = null, CancellationToken ct = default)
    {
        model.eval();
        return Extract(model.ForwardFeatures, source, samples, transform, batchSize, seed, view, workers, onSkipped, onBatch, ct);
    }

    /// <summary>As above, with any backbone forward (B, 3, S, S) → (B, D), e.g. an ONNX Runtime session.</summary>
    public static (Tensor Features, long[] Labels, int[] Indices) Extract(Func<Tensor, Tensor> backbone, IImageSource source,
        IReadOnlyList<ImageSample> samples, ImageTransform transform, int batchSize, int seed, int view = 0,
        int workers = 0, Action<SkippedFile>? onSkipped = null, Action<int>? onBatch = null, CancellationToken ct = default)
    {
        var chunks = new List<Tensor>();
        var labels = new List<long>();
        var indices = new List<int>();
        int[] order = Enumerable.Range(0, samples.Count).ToArray();
        using (no_grad())
        {
            foreach (var batch in BatchLoader.Batches(source, samples, order, transform, batchSize, seed, view, workers, onSkipped, ct))
            {
                using (batch)
                using (var scope = NewDisposeScope())
                {
                    chunks.Add(backbone(batch.Images).detach().MoveToOuterDisposeScope()); // (B, D)
                }
                labels.AddRange(batch.Labels);
                indices.AddRange(batch.Indices);
                onBatch?.Invoke(batch.Labels.Length);
            }
        }
        if (chunks.Count == 0) throw new HeadstartException("no image could be decoded: nothing to extract features from");
        var features = cat(chunks, 0);
        foreach (var c in chunks) c.Dispose();
        return (features, labels.ToArray(), indices.ToArray());
    }
}

/// <summary>Feature extraction through a <see cref="FeatureCache"/>: hits are read back, misses extracted and appended.</summary>
public static class CachedFeatures
{
    /// <summary>Like FeatureExtractor.Extract, but a second run over the same images reads the cache.</summary>
    public static (Tensor Features, long[] Labels, int[] Indices, int Hits) Extract(FeatureCache cache, Func<Tensor, Tensor> backbone,
        IImageSource source, IReadOnlyList<ImageSample> samples, ImageTransform transform, int batchSize, int seed, int view,
        int workers, Action<SkippedFile>? onSkipped, Action<int>? onBatch, CancellationToken ct = default)
    {
        var keys = samples.Select(FeatureCache.KeyOf).ToArray();
        var rows = new float[samples.Count][];
        var missing = new List<int>();
        int hits = 0;
        for (int i = 0; i < samples.Count; i++)
        {
            if (cache.Dim > 0)
            {
                var buf = new float[cache.Dim];
                if (cache.TryRead(keys[i], buf, out var skip))
                {
                    hits++;
                    if (skip is not null) onSkipped?.Invoke(new SkippedFile(samples[i].Path, skip));
                    else rows[i] = buf;
                    continue;
                }
            }
            missing.Add(i);
        }
        if (hits > 0) onBatch?.Invoke(hits);
        if (missing.Count > 0)
        {
            var sub = missing.Select(i => samples[i]).ToList();
            var skipped = new List<(string, string)>();
            void Skip(SkippedFile f)
            {
                lock (skipped) skipped.Add((keys[missing[sub.FindIndex(s => s.Path == f.Path)]], f.Reason));
                onSkipped?.Invoke(f);
            }
            Tensor? feats = null;
            int[] got = [];
            try
            {
                (feats, _, got) = FeatureExtractor.Extract(backbone, source, sub, transform, batchSize, seed, view, workers, Skip, onBatch, ct);
            }
            catch (HeadstartException) when (got.Length == 0 && skipped.Count == sub.Count) { /* every miss failed to decode */ }
            if (feats is not null)
            {
                int d = (int)feats.shape[1];
                float[] flat = feats.data<float>().ToArray();              // (M, D) row-major
                var gotKeys = got.Select(j => keys[missing[j]]).ToList();
                cache.Append(gotKeys, flat, d, skipped);
                for (int j = 0; j < got.Length; j++) rows[missing[got[j]]] = flat.AsSpan(j * d, d).ToArray();
                feats.Dispose();
            }
            else cache.Append([], [], cache.Dim == 0 ? 1 : cache.Dim, skipped);
        }
        var present = Enumerable.Range(0, samples.Count).Where(i => rows[i] is not null).ToArray();
        if (present.Length == 0) throw new HeadstartException("no image could be decoded: nothing to extract features from");
        int dim = rows[present[0]].Length;
        var all = new float[present.Length * dim];
        for (int r = 0; r < present.Length; r++) rows[present[r]].CopyTo(all, r * dim);
        return (tensor(all).reshape(present.Length, dim), present.Select(i => (long)samples[i].Label).ToArray(), present, hits);
    }
}
