using SkiaSharp;

namespace Headstart.Bench;

/// <summary>
/// Writes an ImageFolder of generated JPEGs: each class is one (shape, colour) pair drawn at a random position, size,
/// rotation and background, so that the classes are learnable but not trivial. Used for the correctness run and the
/// 20,000-image RSS run; always written outside the repository (under /tmp by default).
/// </summary>
public static class SyntheticImages
{
    private static readonly string[] Shapes = ["circle", "square", "triangle", "cross", "ring"];
    private static readonly (string Name, SKColor Color)[] Colours =
        [("red", new SKColor(220, 40, 40)), ("blue", new SKColor(40, 80, 220)), ("green", new SKColor(40, 170, 60)), ("yellow", new SKColor(230, 200, 40))];

    /// <summary>Class names in generation order: shape-colour, e.g. "circle-red".</summary>
    public static IReadOnlyList<string> ClassNames(int classes) =>
        Enumerable.Range(0, classes).Select(c => $"{Shapes[c % Shapes.Length]}-{Colours[c / Shapes.Length % Colours.Length].Name}").ToList();

    /// <summary>
    /// Generates <paramref name="perClass"/> images per class under <paramref name="root"/>. With a
    /// <paramref name="valFraction"/> &gt; 0 the layout is root/train/&lt;class&gt; + root/val/&lt;class&gt;, else root/&lt;class&gt;.
    /// Returns the number of files written. Deterministic for a seed.
    /// </summary>
    public static int Generate(string root, int classes, int perClass, double valFraction = 0, int minSize = 64, int maxSize = 128,
        int seed = 1, Action<int>? progress = null)
    {
        if (classes < 2 || classes > Shapes.Length * Colours.Length)
            throw new ArgumentOutOfRangeException(nameof(classes), $"between 2 and {Shapes.Length * Colours.Length}");
        var names = ClassNames(classes);
        int nVal = (int)Math.Round(perClass * valFraction);
        foreach (var name in names)
        {
            if (nVal > 0)
            {
                Directory.CreateDirectory(Path.Combine(root, "train", name));
                Directory.CreateDirectory(Path.Combine(root, "val", name));
            }
            else Directory.CreateDirectory(Path.Combine(root, name));
        }
        int total = classes * perClass, done = 0;
        Parallel.For(0, total, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, k =>
        {
            int c = k / perClass, i = k % perClass;
            var rng = new Random(unchecked(seed * 1_000_003 + k)); // per image: independent of thread scheduling
            string dir = nVal > 0 ? Path.Combine(root, i < nVal ? "val" : "train", names[c]) : Path.Combine(root, names[c]);
            File.WriteAllBytes(Path.Combine(dir, $"{i:D5}.jpg"), Draw(c, rng, minSize, maxSize));
            int d = Interlocked.Increment(ref done);
            if (d % 1000 == 0) progress?.Invoke(d);
        });
        return total;
    }

    private static byte[] Draw(int cls, Random rng, int minSize, int maxSize)
    {
        int w = rng.Next(minSize, maxSize + 1), h = rng.Next(minSize, maxSize + 1);
        using var surface = SKSurface.Create(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(new SKColor((byte)rng.Next(90, 256), (byte)rng.Next(90, 256), (byte)rng.Next(90, 256)));
        using var paint = new SKPaint { IsAntialias = true, Color = Colours[cls / Shapes.Length % Colours.Length].Color };
        float side = Math.Min(w, h), r = side * (0.2f + 0.15f * (float)rng.NextDouble());
        float cx = r + (float)rng.NextDouble() * (w - 2 * r), cy = r + (float)rng.NextDouble() * (h - 2 * r);
        canvas.Translate(cx, cy);
        canvas.RotateDegrees((float)(rng.NextDouble() * 360));
        switch (Shapes[cls % Shapes.Length])
        {
            case "circle": canvas.DrawCircle(0, 0, r, paint); break;
            case "square": canvas.DrawRect(-r * 0.8f, -r * 0.8f, 1.6f * r, 1.6f * r, paint); break;
            case "triangle":
                using (var path = new SKPath())
                {
                    path.MoveTo(0, -r); path.LineTo(r * 0.87f, r * 0.5f); path.LineTo(-r * 0.87f, r * 0.5f); path.Close();
                    canvas.DrawPath(path, paint);
                }
                break;
            case "cross":
                canvas.DrawRect(-r, -r * 0.3f, 2 * r, 0.6f * r, paint);
                canvas.DrawRect(-r * 0.3f, -r, 0.6f * r, 2 * r, paint);
                break;
            default:
                paint.Style = SKPaintStyle.Stroke; paint.StrokeWidth = r * 0.35f;
                canvas.DrawCircle(0, 0, r * 0.8f, paint);
                break;
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }
}
