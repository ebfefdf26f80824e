using static TorchSharp.torch;

namespace Headstart.Training;

/// <summary>
/// Limited-memory BFGS (Nocedal and Wright, algorithm 7.4, the two-loop recursion) with a backtracking Armijo line
/// search, for smooth convex objectives of one flat parameter vector. libtorch's LBFGS would do without a line search
/// and warns on every construction; this one keeps the objective's gradient analytic (no autograd graph) and stops on
/// a small gradient, a stalled objective or <see cref="Options.MaxIterations"/>.
/// </summary>
public static class Lbfgs
{
    /// <param name="History">Correction pairs kept (m).</param>
    /// <param name="GradientTolerance">Stop when max |gradient| falls to this.</param>
    /// <param name="ChangeTolerance">Stop when an iteration lowers the objective by less than this, relative.</param>
    public sealed record Options(int MaxIterations = 500, int History = 10, double GradientTolerance = 1e-4, double ChangeTolerance = 1e-7);

    /// <summary>What a minimisation ended with.</summary>
    public readonly record struct Result(double Value, int Iterations, int Evaluations);

    /// <summary>
    /// Minimises <paramref name="objective"/> (θ → value and gradient, the gradient a new tensor shaped like θ) from
    /// <paramref name="theta"/>, which is updated in place (a 1-D float tensor).
    /// </summary>
    public static Result Minimise(Tensor theta, Func<Tensor, (double Value, Tensor Gradient)> objective, Options? options = null)
    {
        var o = options ?? new Options();
        var s = new List<Tensor>();
        var y = new List<Tensor>();
        var rho = new List<double>();
        var (f, g) = objective(theta);
        int evaluations = 1, iteration = 0;
        try
        {
            for (; iteration < o.MaxIterations; iteration++)
            {
                if (g.abs().max().item<float>() <= o.GradientTolerance) break;
                using var direction = Direction(g, s, y, rho);                                      // -H·g
                double slope = direction.dot(g).item<float>();
                if (slope >= 0)
                {
                    // Not a descent direction (float rounding in a flat region): restart from steepest descent.
                    foreach (var t in s.Concat(y)) t.Dispose();
                    s.Clear();
                    y.Clear();
                    rho.Clear();
                    direction.copy_(g.neg());
                    slope = -g.dot(g).item<float>();
                }
                // The first step has no curvature yet: scale it to a unit move.
                double step = s.Count == 0 ? Math.Min(1, 1 / Math.Max(g.abs().sum().item<float>(), 1e-12)) : 1;
                Tensor? next = null, nextGrad = null;
                double nextF = double.NaN;
                for (int halvings = 0; halvings < 40; halvings++)
                {
                    next?.Dispose();
                    nextGrad?.Dispose();
                    next = theta.add(direction, alpha: step);
                    (nextF, nextGrad) = objective(next);
                    evaluations++;
                    if (nextF <= f + 1e-4 * step * slope) break;
                    step /= 2;
                }
                var sk = next!.sub(theta);
                var yk = nextGrad!.sub(g);
                double sy = sk.dot(yk).item<float>();
                theta.copy_(next);
                next.Dispose();
                g.Dispose();
                g = nextGrad;
                double change = f - nextF;
                f = nextF;
                if (sy > 1e-10)
                {
                    s.Add(sk);
                    y.Add(yk);
                    rho.Add(1 / sy);
                    if (s.Count > o.History)
                    {
                        s[0].Dispose();
                        y[0].Dispose();
                        s.RemoveAt(0);
                        y.RemoveAt(0);
                        rho.RemoveAt(0);
                    }
                }
                else
                {
                    sk.Dispose();
                    yk.Dispose();
                }
                if (Math.Abs(change) <= o.ChangeTolerance * Math.Max(1, Math.Abs(f))) { iteration++; break; }
            }
            return new Result(f, iteration, evaluations);
        }
        finally
        {
            g.Dispose();
            foreach (var t in s.Concat(y)) t.Dispose();
        }
    }

    /// <summary>The two-loop recursion: -H·g with H the inverse Hessian estimate from the pairs (s, y), scaled by
    /// sᵀy / yᵀy of the newest pair (steepest descent when there is none).</summary>
    private static Tensor Direction(Tensor g, List<Tensor> s, List<Tensor> y, List<double> rho)
    {
        var q = g.clone();
        var alpha = new double[s.Count];
        for (int i = s.Count - 1; i >= 0; i--)
        {
            alpha[i] = rho[i] * s[i].dot(q).item<float>();
            q.add_(y[i], alpha: -alpha[i]);
        }
        if (s.Count > 0)
        {
            double gamma = s[^1].dot(y[^1]).item<float>() / y[^1].dot(y[^1]).item<float>();
            q.mul_(gamma);
        }
        for (int i = 0; i < s.Count; i++)
        {
            double beta = rho[i] * y[i].dot(q).item<float>();
            q.add_(s[i], alpha: alpha[i] - beta);
        }
        return q.neg_();
    }
}
