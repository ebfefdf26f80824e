// The ML.NET peer (issue 21): ML.NET's own DnnImageFeaturizer.ResNet18 (the ONNX file Headstart embeds) + L-BFGS
// maximum entropy, on an ImageFolder (train/ and val/, one folder per class). Prints one JSON line: accuracy, seconds.
// Usage: dotnet run -c Release --project bench/MlNetPeer -- IMAGEFOLDER   (bench/mlnet/run.sh runs it beside Headstart)
using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;

if (args.Length != 1) { Console.Error.WriteLine("usage: MlNetPeer IMAGEFOLDER"); return 2; }
var sw = Stopwatch.StartNew();
string root = args[0];
Row[] Rows(string split) => Directory.GetDirectories(Path.Combine(root, split)).Order(StringComparer.Ordinal)
    .SelectMany(d => Directory.GetFiles(d).Order(StringComparer.Ordinal).Select(f => new Row { Path = f, Label = Path.GetFileName(d) }))
    .ToArray();
var ml = new MLContext(seed: 1);
var train = ml.Data.LoadFromEnumerable(Rows("train"));
var val = ml.Data.LoadFromEnumerable(Rows("val"));
// ML.NET's documented recipe: load, resize to 224, planar pixels (the featurizer's preprocessing graph subtracts the
// mean image), featurize, then cache, so that L-BFGS's passes over the data do not featurize again.
var pipeline = ml.Transforms.Conversion.MapValueToKey("LabelKey", nameof(Row.Label))
    .Append(ml.Transforms.LoadImages("Image", imageFolder: "", inputColumnName: nameof(Row.Path)))
    .Append(ml.Transforms.ResizeImages("Image", 224, 224, "Image"))
    .Append(ml.Transforms.ExtractPixels("Pixels", "Image"))
    .Append(ml.Transforms.DnnFeaturizeImage("Features", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn), "Pixels"))
    .AppendCacheCheckpoint(ml)
    .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("LabelKey", "Features"));
var model = pipeline.Fit(train);
var metrics = ml.MulticlassClassification.Evaluate(model.Transform(val), "LabelKey");
Console.WriteLine(JsonSerializer.Serialize(new { accuracy = metrics.MicroAccuracy, seconds = sw.Elapsed.TotalSeconds }));
return 0;

sealed class Row
{
    public string Path { get; set; } = "";
    public string Label { get; set; } = "";
}
