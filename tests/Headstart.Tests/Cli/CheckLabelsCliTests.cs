using System.Text.RegularExpressions;
using Headstart.Data;
using Headstart.Tests.TestSupport;
using Headstart.Tests.Training;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>`headstart check DATA --labels`: the real CLI ranks planted label errors first, and a second audit
/// honours the decisions sidecar while the dataset stays untouched.</summary>
[Collection(CliCollection.Name)]
public class CheckLabelsCliTests
{
    [Fact]
    public void RanksPlantedErrorsFirstAndHonoursDecisions()
    {
        using var tmp = new TempDir("check-labels");
        string data = tmp.Combine("shapes");
        var planted = PlantedLabelErrors.Plant(data, classes: 3, trainPerClass: 12, valPerClass: 4)
            .Select(p => Path.GetRelativePath(data, p).Replace('\\', '/')).ToArray();
        var env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Combine("cache") };
        var before = SyntheticImages.TreeHashes(data);

        var run = CliRunner.Run(["check", data, "--labels", "--epochs", "10", "--top", "8", "--json"], env);
        Assert.True(run.ExitCode == 0, run.ToString());
        var labels = run.Json.GetProperty("labels");
        Assert.Equal(5, labels.GetProperty("folds").GetInt32());
        Assert.Equal(3 * 12 + planted.Length, labels.GetProperty("count").GetInt32());
        var ranked = labels.GetProperty("ranked").EnumerateArray().ToList();
        Assert.Equal(8, ranked.Count);
        var top = ranked.Select(r => r.GetProperty("path").GetString()!).ToList();
        Assert.All(planted, p => Assert.Contains(p, top));   // all four within the top 8
        var first = ranked[0];
        Assert.Contains(first.GetProperty("path").GetString()!, planted);
        Assert.NotEqual(first.GetProperty("label").GetString(), first.GetProperty("predicted").GetString());
        Assert.True(first.GetProperty("loss").GetDouble() > -Math.Log(0.5));
        Assert.InRange(labels.GetProperty("out_of_fold_accuracy").GetDouble(), 0.5, 1.0);
        // Spectre wraps lines at the console's width (80 columns without a terminal).
        string said = Regex.Replace(run.Stderr, @"\s+", " ");
        Assert.Contains($"{3 * 12 + planted.Length} images ranked by out-of-fold loss with 5 heads (each image scored by a head that never saw it)", said);
        Assert.Contains(".headstart-labels.json", said);

        // Decide: exclude one planted image, give another its true class; the next audit sees the dataset that way.
        new LabelDecisions(data,
        [
            new LabelDecision(planted[0], LabelDecisions.Exclude),
            new LabelDecision(planted[1], LabelDecisions.Relabel, "circle"),
        ]).Save();
        var again = CliRunner.Run(["check", data, "--labels", "--epochs", "10", "--top", "50", "--json"], env);
        Assert.True(again.ExitCode == 0, again.ToString());
        var after = again.Json.GetProperty("labels");
        Assert.Equal(3 * 12 + planted.Length - 1, after.GetProperty("count").GetInt32());
        Assert.Contains("1 file(s) excluded, 1 relabelled", after.GetProperty("decisions").GetString());
        var rows = after.GetProperty("ranked").EnumerateArray().ToDictionary(r => r.GetProperty("path").GetString()!);
        Assert.DoesNotContain(planted[0], rows.Keys);
        Assert.Equal("circle", rows[planted[1]].GetProperty("label").GetString());
        Assert.Equal("circle", rows[planted[1]].GetProperty("predicted").GetString());
        Assert.Contains("feature cache:", again.Stderr);   // the second audit reads the features the first computed
        Assert.Equal(before, SyntheticImages.TreeHashes(data));

        var bad = CliRunner.Run(["check", data, "--labels", "--folds", "1"], env);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--folds must be 2 or more", bad.Stdout + bad.Stderr);
    }
}
