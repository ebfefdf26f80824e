using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>
/// The head as a convex problem: multinomial logistic regression on the frozen features, fitted to convergence by
/// L-BFGS with an L2 penalty, the classic linear probe. Features are standardised with the training rows' mean and
/// spread for the fit only; the result is folded back into one (C, D) weight and (C) bias on the raw features, so the
/// head stays a plain Linear layer that every inference path and the ONNX export already run. The penalty is chosen
/// by cross-validation on the training rows alone (folds by image, so an image's views never straddle a fold).
/// </summary>
public static class LinearProbe
{
    /// <summary>The L2 strengths cross-validation picks from: the mean cross-entropy plus lambda/2 times the squared
    /// weight norm (bias not penalised), on standardised features. Ordered strongest first, as the path is walked.</summary>
    public static readonly double[] Lambdas = [1, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4];

    /// <summary>A fitted probe on the raw features: logits = x · Weightᵀ + Bias.</summary>
    /// <param name="Weight">(C, D).</param>
    /// <param name="Bias">(C).</param>
    /// <param name="CvLoss">Mean held-out log-loss per entry of <see cref="Lambdas"/> (empty without cross-validation).</param>
    public sealed record Fit(Tensor Weight, Tensor Bias, double Lambda, IReadOnlyList<double> CvLoss) : IDisposable
    {
        public void Dispose()
        {
            Weight.Dispose();
            Bias.Dispose();
        }
    }

    /// <summary>Fits the probe on <paramref name="x"/> (N, D) with <paramref name="labels"/>, lambda chosen by
    /// <paramref name="folds"/>-fold cross-validation on these rows (least mean held-out log-loss; a tie goes to the
    /// stronger penalty). <paramref name="groups"/> names each row's image: rows of one image share a fold.</summary>
    public static Fit FitCrossValidated(Tensor x, long[] labels, int[] groups, int classes, int folds, int seed, bool standardise = true, CancellationToken ct = default)
    {
        int n = labels.Length;
        int[] fold = Folds(labels, groups, classes, folds, seed);
        var loss = new double[Lambdas.Length];
        for (int k = 0; k < folds; k++)
        {
            ct.ThrowIfCancellationRequested();
            long[] fit = [.. Enumerable.Range(0, n).Where(i => fold[i] != k).Select(i => (long)i)];
            long[] held = [.. Enumerable.Range(0, n).Where(i => fold[i] == k).Select(i => (long)i)];
            if (held.Length == 0 || fit.Length == 0) continue;
            using var scope = NewDisposeScope();
            var xf = x.index_select(0, tensor(fit));
            var xh = x.index_select(0, tensor(held));
            var yf = tensor(fit.Select(i => labels[i]).ToArray());
            var yh = tensor(held.Select(i => labels[i]).ToArray());
            var (mean, std) = Moments(xf, standardise);
            var zf = xf.sub(mean).div(std);
            var zh = xh.sub(mean).div(std);
            (Tensor W, Tensor B)? at = null;
            for (int l = 0; l < Lambdas.Length; l++)
            {
                var (w, b) = FitStandardised(zf, yf, classes, Lambdas[l], at);
                at = (w, b);
                using var logits = zh.matmul(w.t()).add(b);                                          // (H, C)
                loss[l] += nn.functional.cross_entropy(logits, yh, reduction: nn.Reduction.Sum).item<float>();
            }
        }
        for (int l = 0; l < loss.Length; l++) loss[l] /= n;
        int best = 0;
        for (int l = 1; l < loss.Length; l++)
            if (loss[l] < loss[best] - 1e-9) best = l;
        var final = FitAt(x, labels, classes, Lambdas[best], walkFrom: 0, standardise);
        return final with { CvLoss = loss };
    }

    /// <summary>Fits the probe at one <paramref name="lambda"/> on all of <paramref name="x"/> (N, D), warm-started
    /// along <see cref="Lambdas"/> from index <paramref name="walkFrom"/> when lambda is on it (fewer iterations than a
    /// cold start at a weak penalty).</summary>
    public static Fit FitAt(Tensor x, long[] labels, int classes, double lambda, int walkFrom = -1, bool standardise = true)
    {
        using var scope = NewDisposeScope();
        var y = tensor(labels);
        var (mean, std) = Moments(x, standardise);
        var z = x.sub(mean).div(std);
        (Tensor W, Tensor B)? at = null;
        if (walkFrom >= 0)
            foreach (double l in Lambdas.Skip(walkFrom).TakeWhile(l => l > lambda))
                at = FitStandardised(z, y, classes, l, at);
        var (w, b) = FitStandardised(z, y, classes, lambda, at);
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

    /// <summary>Fits W (C, D), b (C) on standardised rows <paramref name="z"/> (N, D) with labels <paramref name="y"/>
    /// (N, int64) to convergence, from <paramref name="start"/> when given. Returns tensors in the caller's scope.</summary>
    public static (Tensor W, Tensor B) FitStandardised(Tensor z, Tensor y, int classes, double lambda,
        (Tensor W, Tensor B)? start = null, int maxIterations = 500)
    {
        long d = z.shape[1];
        using var w = new Parameter(start is { } s0 ? s0.W.detach().clone() : zeros(classes, d), true);
        using var b = new Parameter(start is { } s1 ? s1.B.detach().clone() : zeros(classes), true);
        using var opt = optim.LBFGS([w, b], lr: 1, max_iter: maxIterations, tolerange_grad: 1e-6, tolerance_change: 1e-10, history_size: 20);
        Tensor Closure()
        {
            opt.zero_grad();
            using var scope = NewDisposeScope();
            var logits = z.matmul(w.t()).add(b);                                                    // (N, C)
            var loss = nn.functional.cross_entropy(logits, y) + 0.5 * lambda * w.pow(2).sum();
            loss.backward();
            return loss.detach().MoveToOuterDisposeScope();
        }
        using (opt.step(Closure)) { }
        return (w.detach().clone(), b.detach().clone());
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
