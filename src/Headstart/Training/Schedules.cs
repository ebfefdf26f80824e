using System.Text.Json.Serialization;

namespace Headstart.Training;

/// <summary>Learning-rate schedule kinds offered by the CLI.</summary>
public enum ScheduleKind { Constant, Step, Cosine, OneCycle }

/// <summary>
/// A schedule maps training progress to a multiplier of each parameter group's base learning rate, and optionally a
/// momentum (one-cycle). Evaluated per iteration, so it works for any batch count.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(ConstantSchedule), "constant")]
[JsonDerivedType(typeof(StepSchedule), "step")]
[JsonDerivedType(typeof(CosineSchedule), "cosine")]
[JsonDerivedType(typeof(OneCycleSchedule), "one_cycle")]
public abstract record Schedule
{
    /// <summary>Multiplier of the base LR at iteration <paramref name="it"/> of <paramref name="total"/>; epoch-based
    /// schedules also get the iterations per epoch.</summary>
    public abstract double LrFactor(long it, long total, long itersPerEpoch);

    /// <summary>Momentum (SGD) or beta1 (Adam) at this point; null to leave the optimiser's own.</summary>
    public virtual double? Momentum(long it, long total) => null;

    public static Schedule Create(ScheduleKind kind, int stepSize = 7, double gamma = 0.1, double warmup = 0.0) => kind switch
    {
        ScheduleKind.Constant => new ConstantSchedule(),
        ScheduleKind.Step => new StepSchedule(stepSize, gamma),
        ScheduleKind.Cosine => new CosineSchedule(warmup),
        ScheduleKind.OneCycle => new OneCycleSchedule(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}

public sealed record ConstantSchedule : Schedule
{
    public override double LrFactor(long it, long total, long itersPerEpoch) => 1.0;
}

/// <summary>torch.optim.lr_scheduler.StepLR: lr x gamma every <paramref name="StepSize"/> epochs.</summary>
public sealed record StepSchedule(int StepSize = 7, double Gamma = 0.1) : Schedule
{
    public override double LrFactor(long it, long total, long itersPerEpoch)
    {
        long epoch = itersPerEpoch > 0 ? it / itersPerEpoch : 0;
        return Math.Pow(Gamma, epoch / Math.Max(1, StepSize));
    }
}

/// <summary>Linear warm-up over the first <paramref name="WarmupFraction"/> of training, then half-cosine to
/// <paramref name="FinalFactor"/>.</summary>
public sealed record CosineSchedule(double WarmupFraction = 0.0, double FinalFactor = 0.0) : Schedule
{
    public override double LrFactor(long it, long total, long itersPerEpoch)
    {
        long warm = (long)Math.Round(WarmupFraction * total);
        if (it < warm) return (it + 1) / (double)warm;
        double p = total - warm <= 1 ? 1.0 : (it - warm) / (double)(total - warm - 1);
        return FinalFactor + (1 - FinalFactor) * 0.5 * (1 + Math.Cos(Math.PI * Math.Clamp(p, 0, 1)));
    }
}

/// <summary>
/// fastai/Smith one-cycle: cosine warm-up from lr/DivFactor to lr over <paramref name="PctStart"/> of training, then
/// cosine annealing to lr/(DivFactor*FinalDiv); momentum moves inversely between <paramref name="MaxMomentum"/> and
/// <paramref name="MinMomentum"/>.
/// </summary>
public sealed record OneCycleSchedule(double PctStart = 0.25, double DivFactor = 25, double FinalDiv = 1e5,
    double MaxMomentum = 0.95, double MinMomentum = 0.85) : Schedule
{
    private static double CosAnneal(double start, double end, double p) => end + (start - end) / 2 * (1 + Math.Cos(Math.PI * p));

    private (int Phase, double P) Where(long it, long total)
    {
        long up = Math.Max(1, (long)Math.Round(PctStart * total));
        if (it < up) return (0, it / (double)up);
        long down = Math.Max(1, total - up);
        return (1, Math.Min(1.0, (it - up) / (double)down));
    }

    public override double LrFactor(long it, long total, long itersPerEpoch)
    {
        var (phase, p) = Where(it, total);
        return phase == 0 ? CosAnneal(1 / DivFactor, 1, p) : CosAnneal(1, 1 / (DivFactor * FinalDiv), p);
    }

    public override double? Momentum(long it, long total)
    {
        var (phase, p) = Where(it, total);
        return phase == 0 ? CosAnneal(MaxMomentum, MinMomentum, p) : CosAnneal(MinMomentum, MaxMomentum, p);
    }
}
