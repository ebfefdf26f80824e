using System.Globalization;

namespace Headstart.Training;

/// <summary>
/// What a <see cref="ComparisonResult"/> shows, in words computed from its numbers: <see cref="Summary"/> says where
/// transfer wins, by how much and at what cost (the headline); <see cref="Details"/> gives each measured size.
/// </summary>
public sealed record ComparisonFindings(IReadOnlyList<string> Summary, IReadOnlyList<string> Details)
{
    public bool IsEmpty => Summary.Count == 0;

    private static string Pts(double d) => (d * 100).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture);
    private static string Pct(double v) => (v * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    /// <summary>The opponent's name inside a sentence.</summary>
    public static string Phrase(Recipe r) => r switch
    {
        Recipe.FineTune => "fine-tuning",
        Recipe.Scratch => "the same architecture from scratch",
        Recipe.SmallCnn => "the small CNN from scratch",
        _ => "frozen transfer",
    };

    /// <summary>
    /// Frozen transfer against every other recipe, at every size both were measured at. A difference counts only
    /// beyond the noise: two standard errors of the difference of the two means (<see cref="EfficiencyPoint.StandardError"/>:
    /// the seeds' spread and the validation sample's), smaller differences are called "within noise".
    /// </summary>
    public static ComparisonFindings Of(ComparisonResult r)
    {
        var summary = new List<string>();
        var details = new List<string>();
        var transfer = r.Curve.Where(p => p.Recipe == Recipe.Frozen).ToDictionary(p => p.PerClass);
        if (transfer.Count == 0) return new(summary, details);
        foreach (var opponent in r.Curve.Select(p => p.Recipe).Where(x => x != Recipe.Frozen).Distinct().Order())
        {
            var theirs = r.Curve.Where(p => p.Recipe == opponent).ToDictionary(p => p.PerClass);
            var shots = transfer.Keys.Intersect(theirs.Keys).Order().ToList();
            if (shots.Count == 0) continue;
            string name = Phrase(opponent);
            var verdicts = new List<(int K, int Sign, double D)>();
            foreach (int k in shots)
            {
                EfficiencyPoint a = transfer[k], b = theirs[k];
                double d = a.ValAccuracy - b.ValAccuracy;
                double noise = 2 * Math.Sqrt(a.StandardError * a.StandardError + b.StandardError * b.StandardError);
                int sign = d > noise ? 1 : -d > noise ? -1 : 0;
                verdicts.Add((k, sign, d));
                string who = sign switch { 1 => "transfer ahead", -1 => "scratch ahead", _ => "within noise" };
                details.Add(FormattableString.Invariant(
                    $"{k} images per class{(a.All ? " (all)" : "")}: transfer {Pct(a.ValAccuracy)} vs {name} {Pct(b.ValAccuracy)} ({Pts(d)} points, {who}; noise ±{noise * 100:0.0})"));
            }
            summary.Add(Verdict(name, verdicts) + PointEstimates(verdicts));
        }
        if (Cost(r) is { } cost) summary.Add(cost);
        return new(summary, details);
    }

    private static string List(IEnumerable<int> ks) => string.Join(", ", ks);

    private static string Range(IEnumerable<double> ds)
    {
        var l = ds.ToList();
        double lo = l.Min(), hi = l.Max();
        return lo == hi ? $"by {Pts(lo)[1..]} points" : $"by {Pts(lo)[1..]} to {Pts(hi)[1..]} points";
    }

    private static string Verdict(string name, List<(int K, int Sign, double D)> v)
    {
        var ahead = v.Where(x => x.Sign > 0).ToList();
        var tied = v.Where(x => x.Sign == 0).Select(x => x.K).ToList();
        var behind = v.Where(x => x.Sign < 0).Select(x => x.K).ToList();
        string sizes = v.Count == 1 ? $"at {v[0].K} images per class" : $"at every measured size ({List(v.Select(x => x.K))} images per class)";
        return ahead.Count switch
        {
            0 when behind.Count == 0 => $"Transfer and {name} are within noise of each other {(v.Count == 1 ? sizes : "at every measured size")}.",
            0 => $"Transfer did not beat {name} at any measured size; {name} was ahead at {List(behind)} images per class.",
            _ when ahead.Count == v.Count => $"Transfer was ahead of {name} {sizes}, {Range(ahead.Select(x => x.D))}.",
            _ => $"Transfer was ahead of {name} at {List(ahead.Select(x => x.K))} images per class ({Range(ahead.Select(x => x.D))})" +
                 (tied.Count > 0 ? $", within noise at {List(tied)}" : "") +
                 (behind.Count > 0 ? $", and behind at {List(behind)}" : "") + ".",
        };
    }

    /// <summary>The point estimates' directions too: with few validation images a consistent direction can matter even
    /// when each difference alone is inside the noise. Only the directions that occurred are named.</summary>
    private static string PointEstimates(List<(int K, int Sign, double D)> v)
    {
        if (v.Count < 2) return "";
        var higher = v.Where(d => d.D > 0).Select(d => d.K).ToList();
        var lower = v.Where(d => d.D < 0).Select(d => d.K).ToList();
        var equal = v.Where(d => d.D == 0).Select(d => d.K).ToList();
        var largest = v.MaxBy(d => Math.Abs(d.D));
        string where = higher.Count == v.Count ? $"higher at every measured size"
            : lower.Count == v.Count ? $"lower at every measured size"
            : string.Join(", ", new[] { ("higher", higher), ("lower", lower), ("equal", equal) }
                  .Where(x => x.Item2.Count > 0).Select(x => $"{x.Item1} at {List(x.Item2)}")) + " images per class";
        return $" Point estimates: transfer {where}; largest gap {Pts(largest.D)} points at {largest.K}.";
    }

    /// <summary>What each recipe's runs cost in CPU time, against transfer's.</summary>
    private static string? Cost(ComparisonResult r)
    {
        var t = r.Totals(Recipe.Frozen);
        if (t.Runs == 0 || t.CpuSeconds <= 0) return null;
        var others = r.Curve.Select(p => p.Recipe).Where(x => x != Recipe.Frozen).Distinct().Order()
            .Select(x => (Recipe: x, T: r.Totals(x))).Where(x => x.T.Runs > 0).ToList();
        if (others.Count == 0) return null;
        string Runs(int n) => n == 1 ? "1 run" : $"{n} runs";
        return FormattableString.Invariant($"Compute: transfer's {Runs(t.Runs)} took {t.CpuSeconds:0} core-seconds in all; ") +
               string.Join("; ", others.Select(x => FormattableString.Invariant(
                   $"{Phrase(x.Recipe)}'s {Runs(x.T.Runs)} {x.T.CpuSeconds:0} ({x.T.CpuSeconds / t.CpuSeconds:0.0}x)"))) + ".";
    }
}
