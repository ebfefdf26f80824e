using System.Diagnostics;
using Headstart.Training;

namespace Headstart.Studio.Jobs;

/// <summary>
/// Turns the trainer's progress into a job's events: stages with done/total and time left, epochs with their
/// metrics. It is also how a job is cancelled: the trainer reports at every batch, and a cancelled job's reporter
/// throws there, so no stage outlives a cancel by more than a batch.
/// </summary>
internal sealed class JobReporter(Job job, CancellationToken ct) : ITrainingReporter
{
    private sealed class Stage(string name, int total)
    {
        public readonly string Name = name;
        public readonly int Total = total;
        public readonly Stopwatch Clock = Stopwatch.StartNew();
        public long Done;
    }

    private readonly Stack<Stage> stages = new();
    private readonly Stopwatch sinceTick = Stopwatch.StartNew();
    private int epoch, epochs, batches, batch;
    private readonly Stopwatch epochClock = new();

    public void Info(string message) { Check(); job.Publish("info", new { message }); }
    public void Warn(string message) { Check(); job.Publish("warning", new { message }); }

    public void BeginPhase(string name, int total)
    {
        Check();
        stages.Push(new Stage(name, total));
        job.Publish("stage", new { name, total });
    }

    public void AdvancePhase(int n)
    {
        Check();
        if (!stages.TryPeek(out var s)) return;
        s.Done += n;
        if (sinceTick.ElapsedMilliseconds < 250 && s.Done < s.Total) return;   // a tick at most every 250 ms
        sinceTick.Restart();
        double t = s.Clock.Elapsed.TotalSeconds, rate = s.Done / Math.Max(t, 1e-9);
        job.Publish("progress", new { stage = s.Name, done = s.Done, total = s.Total, elapsed = t, eta = rate > 0 ? (s.Total - s.Done) / rate : (double?)null });
    }

    public void EndPhase()
    {
        Check();
        if (stages.TryPop(out var s)) job.Publish("stage_end", new { name = s.Name, seconds = s.Clock.Elapsed.TotalSeconds });
    }

    public void StartEpoch(int epoch, int epochs, int batches)
    {
        Check();
        (this.epoch, this.epochs, this.batches, batch) = (epoch, epochs, batches, 0);
        epochClock.Restart();
    }

    public void Advance(double loss)
    {
        Check();
        batch++;
        if (sinceTick.ElapsedMilliseconds < 250 && batch < batches) return;
        sinceTick.Restart();
        // Time left in the phase: this epoch's remaining batches at its own pace, then the epochs still to come at the
        // pace this one projects to.
        double perBatch = epochClock.Elapsed.TotalSeconds / Math.Max(batch, 1);
        double eta = (batches - batch) * perBatch + (epochs - epoch) * batches * perBatch;
        job.Publish("progress", new { stage = $"epoch {epoch} of {epochs}", done = batch, total = batches, loss, eta });
    }

    public void EndEpoch(EpochRecord r)
    {
        Check();
        job.Publish("epoch", new
        {
            epoch = r.Epoch, epochs, train_loss = r.TrainLoss, train_accuracy = r.TrainAccuracy, val_loss = r.ValLoss,
            val_accuracy = r.ValAccuracy, learning_rate = r.LearningRate, seconds = r.Seconds,
        });
    }

    private void Check() => ct.ThrowIfCancellationRequested();
}
