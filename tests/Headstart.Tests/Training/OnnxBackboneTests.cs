using System.Text.Json;
using Headstart.Bundles;
using Headstart.Data;
using Headstart.Inference;
using Headstart.Models;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Headstart.Weights;
using Xunit;

namespace Headstart.Tests.Training;

/// <summary>
/// --model onnx:PATH: a backbone Headstart does not know, described by its file and a sidecar, trains on the frozen
/// fast path with the feature cache, and its bundle predicts after it moved. Tested with the CNTK ResNet18.onnx and
/// with a model written by `headstart export`.
/// </summary>
[Collection(CliCollection.Name)]
public sealed class OnnxBackboneTests : IDisposable
{
    private readonly TempDir tmp = new("onnx-backbone");

    /// <summary>A copy of the embedded ResNet18.onnx under a name the registry doesn't know, with a sidecar that gives
    /// CNTK's preprocessing (what resnet18-cntk's weight record says).</summary>
    private string BringCntkResNet18()
    {
        string dir = tmp.Combine("brought");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "my-backbone.onnx");
        File.Copy(EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNet18), path);
        var cntk = ModelRegistry.Get("resnet18-cntk").WeightSources[0].Preprocessing!;
        File.WriteAllText(OnnxBackbone.SidecarOf(path), JsonSerializer.Serialize(new { preprocessing = cntk }, BundleManifest.JsonOptions));
        return path;
    }

    [Fact]
    public void ABroughtBackboneTrainsOnCachedFeaturesAndItsBundleMoves()
    {
        string onnx = BringCntkResNet18();
        string data = tmp.Combine("data");
        SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 8, valPerClass: 4);
        var dataset = ImageFolder.Load(data);
        var o = new TrainOptions { Model = OnnxBackbone.Scheme + onnx, CacheDir = tmp.Combine("cache"), Epochs = 5 };

        var spec = ModelRegistry.Get(o.Model);
        Assert.Equal(("onnx", 2), (spec.Family, spec.LayerGroups.Count));
        Assert.False(spec.BackboneTrainable);
        Assert.Equal(Json(ModelRegistry.Get("resnet18-cntk").WeightSources[0].Preprocessing!), Json(spec.Preprocessing));
        Assert.Contains("512-d features", spec.Description);

        Prediction[] before;
        string bundle = tmp.Combine("bundle");
        using (var result = new TransferTrainer().Train(dataset, o))
        {
            Assert.True(result.Manifest.Plan!.FeaturesOnly);
            Assert.Equal(Json(spec.Preprocessing), Json(result.Manifest.Preprocessing));
            Assert.True(result.Metrics.Accuracy >= 0.75, $"val accuracy {result.Metrics.Accuracy}");
            Assert.Equal(512 * 2 + 2, result.TrainableParameters);   // fc alone: (512 x 2) + 2
            ModelBundle.Save(bundle, result);
        }
        // The second run reads every feature from the cache: the backbone never runs.
        Assert.True(FrozenFeatures.AllCached(spec, Pretrained.Resolve(spec), dataset, o));
        Assert.True(File.Exists(Path.Combine(bundle, "backbone.onnx.json")));   // the sidecar travelled with the copy

        using (var classifier = Classifier.Load(bundle))
            before = dataset.Val.Select(s => classifier.PredictFile(s.Path)).ToArray();
        // The bundle holds its own backbone copy: it predicts the same once moved and the original is gone.
        string moved = tmp.Combine("moved");
        Directory.Move(bundle, moved);
        Directory.Delete(Path.GetDirectoryName(onnx)!, recursive: true);
        using (var classifier = Classifier.Load(moved))
        {
            var after = dataset.Val.Select(s => classifier.PredictFile(s.Path)).ToArray();
            Assert.Equal(before.Select(p => (p.Label, p.Probability)), after.Select(p => (p.Label, p.Probability)));
        }
    }

    [Fact]
    public void OnlyTheFrozenFastPathHasAPlanForABroughtBackbone()
    {
        string onnx = BringCntkResNet18();
        var spec = ModelRegistry.Get(OnnxBackbone.Scheme + onnx);
        var model = OnnxBackbone.Scheme + onnx;
        Assert.Contains("ONNX Runtime only", Assert.Throws<TrainingPlanException>(() =>
            TrainingPlanner.Plan(new TrainOptions { Model = model, Strategy = Strategy.FineTune }, spec)).Message);
        Assert.Contains("ONNX Runtime only", Assert.Throws<TrainingPlanException>(() =>
            TrainingPlanner.Plan(new TrainOptions { Model = model, Strategy = Strategy.Full }, spec)).Message);
        Assert.Contains("--no-pretrained", Assert.Throws<TrainingPlanException>(() =>
            TrainingPlanner.Plan(new TrainOptions { Model = model, Pretrained = false }, spec)).Message);
        Assert.True(TrainingPlanner.Plan(new TrainOptions { Model = model }, spec).FeaturesOnly);
        Assert.Contains("does not exist", Assert.Throws<HeadstartException>(() => ModelRegistry.Get(OnnxBackbone.Scheme + tmp.Combine("nope.onnx"))).Message);
    }

    /// <summary>A zoo model exported by `headstart export` (two outputs, preprocessing inside the graph) serves as a
    /// backbone: the sidecar names its "logits" output and says its input is RGB 0-1.</summary>
    [Fact]
    public void AModelExportedByHeadstartIsABackboneThroughTheCli()
    {
        var env = new Dictionary<string, string> { ["HEADSTART_CACHE"] = tmp.Combine("cache") };
        string first = tmp.Combine("first"), second = tmp.Combine("second");
        SyntheticImages.WriteImageFolder(first, classes: 3, trainPerClass: 6, valPerClass: 2, seed: 1);
        SyntheticImages.WriteImageFolder(second, classes: 2, trainPerClass: 6, valPerClass: 3, seed: 2);
        var trained = CliRunner.Run(["train", first, "--epochs", "3", "--out", tmp.Combine("zoo-bundle"), "--json"], env, 300);
        Assert.True(trained.ExitCode == 0, trained.ToString());
        string exported = tmp.Combine("exported.onnx");
        var export = CliRunner.Run(["export", tmp.Combine("zoo-bundle"), "--out", exported, "--json"], env, 300);
        Assert.True(export.ExitCode == 0, export.ToString());
        File.WriteAllText(OnnxBackbone.SidecarOf(exported), """
            { "feature_output": "logits",
              "preprocessing": { "input_size": 224, "resize_size": 256, "mean": [0, 0, 0], "std": [1, 1, 1] } }
            """);

        var r = CliRunner.Run(["train", second, "--model", "onnx:" + exported, "--epochs", "5", "--out", tmp.Combine("byo"), "--json"], env, 300);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("onnx:" + exported, r.Json.GetProperty("model").GetString());
        var predict = CliRunner.Run(["predict", tmp.Combine("byo"), Directory.EnumerateFiles(Path.Combine(second, "val"), "*.jpg", SearchOption.AllDirectories).First(), "--json"], env, 120);
        Assert.True(predict.ExitCode == 0, predict.ToString());

        var refused = CliRunner.Run(["train", second, "--model", "onnx:" + exported, "--strategy", "fine-tune", "--json"], env, 120);
        Assert.True(refused.ExitCode == 2, refused.ToString());
        Assert.Contains("ONNX Runtime only", refused.Json.GetProperty("error").GetString());
        // Without the sidecar the two outputs are ambiguous, and the error names them.
        File.Delete(OnnxBackbone.SidecarOf(exported));
        var ambiguous = CliRunner.Run(["train", second, "--model", "onnx:" + exported, "--plan", "--json"], env, 120);
        Assert.True(ambiguous.ExitCode == 1, ambiguous.ToString());
        Assert.Contains("logits", ambiguous.Json.GetProperty("error").GetString());
    }

    private static string Json(Preprocessing p) => JsonSerializer.Serialize(p, BundleManifest.JsonOptions);

    public void Dispose() => tmp.Dispose();
}
