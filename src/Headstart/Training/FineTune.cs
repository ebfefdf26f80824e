namespace Headstart.Training;

/// <summary>Higher training verbs composed from Freeze/Unfreeze/Fit (fastai's fine_tune).</summary>
public static class FineTune
{
    /// <summary>
    /// Freeze and fit the head for <paramref name="freezeEpochs"/> (one-cycle), then unfreeze and fit every group for
    /// <paramref name="epochs"/> with discriminative rates slice(lr/2/<paramref name="lrMult"/>, lr/2) (one-cycle).
    /// <paramref name="beforeUnfreeze"/> runs between the two fits: the frozen phase may train on cached backbone
    /// features, and the unfrozen one must then see images again. <paramref name="headSchedule"/> replaces the
    /// frozen phase's one-cycle schedule; <paramref name="unfrozenLr"/> replaces lr/2 as the unfrozen phase's peak;
    /// <paramref name="keepFrozen"/> leading layer groups stay frozen after the head phase (0 = unfreeze everything).
    /// </summary>
    public static void Run(Learner learner, int freezeEpochs, int epochs, double lr, double lrMult = 100,
        Action<Learner>? beforeUnfreeze = null, Schedule? headSchedule = null, double? unfrozenLr = null, int keepFrozen = 0)
    {
        learner.Freeze();
        if (freezeEpochs > 0) learner.Fit(freezeEpochs, lr, headSchedule ?? new OneCycleSchedule(PctStart: 0.99));
        beforeUnfreeze?.Invoke(learner);
        double baseLr = unfrozenLr ?? lr / 2;
        learner.FreezeTo(keepFrozen);
        if (epochs > 0) learner.Fit(epochs, new LearningRate(baseLr / lrMult, baseLr), new OneCycleSchedule(PctStart: 0.3));
    }
}
