namespace Headstart.Evaluation;

/// <summary>Precision, recall and F1 of one class, with its support (number of true samples).</summary>
public sealed record ClassMetrics(string Class, double Precision, double Recall, double F1, int Support);

/// <summary>A pair of classes the model confuses: <see cref="Count"/> samples of Actual predicted as Predicted.</summary>
public sealed record ConfusedPair(string Actual, string Predicted, int Count);

/// <summary>Accuracy, per-class precision/recall/F1 and the confusion matrix (rows = actual, columns = predicted).</summary>
public sealed record ClassificationMetrics(
    double Accuracy,
    int Count,
    IReadOnlyList<string> Classes,
    int[][] ConfusionMatrix,
    IReadOnlyList<ClassMetrics> PerClass,
    double MacroF1)
{
    /// <summary>Computes metrics from true and predicted labels.</summary>
    public static ClassificationMetrics Compute(IReadOnlyList<string> classes, IReadOnlyList<int> actual, IReadOnlyList<int> predicted)
    {
        if (actual.Count != predicted.Count) throw new ArgumentException("actual and predicted differ in length");
        int k = classes.Count;
        var cm = Enumerable.Range(0, k).Select(_ => new int[k]).ToArray();
        for (int i = 0; i < actual.Count; i++) cm[actual[i]][predicted[i]]++;
        int correct = Enumerable.Range(0, k).Sum(i => cm[i][i]);
        var per = new List<ClassMetrics>(k);
        for (int c = 0; c < k; c++)
        {
            int tp = cm[c][c];
            int support = cm[c].Sum();
            int predictedC = Enumerable.Range(0, k).Sum(r => cm[r][c]);
            double p = predictedC == 0 ? 0 : tp / (double)predictedC;
            double r = support == 0 ? 0 : tp / (double)support;
            double f1 = p + r == 0 ? 0 : 2 * p * r / (p + r);
            per.Add(new ClassMetrics(classes[c], p, r, f1, support));
        }
        double acc = actual.Count == 0 ? 0 : correct / (double)actual.Count;
        double macro = per.Where(m => m.Support > 0).Select(m => m.F1).DefaultIfEmpty(0).Average();
        return new ClassificationMetrics(acc, actual.Count, classes, cm, per, macro);
    }

    /// <summary>Off-diagonal cells, largest first (fastai's most_confused).</summary>
    public IReadOnlyList<ConfusedPair> MostConfused(int minCount = 1) =>
        (from a in Enumerable.Range(0, Classes.Count)
         from p in Enumerable.Range(0, Classes.Count)
         where a != p && ConfusionMatrix[a][p] >= minCount
         orderby ConfusionMatrix[a][p] descending, a, p
         select new ConfusedPair(Classes[a], Classes[p], ConfusionMatrix[a][p])).ToList();
}
