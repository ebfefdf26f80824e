using Headstart.Evaluation;
using Spectre.Console;

namespace Headstart.Cli.Common;

/// <summary>Console rendering of classification metrics: per-class table and confusion matrix.</summary>
public static class MetricsView
{
    public static void Write(Output output, ClassificationMetrics m)
    {
        var table = new Table().Title($"validation: accuracy [bold]{m.Accuracy:P1}[/] on {m.Count} images, macro F1 {m.MacroF1:F3}")
            .AddColumns("class", "precision", "recall", "F1", "support");
        foreach (var c in m.PerClass)
            table.AddRow(Markup.Escape(c.Class), $"{c.Precision:F3}", $"{c.Recall:F3}", $"{c.F1:F3}", c.Support.ToString());
        output.Console.Write(table);

        var cm = new Table().Title("confusion matrix (rows: actual, columns: predicted)").AddColumn("");
        foreach (var c in m.Classes) cm.AddColumn(new TableColumn(Markup.Escape(c)).RightAligned());
        for (int i = 0; i < m.Classes.Count; i++)
            cm.AddRow([Markup.Escape(m.Classes[i]), .. m.ConfusionMatrix[i].Select((v, j) => i == j ? $"[green]{v}[/]" : v == 0 ? "[grey]0[/]" : $"[red]{v}[/]")]);
        output.Console.Write(cm);
    }

    /// <summary>The JSON form used by --json outputs.</summary>
    public static object ToJson(ClassificationMetrics m) => new
    {
        accuracy = m.Accuracy,
        count = m.Count,
        macro_f1 = m.MacroF1,
        classes = m.Classes,
        confusion_matrix = m.ConfusionMatrix,
        per_class = m.PerClass.Select(c => new { @class = c.Class, precision = c.Precision, recall = c.Recall, f1 = c.F1, support = c.Support }),
    };
}
