// Usage: ClassifierApp BUNDLE-DIR-OR-MODEL.onnx IMAGE [IMAGE...]
// A bundle runs in TorchSharp; an .onnx exported by 'headstart export' runs in ONNX Runtime, with its class names and
// preprocessing read from the model. One Classifier is thread-safe and meant to live as long as the app.
using Headstart;
using Headstart.Inference;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: ClassifierApp BUNDLE-DIR-OR-MODEL.onnx IMAGE [IMAGE...]");
    return 2;
}

try
{
    using var clf = Classifier.Load(args[0]);
    foreach (var image in args[1..])
    {
        var result = clf.Predict(File.ReadAllBytes(image), top: 3);
        Console.WriteLine($"{image}\t{result.Label}\t{result.Probability:F4}");
    }
    return 0;
}
catch (HeadstartException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
