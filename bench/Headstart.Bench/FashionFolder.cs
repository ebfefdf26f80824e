using Headstart.Data;
using SkiaSharp;

namespace Headstart.Bench;

/// <summary>
/// Writes a Fashion-MNIST subset (Debian's dataset-fashion-mnist) as an ImageFolder of 28x28 grayscale PNGs, so that
/// `headstart train` can run on a dataset far from ImageNet (the fine-tune study in bench/README.md).
/// </summary>
public static class FashionFolder
{
    /// <summary>
    /// <paramref name="perClass"/> training images per class from the training file into root/train/&lt;class&gt;,
    /// <paramref name="valPerClass"/> per class from the test file into root/val/&lt;class&gt;; the same images as
    /// <see cref="FashionMnist.Load"/> picks for the seed. Returns the number of files written.
    /// </summary>
    public static int Write(string root, int perClass, int valPerClass, int seed, string idxDir = FashionMnist.DefaultDir)
    {
        // Into an empty folder only: images left from another export (another seed or size) would silently mix in.
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
            throw new IOException($"'{root}' is not empty: choose a new folder (or delete this one) for the export");
        var data = FashionMnist.Load(idxDir, perClass, valPerClass, seed);
        int written = 0;
        foreach (var (split, samples) in new[] { ("train", data.Train), ("val", data.Val) })
            foreach (var sample in samples)
            {
                var image = data.Source.Decode(sample);                       // (H, W) gray, expanded to RGB
                string dir = Path.Combine(root, split, FashionMnist.ClassNames[sample.Label].Replace('/', '-'));
                Directory.CreateDirectory(dir);
                using var bitmap = new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Gray8, SKAlphaType.Opaque));
                var gray = bitmap.GetPixelSpan();
                for (int i = 0; i < gray.Length; i++) gray[i] = image.Rgb[3 * i];
                using var png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(Path.Combine(dir, Path.GetFileName(sample.Path) + ".png"), png.ToArray());
                written++;
            }
        return written;
    }
}
