namespace Headstart.Training;

/// <summary>Higher training verbs composed from Freeze/Unfreeze/Fit (fastai's fine_tune).</summary>
public static class FineTune
{
    /// <summary>
    /// Freeze and fit the head for <paramref name="freezeEpochs"/> (one-cycle), then unfreeze and fit every group for
    /// <paramref name="epochs"/> with discriminative rates slice(lr/2/<paramref name="lrMult"/>, lr/2) (one-cycle).
    /// </summary>
    public static void Run(Learner learner, int freezeEpochs, int epochs, double lr, double lrMult = 100)
    {
        learner.Freeze();
        if (freezeEpochs > 0) learner.Fit(freezeEpochs, lr, new OneCycleSchedule(PctStart: 0.99));
        double baseLr = lr / 2;
        learner.Unfreeze();
        if (epochs > 0) learner.Fit(epochs, new LearningRate(baseLr / lrMult, baseLr), new OneCycleSchedule(PctStart: 0.3));
    }
}
