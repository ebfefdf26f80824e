using Headstart.Training;
using Spectre.Console;

namespace Headstart.Cli.Common;

/// <summary>
/// Renders training progress: a live Spectre.Console progress display (bars with ETA) on an interactive terminal,
/// plain lines otherwise (CI logs, pipes, --json) so that logs stay readable.
/// </summary>
public sealed class ConsoleReporter : ITrainingReporter
{
    private readonly Output output;
    private ProgressContext? ctx;
    // Phases nest (a comparison's runs, a run's feature extraction): the innermost one advances. Task is null when
    // not interactive; Name is the caption a phase goes back to when it ends.
    private sealed record Phase(ProgressTask? Task, string Name, int Total)
    {
        public readonly System.Diagnostics.Stopwatch Clock = System.Diagnostics.Stopwatch.StartNew();
        public long Done;
        public double LastLine;
    }

    /// <summary>Seconds between progress lines when not interactive (a cluster's log, a pipe): HEADSTART_PROGRESS_SECONDS,
    /// default 10.</summary>
    private static readonly double LineEvery =
        double.TryParse(Environment.GetEnvironmentVariable("HEADSTART_PROGRESS_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out double s) && s >= 0 ? s : 10;
    private readonly Stack<Phase> phases = new();
    private ProgressTask? epochTask;
    private int epochBatches;

    public ConsoleReporter(Output output) => this.output = output;

    public bool Interactive => output.Console.Profile.Capabilities.Interactive && !output.IsJson;

    /// <summary>Runs <paramref name="work"/> inside a live progress display when interactive.</summary>
    public T Run<T>(Func<T> work)
    {
        if (!Interactive) return work();
        return output.Console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(c =>
            {
                ctx = c;
                try { return work(); }
                finally { ctx = null; }
            });
    }

    public void Info(string message)
    {
        // Inside a phase that spans many runs (a comparison's), a line per message would push the bars out of the
        // terminal: the latest message becomes the outermost bar's caption instead.
        if (ctx is not null && phases.LastOrDefault() is { Task: { } outer } bottom)
            outer.Description = $"{bottom.Name} [grey]{Markup.Escape(Shorten(message, 72))}[/]";
        else if (ctx is not null) ctx.AddTask($"[grey]{Markup.Escape(message)}[/]", autoStart: false, maxValue: 1).StopTask();
        else output.Line($"[grey]{Markup.Escape(message)}[/]");
    }

    private static string Shorten(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";

    public void Warn(string message)
    {
        if (ctx is not null) ctx.AddTask($"[yellow]warning:[/] {Markup.Escape(message)}", autoStart: false, maxValue: 1).StopTask();
        else output.Warn(message);
    }

    public void BeginPhase(string name, int total)
    {
        string caption = Markup.Escape(name);
        if (ctx is null) output.Line($"{caption}...");
        phases.Push(new Phase(ctx?.AddTask(caption, maxValue: Math.Max(1, total)), caption, total));
    }

    public void AdvancePhase(int n)
    {
        if (!phases.TryPeek(out var phase)) return;
        phase.Task?.Increment(n);
        phase.Done += n;
        // Not interactive: a line now and then, with the rate and the time left, that a log keeps readable.
        double t = phase.Clock.Elapsed.TotalSeconds;
        if (ctx is not null || phase.Total <= 0 || t - phase.LastLine < LineEvery || phase.Done >= phase.Total) return;
        phase.LastLine = t;
        double rate = phase.Done / Math.Max(t, 1e-9);
        var eta = TimeSpan.FromSeconds(rate > 0 ? (phase.Total - phase.Done) / rate : 0);
        output.Line($"[grey]  {phase.Done}/{phase.Total} ({100.0 * phase.Done / phase.Total:F0}%), {rate:F1}/s, " +
                    $"elapsed {TimeSpan.FromSeconds(t):hh\\:mm\\:ss}, ETA {eta:hh\\:mm\\:ss}[/]");
    }

    public void EndPhase()
    {
        if (phases.TryPop(out var phase) && phase.Task is { } task)
        {
            task.Value = task.MaxValue;
            task.Description = phase.Name;
            task.StopTask();
        }
    }

    public void StartEpoch(int epoch, int epochs, int batches)
    {
        epochBatches = batches;
        if (ctx is not null) epochTask = ctx.AddTask($"epoch {epoch}/{epochs}", maxValue: Math.Max(1, batches));
    }

    public void Advance(double loss)
    {
        if (epochTask is null) return;
        epochTask.Increment(1);
    }

    public void EndEpoch(EpochRecord r)
    {
        string line = FormatEpoch(r);
        if (epochTask is not null)
        {
            epochTask.Description = line;
            epochTask.Value = epochTask.MaxValue;
            epochTask.StopTask();
            epochTask = null;
        }
        else output.Line(line);
    }

    /// <summary>One summary line per epoch, short enough for an 80-column log.</summary>
    public static string FormatEpoch(EpochRecord r) =>
        $"epoch {r.Epoch,3}  loss {r.TrainLoss:F4}  train {100 * r.TrainAccuracy:F1}%" +
        (r.ValAccuracy is double va ? $"  val loss {r.ValLoss:F4}  [bold]val {100 * va:F1}%[/]" : "") +
        $"  lr {r.LearningRate:g2}  {r.Seconds:F1}s";
}
