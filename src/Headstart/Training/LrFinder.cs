using System.Globalization;
using System.Text;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>Options of the LR range test (fastai's lr_find defaults).</summary>
public sealed record LrFindOptions
{
    public double StartLr { get; init; } = 1e-7;
    public double EndLr { get; init; } = 10;
    /// <summary>Number of mini-batches the sweep spans (it repeats epochs when the data set is smaller).</summary>
    public int Iterations { get; init; } = 100;
    /// <summary>Smoothing of the loss (exponential moving average, debiased).</summary>
    public double Beta { get; init; } = 0.98;
    /// <summary>The sweep stops once the smoothed loss exceeds this multiple of the best one.</summary>
    public double DivergenceFactor { get; init; } = 4;
}

/// <summary>The LR sweep: learning rates and smoothed losses per batch, and the two suggestions.</summary>
public sealed record LrFindResult(IReadOnlyList<double> LearningRates, IReadOnlyList<double> Losses, double Steepest, double Valley,
    bool Diverged);

/// <summary>
/// The learning-rate range test (Smith 2015; fastai's lr_find): train with an exponentially growing LR, record the
/// smoothed loss, stop on divergence, and suggest an LR. The learner's weights, optimizer (with its state), torch RNG
/// state, history and callbacks are exactly as before afterwards.
/// </summary>
public static class LrFinder
{
    public static LrFindResult Run(Learner learner, LrFindOptions? options = null)
    {
        var o = options ?? new LrFindOptions();
        if (!(o.StartLr > 0 && o.EndLr > o.StartLr)) throw new HeadstartException($"lr-find needs 0 < start LR < end LR; got {o.StartLr:G3} and {o.EndLr:G3}");
        if (o.Iterations < 2) throw new HeadstartException($"lr-find needs at least 2 iterations; got {o.Iterations}");
        var weights = learner.SnapshotWeights();
        using var rng = get_rng_state();
        var optimizer = learner.DetachOptimizer();
        var callbacks = learner.Callbacks.ToList();
        var valid = learner.Valid;
        var sweep = new SweepCallback(o);
        try
        {
            // Only the train/eval-mode callback stays: no recording, checkpoints, best-weight keeping or validation.
            foreach (var cb in callbacks.Where(c => c is not TrainEvalCallback)) learner.RemoveCallback(cb);
            learner.AddCallback(sweep);
            learner.Valid = null;
            learner.StopWithinEpoch = true;
            int epochs = (o.Iterations + learner.Train.BatchesPerEpoch - 1) / learner.Train.BatchesPerEpoch;
            learner.Fit(epochs, 1.0); // base LR 1: the sweep sets absolute LRs through SetLearningRates' factor
        }
        finally
        {
            learner.StopWithinEpoch = false;
            learner.Valid = valid;
            learner.RemoveCallback(sweep);
            foreach (var cb in callbacks.Where(c => c is not TrainEvalCallback)) learner.AddCallback(cb);
            learner.RestoreWeights(weights);
            foreach (var t in weights.Values) t.Dispose();
            learner.ReattachOptimizer(optimizer);
            set_rng_state(rng);
        }
        // Like fastai, the first tenth of the sweep (loss still warming up its average) is left out of the suggestions.
        int skip = sweep.Lrs.Count / 10;
        var lrs = sweep.Lrs.Skip(skip).ToList();
        var losses = sweep.Losses.Skip(skip).ToList();
        if (lrs.Count < 3) throw new HeadstartException($"the LR sweep diverged after {sweep.Lrs.Count} batches; lower StartLr");
        return new LrFindResult(sweep.Lrs, sweep.Losses, Steepest(lrs, losses), Valley(lrs, losses), sweep.Diverged);
    }

    /// <summary>The LR at the most negative slope of the loss against log(LR).</summary>
    public static double Steepest(IReadOnlyList<double> lrs, IReadOnlyList<double> losses)
    {
        int best = 0;
        double bestGrad = double.PositiveInfinity;
        for (int i = 0; i + 1 < lrs.Count; i++)
        {
            double g = (losses[i + 1] - losses[i]) / (Math.Log(lrs[i + 1]) - Math.Log(lrs[i]));
            if (g < bestGrad) (bestGrad, best) = (g, i);
        }
        return lrs[best];
    }

    /// <summary>fastai's valley: find the longest decreasing subsequence of the loss and take the LR half way into its
    /// middle third (start + len/3 + len/6), a conservative point well before the minimum.</summary>
    public static double Valley(IReadOnlyList<double> lrs, IReadOnlyList<double> losses)
    {
        int n = losses.Count, maxStart = 0, maxEnd = 0;
        var lds = Enumerable.Repeat(1, n).ToArray(); // longest decreasing subsequence ending at i
        for (int i = 1; i < n; i++)
        {
            for (int j = 0; j < i; j++)
            {
                if (losses[i] < losses[j] && lds[i] < lds[j] + 1) lds[i] = lds[j] + 1;
                if (lds[maxEnd] < lds[i]) { maxEnd = i; maxStart = maxEnd - lds[maxEnd]; }
            }
        }
        double sections = (maxEnd - maxStart) / 3.0;
        int idx = Math.Clamp(maxStart + (int)sections + (int)(sections / 2), 0, n - 1);
        return lrs[idx];
    }

    /// <summary>An SVG plot of the smoothed loss against the LR (log x axis) with both suggestions marked.</summary>
    public static string ToSvg(LrFindResult r)
    {
        const int W = 640, H = 400, L = 60, R = 20, T = 30, B = 50;
        var inv = CultureInfo.InvariantCulture;
        double x0 = Math.Log10(r.LearningRates[0]), x1 = Math.Log10(r.LearningRates[^1]);
        var shown = r.Losses.Where(double.IsFinite).ToList();
        double y0 = shown.Min(), y1 = Math.Min(shown.Max(), shown[0] * 2 + 1e-9);
        if (y1 <= y0) y1 = y0 + 1;
        double X(double lr) => L + (Math.Log10(lr) - x0) / Math.Max(x1 - x0, 1e-12) * (W - L - R);
        double Y(double loss) => T + (1 - (Math.Clamp(loss, y0, y1) - y0) / (y1 - y0)) * (H - T - B);
        var sb = new StringBuilder();
        sb.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append(inv, $"<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n");
        sb.Append(inv, $"<line x1=\"{L}\" y1=\"{H - B}\" x2=\"{W - R}\" y2=\"{H - B}\" stroke=\"black\"/><line x1=\"{L}\" y1=\"{T}\" x2=\"{L}\" y2=\"{H - B}\" stroke=\"black\"/>\n");
        for (int d = (int)Math.Ceiling(x0); d <= Math.Floor(x1); d++)
        {
            double x = X(Math.Pow(10, d));
            sb.Append(inv, $"<line x1=\"{x:F1}\" y1=\"{H - B}\" x2=\"{x:F1}\" y2=\"{H - B + 5}\" stroke=\"black\"/><text x=\"{x:F1}\" y=\"{H - B + 18}\" text-anchor=\"middle\">1e{d}</text>\n");
        }
        for (int k = 0; k <= 4; k++)
        {
            double v = y0 + (y1 - y0) * k / 4;
            sb.Append(inv, $"<text x=\"{L - 6}\" y=\"{Y(v) + 4:F1}\" text-anchor=\"end\">{v:G3}</text>\n");
        }
        var pts = string.Join(' ', r.LearningRates.Zip(r.Losses).Where(p => double.IsFinite(p.Second))
            .Select(p => string.Create(inv, $"{X(p.First):F1},{Y(p.Second):F1}")));
        sb.Append(inv, $"<polyline fill=\"none\" stroke=\"steelblue\" stroke-width=\"2\" points=\"{pts}\"/>\n");
        foreach (var (lr, name, colour) in new[] { (r.Steepest, "steepest", "darkorange"), (r.Valley, "valley", "seagreen") })
        {
            int i = IndexOf(r.LearningRates, lr);
            sb.Append(inv, $"<circle cx=\"{X(lr):F1}\" cy=\"{Y(r.Losses[i]):F1}\" r=\"5\" fill=\"{colour}\"/>");
            sb.Append(inv, $"<text x=\"{X(lr) + 8:F1}\" y=\"{Y(r.Losses[i]) - 8:F1}\" fill=\"{colour}\">{name} {lr:G3}</text>\n");
        }
        sb.Append(inv, $"<text x=\"{(L + W - R) / 2}\" y=\"{H - 12}\" text-anchor=\"middle\">learning rate (log scale)</text>\n");
        sb.Append(inv, $"<text x=\"14\" y=\"{(T + H - B) / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {(T + H - B) / 2})\">smoothed loss</text>\n");
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static int IndexOf(IReadOnlyList<double> lrs, double lr)
    {
        for (int i = 0; i < lrs.Count; i++) if (lrs[i] == lr) return i;
        return 0;
    }

    /// <summary>Sets the LR of batch i to start x (end/start)^(i/(n-1)), records the debiased smoothed loss, stops on divergence.</summary>
    private sealed class SweepCallback(LrFindOptions o) : Callback
    {
        private double avg, best = double.PositiveInfinity;
        public List<double> Lrs { get; } = [];
        public List<double> Losses { get; } = [];
        public bool Diverged { get; private set; }
        public override int Order => -40; // after the (constant) schedule callback, so its LR wins

        public override void BeforeBatch(Learner l)
        {
            double lr = o.StartLr * Math.Pow(o.EndLr / o.StartLr, Lrs.Count / (double)(o.Iterations - 1));
            l.SetLearningRates(lr);
            Lrs.Add(lr);
        }

        public override void AfterLoss(Learner l)
        {
            double loss = l.Loss!.item<float>();
            avg = o.Beta * avg + (1 - o.Beta) * loss;
            double smooth = avg / (1 - Math.Pow(o.Beta, Losses.Count + 1));
            Losses.Add(smooth);
            best = Math.Min(best, smooth);
            if (!double.IsFinite(smooth) || smooth > o.DivergenceFactor * best) { Diverged = true; l.RequestStop(); }
            else if (Losses.Count >= o.Iterations) l.RequestStop();
        }
    }
}
