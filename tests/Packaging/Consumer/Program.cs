// The packaging test's consumer app: only the Headstart package's public API, as README's library example uses it.
//   gen ROOT                          writes a small labelled ImageFolder (3 shapes, train/ + val/)
//   train DATA BUNDLE                 trains the default recipe (frozen resnet18-cntk), saves the bundle
//   predict BUNDLE IMAGE [EXPECTED]   loads a bundle (from anywhere), prints "label<TAB>probability"
// Exit codes: 0 ok, 1 a check failed, 2 usage, 3 a HeadstartException (a user error the library reported).
using Headstart;
using Headstart.Bundles;
using Headstart.Data;
using Headstart.Inference;
using Headstart.Training;
using SkiaSharp;

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

// 3 classes x (10 train + 5 val) PNGs, 64 px: a red circle, a blue square, a green triangle on a random background.
static int Generate(string root)
{
    string[] names = ["circle", "square", "triangle"];
    for (int c = 0; c < names.Length; c++)
        foreach (var (split, count) in new[] { ("train", 10), ("val", 5) })
        {
            string dir = Path.Combine(root, split, names[c]);
            Directory.CreateDirectory(dir);
            for (int i = 0; i < count; i++)
                File.WriteAllBytes(Path.Combine(dir, $"{names[c]}_{i:D2}.png"), Shape(c, c * 1000 + i + (split == "val" ? 500 : 0)));
        }
    return 0;
}

static byte[] Shape(int cls, int seed)
{
    const int size = 64;
    var rng = new Random(seed);
    using var bmp = new SKBitmap(size, size);
    using (var canvas = new SKCanvas(bmp))
    {
        canvas.Clear(new SKColor((byte)rng.Next(60, 200), (byte)rng.Next(60, 200), (byte)rng.Next(60, 200)));
        float r = size * (0.2f + 0.15f * (float)rng.NextDouble());
        float cx = size / 2f + rng.Next(-8, 8), cy = size / 2f + rng.Next(-8, 8);
        using var paint = new SKPaint { IsAntialias = true };
        switch (cls)
        {
            case 0: paint.Color = new SKColor(220, 30, 30); canvas.DrawCircle(cx, cy, r, paint); break;
            case 1: paint.Color = new SKColor(30, 40, 220); canvas.DrawRect(cx - r, cy - r, 2 * r, 2 * r, paint); break;
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
    using var encoded = img.Encode(SKEncodedImageFormat.Png, 100);
    return encoded.ToArray();
}
