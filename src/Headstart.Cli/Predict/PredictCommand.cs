using System.CommandLine;
using Headstart.Cli.Common;
using Headstart.Data;
using Headstart.Inference;
using Spectre.Console;

namespace Headstart.Cli.Predict;

/// <summary>headstart predict BUNDLE FILES-OR-DIRS...: class and probability for each image.</summary>
public static class PredictCommand
{
    private static readonly Argument<string> Bundle = new("bundle") { Description = "Bundle directory written by 'headstart train', or an .onnx file written by 'headstart export'" };
    private static readonly Argument<string[]> Inputs = new("inputs") { Description = "Image files and/or directories (searched recursively)", Arity = ArgumentArity.OneOrMore };
    private static readonly Option<int> Top = Opt.Of("--top", "Show the K most likely classes", 1);
    private static readonly Option<string?> Weights = Opt.Maybe<string>("--weights", "Weights file to use instead of the bundle's own (same arch and classes)");
    private static readonly Option<string> Engine = Opt.Choice("--engine",
        "torch: TorchSharp; onnx: ONNX Runtime (a bundle is exported in memory; an .onnx file always runs in ORT)", "torch", "torch", "onnx");
    private static readonly Option<int> BatchSize = Opt.Of("--batch-size", "Images per forward pass", 16);

    public static Command Create()
    {
        var cmd = new Command("predict", "Classify images with a trained bundle") { Bundle, Inputs, Top, BatchSize, Weights, Engine };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            int top = parse.GetValue(Top), batch = Math.Max(1, parse.GetValue(BatchSize));
            if (top < 1) throw new CliException("--top must be at least 1", Shell.UsageError);
            var files = Expand(parse.GetValue(Inputs)!, out var missing);
            var engine = parse.GetValue(Engine) == "onnx" ? InferenceEngine.Onnx : InferenceEngine.Torch;
            using var clf = Classifier.Load(parse.GetValue(Bundle)!, weightsOverride: parse.GetValue(Weights), engine: engine);
            var results = new List<(string Path, Prediction? P, string? Error)>();
            results.AddRange(missing.Select(m => (m, (Prediction?)null, (string?)"no such file or directory")));
            foreach (var chunk in files.Chunk(batch))
            {
                var decoded = new List<(string Path, DecodedImage Img)>();
                foreach (var f in chunk)
                {
                    try { decoded.Add((f, ImageDecoder.Decode(f, DecodeOptions.Default, 512))); }
                    catch (ImageDecodeException ex) { results.Add((f, null, ex.Reason)); }
                }
                var preds = clf.PredictDecoded(decoded.Select(d => d.Img).ToList(), top);
                results.AddRange(decoded.Select((d, i) => (d.Path, (Prediction?)preds[i], (string?)null)));
            }
            var table = new Table().AddColumns("image", "class", "probability");
            if (top > 1) table.AddColumn($"top {top}");
            foreach (var (path, p, err) in results)
            {
                if (p is null) { table.AddRow(Markup.Escape(path), "[red]error[/]", Markup.Escape(err!)); continue; }
                var row = new List<string> { Markup.Escape(path), $"[bold]{Markup.Escape(p.Label)}[/]", $"{p.Probability:P1}" };
                if (top > 1) row.Add(Markup.Escape(string.Join(", ", p.Top.Select(t => $"{t.Label} {t.Probability:P1}"))));
                table.AddRow(row.ToArray());
            }
            output.Console.Write(table);
            int failed = results.Count(r => r.P is null);
            if (failed > 0) output.Warn($"{failed} of {results.Count} input(s) could not be classified");
            if (results.Count == 0) throw new CliException("no image files found in the given inputs");
            return (failed > 0 ? Shell.RuntimeError : Shell.Ok, new
            {
                engine = clf.Engine.ToString().ToLowerInvariant(),
                predictions = results.Where(r => r.P is not null).Select(r => new
                {
                    path = r.Path, label = r.P!.Label, probability = r.P.Probability,
                    top = r.P.Top.Select(t => new { label = t.Label, probability = t.Probability }),
                }),
                errors = results.Where(r => r.P is null).Select(r => new { path = r.Path, reason = r.Error }),
            });
        }));
        return cmd;
    }

    private static List<string> Expand(IEnumerable<string> inputs, out List<string> missing)
    {
        var files = new List<string>();
        missing = [];
        foreach (var input in inputs)
        {
            if (File.Exists(input)) files.Add(input);
            else if (Directory.Exists(input))
                files.AddRange(Directory.EnumerateFiles(input, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true })
                    .Where(ImageDecoder.HasImageExtension).Order(StringComparer.Ordinal));
            else missing.Add(input);
        }
        return files;
    }
}
