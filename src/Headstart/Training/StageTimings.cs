using System.Diagnostics;

namespace Headstart.Training;

/// <summary>
/// Wall time per stage of a run (load weights, features, fit, evaluate, save...), in the order the stages ran.
/// The CLI prints them in its JSON line so benchmarks can see where the seconds go without a profiler.
/// </summary>
public sealed class StageTimings
{
    private readonly List<KeyValuePair<string, double>> stages = [];

    /// <summary>Times <paramref name="stage"/> until the returned handle is disposed; repeated names add up.</summary>
    public IDisposable Measure(string stage) => new Handle(this, stage, Stopwatch.GetTimestamp());

    public void Add(string stage, double seconds)
    {
        lock (stages)
        {
            int i = stages.FindIndex(s => s.Key == stage);
            if (i < 0) stages.Add(new(stage, seconds));
            else stages[i] = new(stage, stages[i].Value + seconds);
        }
    }

    /// <summary>Seconds per stage, rounded to milliseconds, in the order the stages first ran.</summary>
    public IReadOnlyDictionary<string, double> ToDictionary()
    {
        lock (stages)
        {
            var d = new Dictionary<string, double>();
            foreach (var (k, v) in stages) d[k] = Math.Round(v, 3);
            return d;
        }
    }

    private sealed class Handle(StageTimings owner, string stage, long start) : IDisposable
    {
        private bool done;
        public void Dispose()
        {
            if (done) return;
            done = true;
            owner.Add(stage, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }
}
