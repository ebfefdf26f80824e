using Headstart.Data;
using Headstart.Reporting;
using Headstart.Training;
using Xunit;

namespace Headstart.Tests.Training;

public class ComparisonTests
{
    private static ImageDataset Data(int perClass = 30)
    {
        var train = Enumerable.Range(0, 3).SelectMany(c => Enumerable.Range(0, perClass).Select(i => new ImageSample($"c{c}/{i:D3}", c))).ToList();
        var val = Enumerable.Range(0, 3).Select(c => new ImageSample($"v{c}", c)).ToList();
        return new ImageDataset("mem", "idx", ["a", "b", "c"], train, val, [], new InMemoryImageSource(new Dictionary<string, DecodedImage>()));
    }

    [Fact]
    public void ShotSubsetsAreStratifiedNestedAndKeepValidation()
    {
        var data = Data();
        var s5 = Comparison.Subset(data, 5, seed: 42);
        var s10 = Comparison.Subset(data, 10, seed: 42);
        Assert.All(Enumerable.Range(0, 3), c => Assert.Equal(5, s5.Train.Count(s => s.Label == c)));
        Assert.Subset(s10.Train.ToHashSet(), s5.Train.ToHashSet());
        Assert.Same(data.Val, s5.Val);
        Assert.Equal(s5.Train, Comparison.Subset(data, 5, seed: 42).Train);
        Assert.NotEqual(s5.Train, Comparison.Subset(data, 5, seed: 7).Train);
    }

    [Fact]
    public void SmallCnnGetsEnoughStepsOnTinyTrainingSets()
    {
        var o = new ComparisonOptions { SmallCnnEpochs = 30, SmallCnnMinSteps = 150, BatchSize = 32 };   // explicit, not the defaults
        Assert.Equal(75, Comparison.OptionsFor(Recipe.SmallCnn, o, 50).Epochs);     // 2 batches per epoch
        Assert.Equal(30, Comparison.OptionsFor(Recipe.SmallCnn, o, 1000).Epochs);   // 32 batches per epoch
        var cnn = Comparison.OptionsFor(Recipe.SmallCnn, o, 50);
        Assert.Equal(("small_cnn", false, Strategy.Full, (Freeze?)null), (cnn.Model, cnn.Pretrained, cnn.Strategy, cnn.Freeze));
        var scratch = Comparison.OptionsFor(Recipe.Scratch, o with { Model = "resnet18" }, 50);
        Assert.Equal(("resnet18", false, Strategy.Full), (scratch.Model, scratch.Pretrained, scratch.Strategy));
        Assert.All(Enum.GetValues<Recipe>(), r => Assert.False(Comparison.OptionsFor(r, o, 50).KeepBest));
    }

    private static ComparisonResult Result(params (int K, double Transfer, double Scratch)[] points) =>
        new([], points.SelectMany(p => new[]
        {
            new EfficiencyPoint(Recipe.Frozen, p.K, p.K * 10, p.Transfer, 1, false),
            new EfficiencyPoint(Recipe.SmallCnn, p.K, p.K * 10, p.Scratch, 1, false),
        }).ToList(), null, new ComparisonOptions(), "mem", 500, 10);

    [Fact]
    public void FindingsFollowTheNumbersAndCallSmallDifferencesNoise()
    {
        // 500 val images: two standard errors of the difference are about 5 points at 75-80% accuracy.
        var f = Comparison.Findings(Result((5, 0.60, 0.45), (20, 0.778, 0.766), (100, 0.842, 0.85)));
        Assert.Equal("Transfer was ahead at 5 images per class, within noise at 20, 100. " +
                     "Point estimates: transfer higher at 5, 20, lower at 100 images per class; largest gap +15.0 points at 5.", f[0]);
        Assert.Contains("20 images per class: transfer 77.8% vs small CNN from scratch 76.6% (+1.2 points, within noise", f[2]);
        Assert.Contains("100 images per class: transfer 84.2% vs small CNN from scratch 85.0% (-0.8 points, within noise", f[3]);

        Assert.StartsWith("Transfer did not beat", Comparison.Findings(Result((5, 0.3, 0.6)))[0]);
        Assert.Equal("Transfer was ahead at every measured size (5, 10 images per class). Point estimates: transfer higher at " +
                     "every measured size (5, 10 images per class); largest gap +40.0 points at 5.",
            Comparison.Findings(Result((5, 0.9, 0.5), (10, 0.95, 0.6)))[0]);
        Assert.Contains("Point estimates: transfer lower at every measured size (5, 10 images per class)",
            Comparison.Findings(Result((5, 0.5, 0.52), (10, 0.6, 0.61)))[0]);
        Assert.Contains("Point estimates: transfer higher at 5, equal at 10 images per class",
            Comparison.Findings(Result((5, 0.55, 0.52), (10, 0.6, 0.6)))[0]);
        Assert.StartsWith("Transfer and the small CNN from scratch are within noise", Comparison.Findings(Result((5, 0.5, 0.5)))[0]);
        Assert.Empty(Comparison.Findings(Result()));
    }

    [Fact]
    public void ComparisonPageShowsTheFindingsAndTheCurve()
    {
        var r = Result((5, 0.60, 0.45), (100, 0.842, 0.85));
        string html = ComparisonReport.Render(r, "intro <b>text</b>");
        Assert.Contains("id=\"efficiency-curve\"", html);
        Assert.Contains("id=\"efficiency-table\"", html);
        Assert.Contains("Transfer was ahead at 5 images per class, within noise at 100.", html);
        Assert.Contains("lower at 100 images per class", html);
        Assert.Contains("intro &lt;b&gt;text&lt;/b&gt;", html);
    }
}
