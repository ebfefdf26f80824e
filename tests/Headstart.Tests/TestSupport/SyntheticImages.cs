using SkiaSharp;

namespace Headstart.Tests.TestSupport;

/// <summary>Generates small labelled image folders for end-to-end tests: coloured shapes on noisy backgrounds.</summary>
public static class SyntheticImages
{
    /// <summary>Draws one image of class <paramref name="cls"/> (0: red circle, 1: blue square, 2: green triangle).</summary>
    public static byte[] Shape(int cls, int seed, int size = 96, SKEncodedImageFormat format = SKEncodedImageFormat.Jpeg)
    {
        var rng = new Random(seed);
        using var bmp = new SKBitmap(size, size);
        using (var canvas = new SKCanvas(bmp))
        {
            canvas.Clear(new SKColor((byte)rng.Next(60, 200), (byte)rng.Next(60, 200), (byte)rng.Next(60, 200)));
            using var noise = new SKPaint { IsAntialias = false };
            for (int i = 0; i < 60; i++)
            {
                noise.Color = new SKColor((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256), 90);
                canvas.DrawRect(rng.Next(size), rng.Next(size), rng.Next(2, 10), rng.Next(2, 10), noise);
            }
            float r = size * (0.2f + 0.15f * (float)rng.NextDouble());
            float cx = size / 2f + rng.Next(-size / 8, size / 8), cy = size / 2f + rng.Next(-size / 8, size / 8);
            using var paint = new SKPaint { IsAntialias = true };
            switch (cls % 3)
            {
                case 0:
                    paint.Color = new SKColor(220, 30, 30);
                    canvas.DrawCircle(cx, cy, r, paint);
                    break;
                case 1:
                    paint.Color = new SKColor(30, 40, 220);
                    canvas.DrawRect(cx - r, cy - r, 2 * r, 2 * r, paint);
                    break;
                default:
                    paint.Color = new SKColor(30, 200, 40);
                    using (var path = new SKPath())
                    {
                        path.MoveTo(cx, cy - r); path.LineTo(cx + r, cy + r); path.LineTo(cx - r, cy + r); path.Close();
                        canvas.DrawPath(path, paint);
                    }
                    break;
            }
        }
        using var img = SKImage.FromBitmap(bmp);
        using var data = img.Encode(format, 90);
        return data.ToArray();
    }

    /// <summary>Writes root/train/&lt;class&gt;/*.jpg and root/val/&lt;class&gt;/*.jpg.</summary>
    public static string[] WriteImageFolder(string root, int classes = 2, int trainPerClass = 12, int valPerClass = 6, int seed = 0)
    {
        string[] names = ["circle", "square", "triangle"];
        for (int c = 0; c < classes; c++)
        {
            foreach (var (split, n) in new[] { ("train", trainPerClass), ("val", valPerClass) })
            {
                string dir = Path.Combine(root, split, names[c]);
                Directory.CreateDirectory(dir);
                for (int i = 0; i < n; i++)
                    File.WriteAllBytes(Path.Combine(dir, $"{names[c]}_{i:D3}.jpg"), Shape(c, seed * 100_000 + c * 1000 + i + (split == "val" ? 500 : 0)));
            }
        }
        return names[..classes];
    }

    /// <summary>SHA-256 of every file under <paramref name="root"/> (relative path to hash), to prove nothing changed.</summary>
    public static Dictionary<string, string> TreeHashes(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .ToDictionary(p => Path.GetRelativePath(root, p),
                p => File.Exists(p) ? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(p))) : "dir");
}
