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
    private const int VerifyImages = 16;

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
            var (manifest, spec, model) = ModelBundle.Load(dir);
            using var _ = model;
            if (!OnnxExporter.CanExport(spec))
                throw new CliException($"ONNX export does not support '{spec.Name}' yet: its model record describes no forward layout to write (a backbone brought as ONNX has none).", Shell.RuntimeError);
            var path = Path.GetFullPath(parse.GetValue(Out) ?? Path.Combine(dir, "model.onnx"));
            var options = new OnnxExportOptions
            {
                Opset = parse.GetValue(Opset),
                Input = parse.GetValue(Input) == "uint8-hwc" ? OnnxInputFormat.Uint8Hwc : OnnxInputFormat.FloatNchw,
                Preprocessing = manifest.Preprocessing,
                MeanImage = ModelBundle.ReadMeanImage(dir, manifest),
                TestTimeFlip = manifest.TestTimeFlip,
            };

            // Written next to the target and moved into place only once verified: a failed export leaves nothing.
            var temp = path + ".verifying";
            try
            {
                OnnxExporter.Export(model, spec, manifest.Classes, temp, options);
                var (images, source) = VerificationImages(manifest);
                var check = OnnxVerifier.Verify(temp, model, manifest.Preprocessing, images, meanImage: options.MeanImage,
                    testTimeFlip: options.TestTimeFlip);
                if (!check.Passed)
                    throw new CliException($"verification failed: max abs probability difference {check.MaxAbsProbabilityDifference:E2} > " +
                                           $"{check.Tolerance:E0} on {check.Images} {source} images; nothing written.");
                File.Move(temp, path, overwrite: true);
                long bytes = new FileInfo(path).Length;
                output.Line($"wrote [bold]{Markup(path)}[/] ({bytes / 1e6:F1} MB, opset {options.Opset}, input {parse.GetValue(Input)})");
                output.Line($"verified in ONNX Runtime on {check.Images} {source} images: max abs probability difference " +
                            $"[green]{check.MaxAbsProbabilityDifference:E2}[/] (<= {check.Tolerance:E0}), top-1 agreement {check.TopLabelAgreement:P0}");
                return (Shell.Ok, new
                {
                    path, bytes, format = "onnx", opset = options.Opset, input = parse.GetValue(Input), model = spec.Name,
                    classes = manifest.Classes,
                    verification = new
                    {
                        images = check.Images, source, max_abs_probability_difference = check.MaxAbsProbabilityDifference,
                        tolerance = check.Tolerance, top1_agreement = check.TopLabelAgreement, passed = check.Passed,
                    },
                });
            }
            finally
            {
                if (File.Exists(temp)) File.Delete(temp);
            }
        }));
        return cmd;
    }

    private static string Markup(string s) => Spectre.Console.Markup.Escape(s);

    /// <summary>Up to 16 images of the bundle's dataset, spread over its classes; synthetic noise + gradients when
    /// the dataset is gone.</summary>
    private static (IReadOnlyList<DecodedImage> Images, string Source) VerificationImages(BundleManifest manifest)
    {
        if (manifest.Dataset?.Root is { } root && Directory.Exists(root))
        {
            var files = Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true })
                .Where(ImageDecoder.HasImageExtension).Order(StringComparer.Ordinal).ToList();
            var picked = files.Where((_, i) => i % Math.Max(1, files.Count / VerifyImages) == 0).Take(VerifyImages);
            var images = new List<DecodedImage>();
            foreach (var f in picked)
            {
                try { images.Add(ImageDecoder.Decode(f, DecodeOptions.Default)); }
                catch (ImageDecodeException) { }   // skipped in training too
            }
            if (images.Count > 0) return (images, "dataset");
        }
        var rng = new Random(7);
        var synthetic = Enumerable.Range(0, 4).Select(i =>
        {
            int w = 320 + 40 * i, h = 256;
            var rgb = new byte[w * h * 3];
            for (int p = 0; p < w * h; p++)
            {
                int x = p % w, y = p / w;
                rgb[3 * p] = (byte)(x * 255 / w);
                rgb[3 * p + 1] = (byte)(y * 255 / h);
                rgb[3 * p + 2] = (byte)rng.Next(256);
            }
            return new DecodedImage(w, h, rgb);
        }).ToList();
        return (synthetic, "synthetic");
    }
}
