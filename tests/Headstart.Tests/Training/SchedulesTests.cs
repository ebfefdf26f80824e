using Headstart.Training;
using Xunit;

namespace Headstart.Tests.Training;

public class SchedulesTests
{
    [Theory]
    [InlineData(0, 1.0)]
    [InlineData(69, 1.0)]     // epoch 6 (10 iters/epoch)
    [InlineData(70, 0.1)]     // epoch 7: first decay
    [InlineData(139, 0.1)]
    [InlineData(140, 0.01)]
    public void StepMatchesStepLR(long it, double expected) =>
        Assert.Equal(expected, new StepSchedule(7, 0.1).LrFactor(it, 250, 10), 12);

    [Fact]
    public void CosineWithWarmupMatchesFormula()
    {
        var s = new CosineSchedule(WarmupFraction: 0.1);
        const long total = 100;
        Assert.Equal(1 / 10.0, s.LrFactor(0, total, 10), 12);          // linear warm-up: (it+1)/warm
        Assert.Equal(5 / 10.0, s.LrFactor(4, total, 10), 12);
        Assert.Equal(1.0, s.LrFactor(10, total, 10), 12);              // peak right after warm-up
        double p = (55 - 10) / 89.0;
        Assert.Equal(0.5 * (1 + Math.Cos(Math.PI * p)), s.LrFactor(55, total, 10), 12);
        Assert.Equal(0.0, s.LrFactor(99, total, 10), 12);              // annealed to zero at the end
    }

    [Fact]
    public void OneCycleMatchesFastaiFormula()
    {
        var s = new OneCycleSchedule(PctStart: 0.25, DivFactor: 25, FinalDiv: 1e5);
        const long total = 100;
        Assert.Equal(1 / 25.0, s.LrFactor(0, total, 10), 12);              // starts at lr/div
        Assert.Equal(1.0, s.LrFactor(25, total, 10), 12);                  // peak at pct_start
        Assert.Equal(0.95, s.Momentum(0, total)!.Value, 12);               // momentum starts high
        Assert.Equal(0.85, s.Momentum(25, total)!.Value, 12);              // lowest at the LR peak
        double mid = 1 + (1 / 25.0 - 1) / 2 * (1 + Math.Cos(Math.PI * 12 / 25.0)); // annealing_cos(start, end, pct)
        Assert.Equal(mid, s.LrFactor(12, total, 10), 12);                  // cosine warm-up between
        Assert.True(s.LrFactor(99, total, 10) < 1e-3);                     // anneals towards lr/(div*final_div)
    }
}
