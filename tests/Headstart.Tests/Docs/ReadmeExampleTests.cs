using Headstart.Bundles;
using Headstart.Data;
using Headstart.Inference;
using Headstart.Models;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Headstart.Weights;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Docs;

/// <summary>The README's library examples, run as written (on a generated dataset), so the docs match the code.</summary>
[Collection(GlobalRngCollection.Name)]
public class ReadmeExampleTests
{
    [Fact]
    public void TransferTrainerExampleRuns()
    {
        using var tmp = new TempDir("readme");
        SyntheticImages.WriteImageFolder(tmp.Combine("hymenoptera_data"), classes: 2, trainPerClass: 8, valPerClass: 4);
        var env = Environment.CurrentDirectory;
        Environment.CurrentDirectory = tmp.Path;
        try
        {
            // --- README: "Library" (first block) ---
            var data = ImageFolder.Load("hymenoptera_data");
            using var result = new TransferTrainer().Train(data, new TrainOptions { Model = "resnet18-cntk", Epochs = 25, CacheDir = "none" });
            Console.WriteLine($"val accuracy {result.Metrics.Accuracy:P1}");
            ModelBundle.Save("ants-bees", result);                         // frozen: head + the backbone file as is

            using var clf = Classifier.Load("ants-bees");
            var p = clf.Predict(File.ReadAllBytes(Path.Combine("hymenoptera_data", "val", "circle", "circle_000.jpg")), top: 2);
            Console.WriteLine($"{p.Label} {p.Probability:P1}");
            // --- end ---
            Assert.Equal("circle", p.Label);
            Assert.Equal(2, p.Top.Count);
            Assert.True(result.Metrics.Accuracy >= 0.75, $"accuracy {result.Metrics.Accuracy}");
        }
        finally
        {
            Environment.CurrentDirectory = env;
        }
    }

    [SharedFact("fixtures/torchvision/resnet18.zip.pth")]
    public void LearnerExampleRuns()
    {
        manual_seed(0);
        var x = randn(8, 3, 64, 64);
        var y = tensor(new long[] { 0, 1, 0, 1, 0, 1, 0, 1 });
        var trainBatches = new TensorBatchSource(x, y, 4, seed: 0, isFeatures: false);
        var validBatches = new TensorBatchSource(x, y, 8, seed: 0, isFeatures: false);
        string file = SharedData.PathTo("fixtures/torchvision/resnet18.zip.pth");

        // --- README: "Library" (second block), with the fixture standing in for resnet18-f37072fd.pth ---
        var spec = ModelRegistry.Get("resnet18");
        using var model = spec.Create(numClasses: 2);
        using (var sd = WeightFile.Read(file))
            WeightLoader.Load(model, sd, spec);
        using var learner = new Learner(model, spec, trainBatches, validBatches);
        learner.Freeze();
        learner.Fit(1, 1e-3, new OneCycleSchedule());
        learner.Unfreeze();
        learner.Fit(4, new LearningRate(1e-5, 1e-3), new OneCycleSchedule());
        // --- end ---
        Assert.Equal(5, learner.Recorder.History.Count);
    }
}
