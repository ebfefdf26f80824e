using Headstart.Models;
using Headstart.Training;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Training;

/// <summary>The convex head: the L-BFGS minimiser, the probe's analytic gradient, its folds, its choice of L2
/// strength, and its copy into a model's head.</summary>
public sealed class LinearProbeTests
{
    [Fact]
    public void LbfgsFindsTheMinimumOfAConvexQuadratic()
    {
        // f(x) = ½ xᵀAx - bᵀx with A symmetric positive definite (eigenvalues 0.5 to about 5): the minimum is A⁻¹b.
        manual_seed(1);
        var m = randn(20, 20);
        var a = m.matmul(m.t()).div(20).add(eye(20).mul(0.5));
        var b = randn(20);
        var x = zeros(20);
        var result = Lbfgs.Minimise(x, t => (0.5 * t.dot(a.matmul(t)).item<float>() - b.dot(t).item<float>(), a.matmul(t).sub(b)),
            new Lbfgs.Options(GradientTolerance: 1e-6, ChangeTolerance: 1e-12));
        var expected = linalg.solve(a, b);
        Assert.True(x.sub(expected).abs().max().item<float>() < 1e-3, $"x differs from A⁻¹b by {x.sub(expected).abs().max().item<float>()}");
        Assert.InRange(result.Iterations, 1, 200);
    }

    [Fact]
    public void TheProbeConvergesToAStationaryPointOfItsObjective()
    {
        // The analytic gradient is checked against autograd's at the returned solution: both must be ~0 there, and
        // they must agree at a point away from it.
        var (x, y) = Blobs(classes: 3, perClass: 40, dim: 16, spread: 1.5f, seed: 2);
        const double lambda = 0.01;
        var (w, b) = LinearProbe.Solve(x, y, 3, lambda);
        Assert.True(AutogradNorm(x, y, w, b, lambda) < 1e-3);
        Assert.True(AutogradNorm(x, y, w.mul(0.5), b.add(0.3), lambda) > 1e-2);
    }

    [Fact]
    public void FoldsKeepAnImagesViewsTogetherAndStratifyByClass()
    {
        // 30 images of 3 classes, each with a centre and a mirror row (rows i and i + 30).
        long[] labels = [.. Enumerable.Range(0, 60).Select(i => (long)(i % 30 % 3))];
        int[] groups = [.. Enumerable.Range(0, 60).Select(i => i % 30)];
        int[] fold = LinearProbe.Folds(labels, groups, 3, 5, seed: 7);
        for (int i = 0; i < 30; i++) Assert.Equal(fold[i], fold[i + 30]);
        for (int k = 0; k < 5; k++)
            for (int c = 0; c < 3; c++)
                Assert.Equal(2, Enumerable.Range(0, 30).Count(i => fold[i] == k && labels[i] == c));   // 10 per class / 5 folds
        Assert.Equal(fold, LinearProbe.Folds(labels, groups, 3, 5, seed: 7));
        Assert.NotEqual(fold, LinearProbe.Folds(labels, groups, 3, 5, seed: 8));
    }

    [Fact]
    public void CrossValidationPenalisesNoiseHardAndSeparableDataLightly()
    {
        var (clean, cleanY) = Blobs(classes: 2, perClass: 60, dim: 32, spread: 3f, seed: 3);
        int[] groups = [.. Enumerable.Range(0, 120)];
        using var sharp = LinearProbe.FitCrossValidated(clean, cleanY.data<long>().ToArray(), groups, 2, 5, seed: 1);
        // Labels drawn independently of the rows: the held-out loss is least with the strongest penalty.
        manual_seed(4);
        var noise = randn(120, 32);
        long[] coin = [.. Enumerable.Range(0, 120).Select(i => (long)(new Random(i * 7919).Next(2)))];
        using var flat = LinearProbe.FitCrossValidated(noise, coin, groups, 2, 5, seed: 1);
        Assert.Equal(LinearProbe.Lambdas[0], flat.Lambda);
        Assert.True(sharp.Lambda < flat.Lambda, $"separable data chose {sharp.Lambda}, noise {flat.Lambda}");
        Assert.Equal(flat.CvLoss.Count, Math.Min(LinearProbe.Lambdas.Length, 1 + LinearProbe.PathPatience));
        // The separable fit classifies its own rows.
        using var predicted = clean.matmul(sharp.Weight.t()).add(sharp.Bias).argmax(1);
        Assert.Equal(1.0, predicted.eq(cleanY).to(ScalarType.Float32).mean().item<float>(), 3);
    }

    [Fact]
    public void AStandardisedFitIsFoldedBackOntoTheRawFeatures()
    {
        var (x, y) = Blobs(classes: 3, perClass: 30, dim: 8, spread: 1f, seed: 5);
        var scaled = x.mul(tensor(new float[] { 1, 10, 100, 0.1f, 1, 2, 3, 4 })).add(5);
        using var fit = LinearProbe.FitAt(scaled, y.data<long>().ToArray(), 3, 0.01, standardise: true);
        var (mean, std) = LinearProbe.Moments(scaled);
        var (w, b) = LinearProbe.Solve(scaled.sub(mean).div(std), y, 3, 0.01);
        var viaStandardised = scaled.sub(mean).div(std).matmul(w.t()).add(b);
        var viaRaw = scaled.matmul(fit.Weight.t()).add(fit.Bias);
        Assert.True(viaRaw.sub(viaStandardised).abs().max().item<float>() < 1e-3);
    }

    [Fact]
    public void FitHeadWritesTheHeadOfAOneLinearClassifierSectionAndRefusesAnyOther()
    {
        var spec = ModelRegistry.Get("resnet18");
        manual_seed(6);
        using var model = spec.Create(3);
        var (x, y) = Blobs(classes: 3, perClass: 20, dim: 512, spread: 2f, seed: 6);
        // Two views per image: the second pass is the first with a little noise.
        var rows = new TensorRows(cat([x, x.add(randn_like(x).mul(0.01))]), [.. y.data<long>(), .. y.data<long>()]);
        var record = LinearProbe.FitHead(model, spec, rows, views: 1, folds: 3, seed: 1);
        Assert.Equal(3, record.Folds);
        Assert.Contains(record.Lambda, LinearProbe.Lambdas);
        Assert.Equal(record.Lambdas.Count, record.CvLoss.Count);
        Assert.Equal(1.0, record.TrainAccuracy, 3);
        model.eval();
        using (no_grad())
            Assert.Equal(1.0, model.ForwardClassifier(x).argmax(1).eq(y).to(ScalarType.Float32).mean().item<float>(), 3);

        var alexnet = ModelRegistry.Get("alexnet");
        using var deep = alexnet.Create(3);
        var e = Assert.Throws<InvalidOperationException>(() => LinearProbe.FitHead(deep, alexnet, new TensorRows(randn(10, 9216), [.. Enumerable.Range(0, 10).Select(i => (long)(i % 3))]), 0, 2, 1));
        Assert.Contains("not one Linear layer", e.Message);
        Assert.Throws<InvalidOperationException>(() => LinearProbe.FitHead(model, spec, new TensorRows(randn(9, 512), new long[9]), views: 1, folds: 2, seed: 1));
    }

    /// <summary>Gaussian blobs: (N, D) float rows around one random centre per class, and their labels (N).</summary>
    private static (Tensor X, Tensor Y) Blobs(int classes, int perClass, int dim, float spread, int seed)
    {
        manual_seed(seed);
        var centres = randn(classes, dim).mul(spread);
        var y = arange(classes).repeat_interleave(perClass);
        var x = centres.index_select(0, y).add(randn(classes * perClass, dim));
        return (x, y);
    }

    /// <summary>max |∇| of the probe's objective at (w, b), by autograd.</summary>
    private static float AutogradNorm(Tensor x, Tensor y, Tensor w, Tensor b, double lambda)
    {
        var wg = w.detach().clone().requires_grad_(true);
        var bg = b.detach().clone().requires_grad_(true);
        var loss = nn.functional.cross_entropy(x.matmul(wg.t()).add(bg), y) + 0.5 * lambda * wg.pow(2).sum();
        loss.backward();
        return Math.Max(wg.grad!.abs().max().item<float>(), bg.grad!.abs().max().item<float>());
    }
}
