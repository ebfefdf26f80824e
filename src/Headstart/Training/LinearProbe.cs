using System.Diagnostics;
using Headstart.Models;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>What an L-BFGS head fit chose and why (the bundle's record of it; <see cref="LinearProbe"/>).</summary>
/// <param name="Lambda">The L2 strength chosen.</param>
/// <param name="Folds">Cross-validation folds over the training images.</param>
/// <param name="Lambdas">The strengths tried, strongest first (the path stops past the best).</param>
/// <param name="CvLoss">Mean held-out cross-entropy of each, on the training rows' folds.</param>
/// <param name="TrainLoss">Cross-entropy of the final head on all training rows (penalty excluded).</param>
/// <param name="TrainAccuracy">Its accuracy on them.</param>
public sealed record HeadFitRecord(double Lambda, int Folds, IReadOnlyList<double> Lambdas, IReadOnlyList<double> CvLoss,
    double TrainLoss, double TrainAccuracy, double Seconds);

/// <summary>
/// The head as a convex problem: multinomial logistic regression on the frozen features, fitted to convergence by
/// L-BFGS with an L2 penalty, the classic linear probe. The result is one (C, D) weight and (C) bias on the raw
/// features, so the head stays a plain Linear layer that every inference path and the ONNX export already run. The
/// penalty is chosen by cross-validation on the training rows alone (folds by image, so an image's views never
/// straddle a fold). The fit can standardise the features with the training rows' mean and spread and fold that back
/// into the weight and bias; the default head does not (on raw features it won, standardised it lost: bench/README.md).
/// </summary>
public static class LinearProbe
{
    /// <summary>The L2 strengths cross-validation picks from: the mean cross-entropy plus lambda/2 times the squared
    /// weight norm (bias not penalised), on the features the fit sees. Ordered strongest first, as the path is walked.</summary>
    public static readonly double[] Lambdas = [1, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4];

    /// <summary>A fitted probe on the raw features: logits = x · Weightᵀ + Bias.</summary>
    /// <param name="Weight">(C, D).</param>
    /// <param name="Bias">(C).</param>
    /// <param name="CvLoss">Mean held-out log-loss per entry of <see cref="Lambdas"/> walked (empty without cross-validation).</param>
    public sealed record Fit(Tensor Weight, Tensor Bias, double Lambda, IReadOnlyList<double> CvLoss) : IDisposable
    {
        public void Dispose()
        {
            Weight.Dispose();
            Bias.Dispose();
        }
    }

    /// <summary>Fits the probe on <paramref name="x"/> (N, D) with <paramref name="labels"/>, lambda chosen by
    /// <paramref name="folds"/>-fold cross-validation on these rows: the least mean held-out log-loss (a tie goes to the
    /// stronger penalty). <paramref name="groups"/> names each row's image: rows of one image share a fold. The path
    /// is walked from the strongest penalty, every fold warm-started from its previous fit, and stops once the held-out
    /// loss has risen <see cref="PathPatience"/> times in a row past its best: the weak penalties are the slow fits.</summary>
    public static Fit FitCrossValidated(Tensor x, long[] labels, int[] groups, int classes, int folds, int seed, bool standardise = false,
        CancellationToken ct = default, Action? onStep = null)
    {
        int n = labels.Length;
        int[] fold = Folds(labels, groups, classes, folds, seed);
        using var scope = NewDisposeScope();
        var splits = new List<(Tensor Zf, Tensor Yf, Tensor Zh, Tensor Yh)>();
        for (int k = 0; k < folds; k++)
        {
            long[] fit = [.. Enumerable.Range(0, n).Where(i => fold[i] != k).Select(i => (long)i)];
            long[] held = [.. Enumerable.Range(0, n).Where(i => fold[i] == k).Select(i => (long)i)];
            if (held.Length == 0 || fit.Length == 0) continue;
            var xf = x.index_select(0, tensor(fit));
            var (mean, std) = Moments(xf, standardise);
            splits.Add((xf.sub(mean).div(std), tensor(fit.Select(i => labels[i]).ToArray()),
                x.index_select(0, tensor(held)).sub(mean).div(std), tensor(held.Select(i => labels[i]).ToArray())));
        }
        var warm = new (Tensor W, Tensor B)?[splits.Count];
        var loss = new List<double>();
        int best = 0;
        for (int l = 0; l < Lambdas.Length && l - best <= PathPatience; l++)
        {
            double sum = 0;
            for (int k = 0; k < splits.Count; k++)
            {
                ct.ThrowIfCancellationRequested();
                var (zf, yf, zh, yh) = splits[k];
                var (w, b) = Solve(zf, yf, classes, Lambdas[l], warm[k]);
                warm[k] = (w, b);
                using var logits = zh.matmul(w.t()).add(b);                                          // (H, C)
                sum += nn.functional.cross_entropy(logits, yh, reduction: nn.Reduction.Sum).item<float>();
            }
            loss.Add(sum / n);
            if (loss[l] < loss[best] - 1e-9) best = l;
            onStep?.Invoke();
        }
        var final = FitAt(x, labels, classes, Lambdas[best], walkFrom: 0, standardise);
        // FitAt handed its tensors to this method's scope, which ends here: on to the caller's.
        return final with { Weight = final.Weight.MoveToOuterDisposeScope(), Bias = final.Bias.MoveToOuterDisposeScope(), CvLoss = loss };
    }

    /// <summary>
    /// Fits <paramref name="model"/>'s head (its classifier section, which must be the one re-headed Linear layer) on
    /// the training rows <paramref name="rows"/>: centre views first, then <paramref name="views"/> more passes over the
    /// same images in the same order, so row i belongs to image i mod (rows / (1 + views)). The fitted weight and bias
    /// are copied into the layer, and the section's forward is checked to be that affine map.
    /// </summary>
    public static HeadFitRecord FitHead(ImageClassifier model, ModelSpec spec, IFeatureRows rows, int views, int folds, int seed,
        ITrainingReporter? reporter = null, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        int n = rows.Count, images = n / (1 + views);
        if (images * (1 + views) != n)
            throw new InvalidOperationException($"{n} training rows are not {1 + views} view(s) of the same images");
        var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        if (!named.TryGetValue(spec.HeadPrefix + ".weight", out var weight) || !named.TryGetValue(spec.HeadPrefix + ".bias", out var bias) ||
            named.Keys.Count(k => k.StartsWith(spec.ClassifierPrefix + ".", StringComparison.Ordinal)) != 2)
            throw new InvalidOperationException($"{spec.Name}'s classifier section '{spec.ClassifierPrefix}' is not one Linear layer '{spec.HeadPrefix}'");
        int classes = (int)weight.shape[0];
        long[] labels = rows.Labels;
        int[] groups = [.. Enumerable.Range(0, n).Select(i => i % images)];
        using var scope = NewDisposeScope();
        var x = rows.Gather([.. Enumerable.Range(0, n).Select(i => (long)i)]);                     // (N, D)
        reporter?.BeginPhase($"fitting the head: L-BFGS, L2 strength by {folds}-fold cross-validation on {images} training images", Lambdas.Length);
        Fit fit;
        try
        {
            fit = FitCrossValidated(x, labels, groups, classes, folds, seed, ct: ct, onStep: () => reporter?.AdvancePhase(1));
        }
        finally
        {
            reporter?.EndPhase();
        }
        using (fit)
        using (no_grad())
        {
            weight.copy_(fit.Weight);
            bias.copy_(fit.Bias);
            model.eval();
            var y = tensor(labels);
            var logits = model.ForwardClassifier(x);                                                // (N, C)
            float gap = logits.sub(x.matmul(fit.Weight.t()).add(fit.Bias)).abs().max().item<float>();
            if (!(gap <= 1e-3f * (1 + logits.abs().max().item<float>())))
                throw new InvalidOperationException($"{spec.Name}'s classifier section is not the affine map of its Linear layer (gap {gap})");
            double loss = nn.functional.cross_entropy(logits, y).item<float>();
            double accuracy = logits.argmax(1).eq(y).to(ScalarType.Float32).mean().item<float>();
            return new HeadFitRecord(fit.Lambda, folds, [.. Lambdas.Take(fit.CvLoss.Count)], fit.CvLoss, loss, accuracy, clock.Elapsed.TotalSeconds);
        }
    }

    /// <summary>How many strengths past the best so far the path goes on before it stops.</summary>
    public const int PathPatience = 2;

    /// <summary>Fits the probe at one <paramref name="lambda"/> on all of <paramref name="x"/> (N, D), warm-started
    /// along <see cref="Lambdas"/> from index <paramref name="walkFrom"/> when lambda is on it (fewer iterations than a
    /// cold start at a weak penalty).</summary>
    public static Fit FitAt(Tensor x, long[] labels, int classes, double lambda, int walkFrom = -1, bool standardise = false)
    {
        using var scope = NewDisposeScope();
        var y = tensor(labels);
        var (mean, std) = Moments(x, standardise);
        var z = x.sub(mean).div(std);
        (Tensor W, Tensor B)? at = null;
        if (walkFrom >= 0)
            foreach (double l in Lambdas.Skip(walkFrom).TakeWhile(l => l > lambda))
                at = Solve(z, y, classes, l, at);
        var (w, b) = Solve(z, y, classes, lambda, at);
        // logits = ((x - mean) / std) · wᵀ + b = x · (w / std)ᵀ + (b - (w / std) · mean)
        var weight = w.div(std);                                                                   // (C, D)
        var bias = b.sub(weight.matmul(mean));                                                     // (C)
        return new Fit(weight.MoveToOuterDisposeScope(), bias.MoveToOuterDisposeScope(), lambda, []);
    }

    /// <summary>Mean and spread of <paramref name="x"/> (N, D) per column, each (D). The spread is floored at a
    /// thousandth of the mean spread, so a feature that is constant on these rows is left near zero, not blown up.</summary>
    public static (Tensor Mean, Tensor Std) Moments(Tensor x, bool standardise = true)
    {
        if (!standardise) return (zeros(x.shape[1]), ones(x.shape[1]));
        using var scope = NewDisposeScope();
        var mean = x.mean([0]);
        var std = x.std(0, unbiased: false);
        std = std.clamp_min(1e-3 * std.mean().item<float>() + 1e-12);
        return (mean.MoveToOuterDisposeScope(), std.MoveToOuterDisposeScope());
    }

    /// <summary>Fits W (C, D), b (C) on the rows <paramref name="z"/> (N, D) as given, with labels <paramref name="y"/>
    /// (N, int64), to convergence by <see cref="Lbfgs"/>, from <paramref name="start"/> when given. The objective is the
    /// mean cross-entropy plus lambda/2·|W|²; its gradient is analytic: (softmax - onehot)ᵀ·z / N + lambda·W for W,
    /// the column sums of (softmax - onehot) / N for b. Returns tensors in the caller's scope.</summary>
    public static (Tensor W, Tensor B) Solve(Tensor z, Tensor y, int classes, double lambda,
        (Tensor W, Tensor B)? start = null, int maxIterations = 500)
    {
        long n = z.shape[0], d = z.shape[1], cd = classes * d;
        using var onehot = nn.functional.one_hot(y, classes).to(ScalarType.Float32);                // (N, C)
        var theta = start is { } s0 ? cat([s0.W.flatten(), s0.B]) : zeros(cd + classes);            // (C·D + C)
        (double, Tensor) Objective(Tensor th)
        {
            using var scope = NewDisposeScope();
            var w = th.narrow(0, 0, cd).view(classes, d);                                           // (C, D)
            var b = th.narrow(0, cd, classes);                                                      // (C)
            var logp = nn.functional.log_softmax(z.matmul(w.t()).add(b), 1);                         // (N, C)
            double value = -onehot.mul(logp).sum().item<float>() / n + 0.5 * lambda * w.pow(2).sum().item<float>();
            var r = logp.exp().sub(onehot).div(n);                                                  // (N, C)
            var grad = cat([r.t().matmul(z).add(w, alpha: lambda).flatten(), r.sum(0, false)]);            // (C·D + C)
            return (value, grad.MoveToOuterDisposeScope());
        }
        Lbfgs.Minimise(theta, Objective, new Lbfgs.Options(MaxIterations: maxIterations));
        var wOut = theta.narrow(0, 0, cd).view(classes, d).clone();
        var bOut = theta.narrow(0, cd, classes).clone();
        theta.Dispose();
        return (wOut, bOut);
    }

    /// <summary>Stratified folds over images: each group (an image and its views) gets one fold, dealt round-robin per
    /// class after a seeded shuffle; returns the fold of every row.</summary>
    public static int[] Folds(long[] labels, int[] groups, int classes, int folds, int seed)
    {
        var firstRow = new Dictionary<int, int>();
        for (int i = 0; i < groups.Length; i++) firstRow.TryAdd(groups[i], i);
        var rng = new Random(seed);
        var foldOf = new Dictionary<int, int>();
        for (int c = 0; c < classes; c++)
        {
            var members = firstRow.Where(g => labels[g.Value] == c).Select(g => g.Key).OrderBy(g => g).ToArray();
            rng.Shuffle(members);
            for (int i = 0; i < members.Length; i++) foldOf[members[i]] = i % folds;
        }
        return [.. groups.Select(g => foldOf[g])];
    }
}
