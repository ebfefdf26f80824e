// The packaging test's consumer app: only the Headstart package's public API, as README's library example uses it.
//   gen ROOT                          writes a small labelled ImageFolder (3 shapes, train/ + val/; SkiaSharp, which
//                                     the package brings)
//   train DATA BUNDLE                 trains the default recipe (frozen resnet18-cntk), saves the bundle
//   predict BUNDLE IMAGE [EXPECTED]   loads a bundle (from anywhere), prints "label<TAB>probability"
// Exit codes: 0 ok, 1 a check failed, 2 usage, 3 a HeadstartException (a user error the library reported).
using Headstart;
using Headstart.Bundles;
using Headstart.Data;
using Headstart.Inference;
using Headstart.Tests.TestSupport;
using Headstart.Training;

try
{
    return args switch
    {
        ["gen", var root] => Generate(root),
        ["train", var data, var bundle] => Train(data, bundle),
        ["predict", var bundle, var image] => Predict(bundle, image, null),
        ["predict", var bundle, var image, var expected] => Predict(bundle, image, expected),
        _ => Usage(),
    };
}
catch (HeadstartException e)
{
    Console.Error.WriteLine($"consumer: {e.Message}");
    return 3;
}

static int Usage()
{
    Console.Error.WriteLine("usage: Consumer gen ROOT | train DATA BUNDLE | predict BUNDLE IMAGE [EXPECTED]");
    return 2;
}

static int Train(string data, string bundle)
{
    var dataset = ImageFolder.Load(data);
    using var result = new TransferTrainer().Train(dataset, new TrainOptions { Model = "resnet18-cntk", Epochs = 5 });
    ModelBundle.Save(bundle, result);
    double accuracy = result.Metrics.Accuracy;
    Console.WriteLine($"accuracy\t{accuracy:R}");
    // Three classes of plain shapes: chance is 1/3; ImageNet features separate them almost perfectly.
    if (accuracy < 0.8) { Console.Error.WriteLine($"consumer: val accuracy {accuracy:P1} is below 80%"); return 1; }
    return 0;
}

static int Predict(string bundle, string image, string? expected)
{
    using var clf = Classifier.Load(bundle);
    var p = clf.Predict(File.ReadAllBytes(image), top: 3);
    Console.WriteLine($"{p.Label}\t{p.Probability:R}");
    if (expected is not null && p.Label != expected)
    {
        Console.Error.WriteLine($"consumer: predicted '{p.Label}' for {image}, expected '{expected}'");
        return 1;
    }
    return 0;
}

// 3 classes x (10 train + 5 val) JPEGs: the tests' own generator (SyntheticImages.cs, copied in by run.sh).
static int Generate(string root)
{
    SyntheticImages.WriteImageFolder(root, classes: 3, trainPerClass: 10, valPerClass: 5);
    return 0;
}
