using System.Text.Json;
using Headstart.Bundles;
using Headstart.Data;
using Headstart.Evaluation;
using Headstart.Training;

namespace Headstart.Reporting;

/// <summary>One of the worst validation predictions: true and predicted label, the predicted probability, the loss
/// (-log p(true)) and, when the image could be read, a JPEG thumbnail as a data: URI.</summary>
public sealed record TopLoss(string Path, string Actual, string Predicted, float Probability, float Loss, string? Thumbnail);

/// <summary>How many images have a given size.</summary>
public sealed record SizeCount(int Width, int Height, int Count);

/// <summary>A labelled count, e.g. a histogram bin of the shorter image side.</summary>
public sealed record BinCount(string Bin, int Count);

/// <summary>Image size distribution of a dataset (read from headers for files; possibly a deterministic sample).</summary>
public sealed record ImageSizeStats(
    int Measured,
    int Total,
    int Unreadable,
    int MinWidth, int MedianWidth, int MaxWidth,
    int MinHeight, int MedianHeight, int MaxHeight,
    IReadOnlyList<SizeCount> CommonSizes,
    IReadOnlyList<BinCount> ShortSide)
{
    /// <summary>Bins of the shorter side, chosen around the usual model input sizes (32, 224, 299).</summary>
    private static readonly (int Upto, string Label)[] Bins =
        [(32, "< 32"), (64, "32-63"), (128, "64-127"), (224, "128-223"), (300, "224-299"), (512, "300-511"), (1024, "512-1023"), (int.MaxValue, ">= 1024")];

    /// <summary>Measures the sizes of up to <paramref name="maxImages"/> images of <paramref name="data"/> (evenly
    /// spaced over train + val). Files are probed (header only); in-memory sources are decoded.</summary>
    public static ImageSizeStats Measure(ImageDataset data, int maxImages = 4000)
    {
        var all = data.Train.Concat(data.Val).ToList();
        int step = Math.Max(1, (all.Count + maxImages - 1) / Math.Max(1, maxImages));
        var sizes = new List<(int W, int H)>();
        int unreadable = 0;
        var picked = all.Where((_, i) => i % step == 0).ToList();
        var results = new (int W, int H)?[picked.Count];
        Parallel.For(0, picked.Count, i =>
        {
            try
            {
                if (data.Source is FileImageSource files)
                {
                    var header = ImageDecoder.Probe(picked[i].Path, files.Options);
                    results[i] = (header.Width, header.Height);
                }
                else
                {
                    var image = data.Source.Decode(picked[i]);
                    results[i] = (image.Width, image.Height);
                }
            }
            catch (ImageDecodeException) { results[i] = null; }
        });
        foreach (var r in results)
            if (r is { } s) sizes.Add(s); else unreadable++;
        return FromSizes(sizes, all.Count, unreadable);
    }

    public static ImageSizeStats FromSizes(IReadOnlyList<(int W, int H)> sizes, int total, int unreadable)
    {
        if (sizes.Count == 0) return new ImageSizeStats(0, total, unreadable, 0, 0, 0, 0, 0, 0, [], []);
        var ws = sizes.Select(s => s.W).Order().ToList();
        var hs = sizes.Select(s => s.H).Order().ToList();
        var common = sizes.GroupBy(s => s).OrderByDescending(g => g.Count()).ThenBy(g => g.Key.W).ThenBy(g => g.Key.H).Take(8)
            .Select(g => new SizeCount(g.Key.W, g.Key.H, g.Count())).ToList();
        var bins = Bins.Select((b, i) => new BinCount(b.Label,
            sizes.Count(s => Math.Min(s.W, s.H) < b.Upto && (i == 0 || Math.Min(s.W, s.H) >= Bins[i - 1].Upto)))).ToList();
        return new ImageSizeStats(sizes.Count, total, unreadable, ws[0], ws[ws.Count / 2], ws[^1], hs[0], hs[hs.Count / 2], hs[^1], common, bins);
    }
}

/// <summary>
/// What a report needs beyond the bundle's manifest, kept in the bundle as report-data.json so that
/// <c>headstart report BUNDLE</c> can rebuild the page without the data: the top losses (with thumbnails) and the image
/// size distribution. <see cref="Metrics"/> and <see cref="Dataset"/> override the manifest's when the predictions are
/// fresh (report --data).
/// </summary>
public sealed record ReportData
{
    public const string FileName = "report-data.json";

    public IReadOnlyList<TopLoss> TopLosses { get; init; } = [];
    public ImageSizeStats? ImageSizes { get; init; }
    /// <summary>Where the predictions come from, shown in the report ("validation split at training time", ...).</summary>
    public string PredictionsSource { get; init; } = "the validation split, at the end of training";
    public ClassificationMetrics? Metrics { get; init; }
    public DatasetSummary? Dataset { get; init; }

    /// <summary>Collects top losses (decoding their thumbnails through the dataset's image source, so in-memory data
    /// works too) and image sizes.</summary>
    public static ReportData Collect(ImageDataset data, IReadOnlyList<string> classes, IReadOnlyList<PredictionRecord> predictions,
        int topLosses = 16)
    {
        var worst = predictions.OrderByDescending(p => p.Loss).ThenBy(p => p.Path, StringComparer.Ordinal).Take(topLosses).ToList();
        var tops = new TopLoss[worst.Count];
        Parallel.For(0, worst.Count, i =>
        {
            var p = worst[i];
            string? thumb = null;
            try { thumb = Thumbnails.DataUri(data.Source.Decode(new ImageSample(p.Path, p.Actual), 128)); }
            catch (ImageDecodeException) { /* shown as "image unavailable" */ }
            tops[i] = new TopLoss(p.Path, Label(classes, p.Actual), Label(classes, p.Predicted), p.Probability, p.Loss, thumb);
        });
        return new ReportData { TopLosses = tops, ImageSizes = ImageSizeStats.Measure(data) };
    }

    private static string Label(IReadOnlyList<string> classes, int i) => i >= 0 && i < classes.Count ? classes[i] : $"#{i}";

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, BundleManifest.JsonOptions));

    /// <summary>Reads a bundle's report-data.json; null when absent (bundles from older versions) or unreadable.</summary>
    public static ReportData? TryRead(string bundleDir)
    {
        string path = Path.Combine(bundleDir, FileName);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<ReportData>(File.ReadAllText(path), BundleManifest.JsonOptions); }
        catch (JsonException) { return null; }
    }
}
