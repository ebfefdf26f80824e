using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Headstart.Data;

/// <summary>A batch of model inputs. Dispose it (or let the caller's dispose scope take the tensor).</summary>
/// <param name="Images">(B, 3, S, S) float32.</param>
/// <param name="Labels">B labels.</param>
/// <param name="Indices">B indices into the sample list the loader was given.</param>
public sealed record Batch(Tensor Images, long[] Labels, int[] Indices) : IDisposable
{
    public int Count => Labels.Length;
    public void Dispose() => Images.Dispose();
}

/// <summary>
/// Decodes and transforms images on worker threads while the consumer runs the model: a bounded window of batches
/// is filled in parallel (sample by sample, so even one batch uses every worker) and batches are yielded in order.
/// </summary>
public static class BatchLoader
{
    /// <summary>
    /// Yields the samples <c>samples[order[0]], samples[order[1]], ...</c> in batches of <paramref name="batchSize"/>.
    /// Each sample's augmentation draws from its own Random seeded by (seed, epoch, sample index), so the output is
    /// the same for any worker count or thread timing. Samples that fail to decode are left out of their batch and
    /// reported through <paramref name="onSkipped"/> (on the consumer's thread, in order); an all-failed batch is not
    /// yielded. At most <paramref name="prefetch"/> batches are decoded ahead of the consumer.
    /// </summary>
    public static IEnumerable<Batch> Batches(IImageSource source, IReadOnlyList<ImageSample> samples, IReadOnlyList<int> order,
        ImageTransform transform, int batchSize, int seed, int epoch = 0, int workers = 0, Action<SkippedFile>? onSkipped = null,
        CancellationToken ct = default, int prefetch = 2)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(order);
        ArgumentNullException.ThrowIfNull(transform);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefetch, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(workers);
        foreach (int i in order)
            if ((uint)i >= (uint)samples.Count) throw new ArgumentOutOfRangeException(nameof(order), $"index {i} is outside the {samples.Count} samples");
        if (workers == 0) workers = Environment.ProcessorCount;
        return Run(new Pipeline(source, samples, order, transform, batchSize, seed, epoch, Math.Min(workers, Math.Max(1, order.Count)),
            prefetch), onSkipped, ct);
    }

    /// <summary>The Random for one sample: a SplitMix64 hash of (seed, epoch, index), so streams never overlap.</summary>
    public static Random SampleRandom(int seed, int epoch, int index)
    {
        ulong z = ((ulong)(uint)seed << 32) ^ ((ulong)(uint)epoch * 0x9E3779B97F4A7C15UL) ^ (uint)index;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return new Random((int)(z & 0x7FFFFFFF));
    }

    private static IEnumerable<Batch> Run(Pipeline pipeline, Action<SkippedFile>? onSkipped, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        pipeline.Start(cts.Token);
        try
        {
            for (int b = 0; b < pipeline.BatchCount; b++)
            {
                var batch = pipeline.Take(b, cts.Token, onSkipped);
                if (batch is not null) yield return batch;
            }
        }
        finally
        {
            cts.Cancel(); // early break or error: stop the workers, then wait for them
            pipeline.Stop();
        }
    }

    private sealed class Slot(float[] data, int size)
    {
        public readonly float[] Data = data;
        public readonly bool[] Ok = new bool[size];
        public readonly SkippedFile?[] Skips = new SkippedFile?[size];
        public readonly ManualResetEventSlim Done = new(false);
        public int Remaining = size;
        public Exception? Fault;
    }

    private sealed class Pipeline(IImageSource source, IReadOnlyList<ImageSample> samples, IReadOnlyList<int> order,
        ImageTransform transform, int batchSize, int seed, int epoch, int workers, int prefetch)
    {
        private readonly object _gate = new();
        private readonly Slot?[] _slots = new Slot?[(order.Count + batchSize - 1) / batchSize];
        private readonly ConcurrentBag<float[]> _buffers = [];
        private readonly List<Thread> _threads = [];
        private int _next, _consumed;
        private CancellationToken _token;

        public int BatchCount => _slots.Length;

        public void Start(CancellationToken token)
        {
            _token = token;
            for (int i = 0; i < workers; i++)
            {
                var thread = new Thread(Work) { IsBackground = true, Name = $"headstart-decode-{i}" };
                _threads.Add(thread);
                thread.Start();
            }
        }

        public void Stop()
        {
            lock (_gate) Monitor.PulseAll(_gate);
            foreach (var thread in _threads) thread.Join();
            foreach (var slot in _slots) slot?.Done.Dispose();
        }

        private Slot GetSlot(int b)
        {
            // Under _gate.
            if (_slots[b] is { } slot) return slot;
            int size = Math.Min(batchSize, order.Count - b * batchSize);
            if (!_buffers.TryTake(out var data)) data = new float[batchSize * transform.OutputLength];
            return _slots[b] = new Slot(data, size);
        }

        private void Work()
        {
            int len = transform.OutputLength, hint = transform.DecodeHint;
            while (!_token.IsCancellationRequested)
            {
                int k = Interlocked.Increment(ref _next) - 1;
                if (k >= order.Count) return;
                int b = k / batchSize, pos = k - b * batchSize;
                Slot slot;
                lock (_gate)
                {
                    // Bounded queue: stay within `prefetch` batches of the consumer.
                    while (b >= _consumed + prefetch && !_token.IsCancellationRequested) Monitor.Wait(_gate);
                    if (_token.IsCancellationRequested) return;
                    slot = GetSlot(b);
                }
                int index = order[k];
                try
                {
                    var image = source.Decode(samples[index], hint);
                    transform.Apply(image, SampleRandom(seed, epoch, index), slot.Data.AsSpan(pos * len, len));
                    slot.Ok[pos] = true;
                }
                catch (ImageDecodeException ex)
                {
                    slot.Skips[pos] = new SkippedFile(samples[index].Path, ex.Reason);
                }
                catch (Exception ex)
                {
                    // A bug, not a bad image: hand it to the consumer rather than hang or crash a worker thread.
                    slot.Fault ??= ex;
                }
                if (Interlocked.Decrement(ref slot.Remaining) == 0) slot.Done.Set();
            }
        }

        public Batch? Take(int b, CancellationToken token, Action<SkippedFile>? onSkipped)
        {
            Slot slot;
            lock (_gate) slot = GetSlot(b);
            slot.Done.Wait(token);
            if (slot.Fault is not null) ExceptionDispatchInfo.Throw(slot.Fault);
            int len = transform.OutputLength, s = transform.OutputSize, count = 0;
            var labels = new List<long>(slot.Ok.Length);
            var indices = new List<int>(slot.Ok.Length);
            for (int pos = 0; pos < slot.Ok.Length; pos++)
            {
                int index = order[b * batchSize + pos];
                if (!slot.Ok[pos])
                {
                    if (slot.Skips[pos] is { } skip) onSkipped?.Invoke(skip);
                    continue;
                }
                // Compact: close the gaps left by skipped samples.
                if (count != pos) slot.Data.AsSpan(pos * len, len).CopyTo(slot.Data.AsSpan(count * len, len));
                labels.Add(samples[index].Label);
                indices.Add(index);
                count++;
            }
            Batch? batch = null;
            if (count > 0)
            {
                // One copy into one tensor per batch; the float[] goes back to the pool.
                var images = count * len == slot.Data.Length
                    ? torch.tensor(slot.Data, [count, 3, s, s])
                    : torch.tensor(slot.Data.AsSpan(0, count * len).ToArray(), [count, 3, s, s]);
                batch = new Batch(images, [.. labels], [.. indices]);
            }
            lock (_gate)
            {
                _slots[b] = null;
                _buffers.Add(slot.Data);
                _consumed = b + 1;
                Monitor.PulseAll(_gate);
            }
            slot.Done.Dispose();
            return batch;
        }
    }
}
