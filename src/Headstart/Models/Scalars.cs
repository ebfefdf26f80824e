using TorchSharp;

namespace Headstart.Models;

/// <summary>
/// Scalars that live for the whole process. TorchSharp 0.107 turns a C# number into a temporary native Scalar and passes
/// only its handle to libtorch, so a garbage collection on another thread (decode workers allocate a lot) can finalize
/// and free that Scalar while the op still reads it: seen once as "Expected false to be true ... toFloat" in a residual
/// add_. The forward passes use these instead of implicit conversions.
/// </summary>
internal static class Scalars
{
    public static readonly Scalar One = 1.ToScalar();

    /// <summary>A process-lifetime Scalar for a constant (cached, so each value is created once).</summary>
    public static Scalar Of(double value) => Cache.GetOrAdd(value, v => v.ToScalar());

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<double, Scalar> Cache = new();
}
