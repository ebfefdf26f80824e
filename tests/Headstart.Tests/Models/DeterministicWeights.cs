using TorchSharp;
using static TorchSharp.torch;

namespace Headstart.Tests.Models;

/// <summary>
/// Closed-form model weights and inputs, reproduced bit for bit by generate_parity_oracles.py, so that a committed
/// 8 KB logits file is a full torchvision oracle without committing the weights.
/// </summary>
internal static class DeterministicWeights
{
    /// <summary>
    /// Value <paramref name="index"/> of <paramref name="stream"/>, in [-0.5, 0.5) with 24-bit resolution (exact in
    /// float32): a splitmix64-style hash; Python's uniform() computes the same with wrapping uint64 arithmetic.
    /// </summary>
    public static double Uniform(ulong stream, ulong index)
    {
        unchecked
        {
            ulong x = (index + stream * 0x100000001B3UL) * 0x9E3779B97F4A7C15UL;
            x ^= x >> 31;
            x *= 0xBF58476D1CE4E5B9UL;
            x ^= x >> 29;
            return (x >> 40) / (double)(1 << 24) - 0.5;
        }
    }

    /// <summary>Fills every state_dict entry by the generator's rule; entry i (0-based, torchvision order) uses stream i + 1.</summary>
    public static void Fill(nn.Module module)
    {
        using var noGrad = torch.no_grad();
        ulong stream = 1;
        foreach (var (key, tensor) in module.state_dict())
            Fill(key, tensor, stream++);
    }

    /// <summary>The (2, 3, size, size) input: 4 × stream 0.</summary>
    public static Tensor Input(int size)
    {
        var values = new float[2 * 3 * size * size];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(4.0 * Uniform(0, (ulong)i));
        return torch.tensor(values, [2, 3, size, size]);
    }

    private static void Fill(string key, Tensor tensor, ulong stream)
    {
        if (key.EndsWith("num_batches_tracked", StringComparison.Ordinal)) return;
        long n = tensor.numel();
        Func<double, double> rule =
            key.EndsWith("running_var", StringComparison.Ordinal) ? u => 1.0 + 0.5 * u
            : key.EndsWith("running_mean", StringComparison.Ordinal) || key.EndsWith("bias", StringComparison.Ordinal) ? u => 0.2 * u
            : tensor.dim() == 1 ? u => 1.0 + 0.5 * u                       // norm weight
            : ScaledWeight(n / tensor.shape[0]);                           // conv / linear weight
        // Written in place, a chunk at a time: a 100M-element VGG matrix never needs a second full-size buffer.
        using var accessor = tensor.data<float>();
        var buffer = new float[Math.Min(n, 1 << 20)];
        for (long start = 0; start < n; start += buffer.Length)
        {
            int count = (int)Math.Min(buffer.Length, n - start);
            for (int i = 0; i < count; i++) buffer[i] = (float)rule(Uniform(stream, (ulong)(start + i)));
            accessor.CopyFrom(new ReadOnlySpan<float>(buffer, 0, count), 0, start);
        }
    }

    /// <summary>Var(u) = 1/12, so u·sqrt(24 / fan_in) has variance 2 / fan_in (He initialisation's).</summary>
    private static Func<double, double> ScaledWeight(long fanIn)
    {
        double scale = Math.Sqrt(24.0 / fanIn);
        return u => u * scale;
    }
}
