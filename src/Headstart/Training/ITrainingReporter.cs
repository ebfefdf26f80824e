namespace Headstart.Training;

/// <summary>What the trainer tells its user while it works (the CLI renders it with Spectre.Console).</summary>
public interface ITrainingReporter : IProgressSink
{
    void Info(string message);
    void Warn(string message);
    /// <summary>Starts a counted phase such as feature extraction; <see cref="AdvancePhase"/> moves it on.</summary>
    void BeginPhase(string name, int total);
    void AdvancePhase(int n);
    void EndPhase();
}
