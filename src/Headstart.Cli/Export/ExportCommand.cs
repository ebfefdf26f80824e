using System.CommandLine;
using Headstart.Bundles;
using Headstart.Cli.Common;
using Headstart.Data;
using Headstart.Export;
using Headstart.Inference;
using Headstart.Training;

namespace Headstart.Cli.Export;

/// <summary>
/// headstart export BUNDLE --format onnx: writes the model as ONNX, then verifies the file in ONNX Runtime against
/// TorchSharp on real images (the bundle's dataset when it still exists, else synthetic ones); exit 1 when the max abs
/// probability difference exceeds 1e-4 (the file is then not left behind).
/// </summary>
public static class ExportCommand
{
    private static readonly Argument<string> Bundle = new("bundle") { Description = "Bundle directory written by 'headstart train'" };
    private static readonly Option<string> Format = Opt.Choice("--format", "Export format", "onnx", "onnx");
    private static readonly Option<string?> Out = Opt.Maybe<string>("--out", "Output file (default: BUNDLE/model.onnx)");
    private static readonly Option<int> Opset = Opt.Of("--opset", "ONNX opset (14-21)", 17);
    private static readonly Option<string> Input = Opt.Choice("--input",
        "Input tensor: float-nchw = float32 (N,3,S,S) RGB 0-1; uint8-hwc = uint8 (N,S,S,3) RGB 0-255. Either way the caller resizes and centre-crops to S",
        "float-nchw", "float-nchw", "uint8-hwc");

    public static Command Create()
    {
        var cmd = new Command("export", "Export a trained bundle to ONNX and verify it in ONNX Runtime") { Bundle, Format, Out, Opset, Input };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            var dir = parse.GetValue(Bundle)!;
            var path = Path.GetFullPath(parse.GetValue(Out) ?? Path.Combine(dir, "model.onnx"));
            var input = parse.GetValue(Input) == "uint8-hwc" ? OnnxInputFormat.Uint8Hwc : OnnxInputFormat.FloatNchw;
            var export = VerifiedExport.Write(dir, path, parse.GetValue(Opset), input);
            var check = export.Check;
            if (!check.Passed)
                throw new CliException($"verification failed: max abs probability difference {check.MaxAbsProbabilityDifference:E2} > " +
                                       $"{check.Tolerance:E0} on {check.Images} {export.Source} images; nothing written.");
            long bytes = new FileInfo(path).Length;
            output.Line($"wrote [bold]{Markup(path)}[/] ({bytes / 1e6:F1} MB, opset {export.Options.Opset}, input {parse.GetValue(Input)})");
            output.Line($"verified in ONNX Runtime on {check.Images} {export.Source} images: max abs probability difference " +
                        $"[green]{check.MaxAbsProbabilityDifference:E2}[/] (<= {check.Tolerance:E0}), top-1 agreement {check.TopLabelAgreement:P0}");
            return (Shell.Ok, new
            {
                path, bytes, format = "onnx", opset = export.Options.Opset, input = parse.GetValue(Input), model = export.Model,
                classes = export.Classes,
                verification = new
                {
                    images = check.Images, source = export.Source, max_abs_probability_difference = check.MaxAbsProbabilityDifference,
                    tolerance = check.Tolerance, top1_agreement = check.TopLabelAgreement, passed = check.Passed,
                },
            });
        }));
        return cmd;
    }

    private static string Markup(string s) => Spectre.Console.Markup.Escape(s);
}
