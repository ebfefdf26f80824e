using Headstart.Onnx;
namespace Headstart.Training;

/// <summary>
/// An <see cref="OrtFeatureExtractor"/> being built on a worker thread. Building the session keeps one core busy
/// (ONNX Runtime's start-up, re-declaring the file's batch dimension, graph optimisation); a cold frozen run starts it
/// first, so it overlaps with loading libtorch and building the model, which are single-threaded too.
/// <see cref="Take"/> waits for it and hands it over; <see cref="Dispose"/> frees it if nobody took it.
/// </summary>
public sealed class PendingOrtSession : IDisposable
{
    private readonly Task<OrtFeatureExtractor> task;
    private int taken;

    private PendingOrtSession(Task<OrtFeatureExtractor> task) => this.task = task;

    /// <summary>Starts building a session for <paramref name="onnxPath"/> (no spinning workers: decoding shares the
    /// cores during extraction); its wall time is recorded as the "ort_session" stage.</summary>
    public static PendingOrtSession Start(string onnxPath, StageTimings? timings = null, string? featureOutput = null) => new(Task.Run(() =>
    {
        using var _ = timings?.Measure("ort_session");
        return new OrtFeatureExtractor(onnxPath, allowSpinning: false, featureOutput: featureOutput);
    }));

    /// <summary>The session (waiting for it if need be); the caller owns it from then on. A build error surfaces here.</summary>
    public OrtFeatureExtractor Take()
    {
        if (Interlocked.Exchange(ref taken, 1) != 0) throw new InvalidOperationException("the session was already taken");
        return task.GetAwaiter().GetResult();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref taken, 1) != 0) return;
        // Not taken: the run ended before extraction (a failure, or nothing to extract). Wait so the native session
        // is freed rather than left to a finalizer; a build error is moot, since nobody needed the session.
        try { task.GetAwaiter().GetResult().Dispose(); }
        catch (Exception ex) when (ex is not OutOfMemoryException) { }
    }
}
