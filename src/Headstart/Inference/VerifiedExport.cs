using Headstart.Bundles;
using Headstart.Data;
using Headstart.Export;
using Headstart.Training;

namespace Headstart.Inference;

/// <summary>An export and how it was checked: the verification, and whether it ran on the dataset's images or synthetic ones.</summary>
public sealed record VerifiedExportResult(OnnxVerification Check, string Source, OnnxExportOptions Options, string Model, IReadOnlyList<string> Classes)
{
    public bool Passed => Check.Passed;
}

/// <summary>
/// A bundle exported to ONNX and verified in ONNX Runtime against TorchSharp before it is kept (the CLI's export and
/// the Studio's download): written next to the target, checked on up to 16 of the bundle's dataset images (synthetic
/// ones when the dataset is gone), and moved into place only when every probability agrees within the tolerance; a
/// failed export leaves nothing.
/// </summary>
public static class VerifiedExport
{
    private const int VerifyImages = 16;

    public static VerifiedExportResult Write(string bundleDir, string path, int opset = 17, OnnxInputFormat input = OnnxInputFormat.FloatNchw)
    {
        var (manifest, spec, model) = ModelBundle.Load(bundleDir);
        using var _ = model;
        if (!OnnxExporter.CanExport(spec))
            throw new HeadstartException($"ONNX export does not support '{spec.Name}' yet: its model record describes no forward layout to write (a backbone brought as ONNX has none).");
        var options = new OnnxExportOptions
        {
            Opset = opset, Input = input, Preprocessing = manifest.Preprocessing,
            MeanImage = ModelBundle.ReadMeanImage(bundleDir, manifest), TestTimeFlip = manifest.TestTimeFlip,
        };
        var temp = path + ".verifying";
        try
        {
            OnnxExporter.Export(model, spec, manifest.Classes, temp, options);
            var (images, source) = VerificationImages(manifest);
            var check = OnnxVerifier.Verify(temp, model, manifest.Preprocessing, images, meanImage: options.MeanImage, testTimeFlip: options.TestTimeFlip);
            if (check.Passed) File.Move(temp, path, overwrite: true);
            return new VerifiedExportResult(check, source, options, spec.Name, manifest.Classes);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

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
