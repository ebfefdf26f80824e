namespace Headstart.Data;

/// <summary>One labelled image.</summary>
/// <param name="Path">A file path, or an id for in-memory sources.</param>
/// <param name="Label">Index into <see cref="ImageDataset.Classes"/>.</param>
public sealed record ImageSample(string Path, int Label);

/// <summary>A file left out of training, and why (shown to the user, counted in the run summary).</summary>
public sealed record SkippedFile(string Path, string Reason);

/// <summary>A decoded image: 8-bit RGB, row-major HWC, no alpha, orientation already applied.</summary>
public sealed class DecodedImage
{
    public DecodedImage(int width, int height, byte[] rgb)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentNullException.ThrowIfNull(rgb);
        if (rgb.LongLength != (long)width * height * 3)
            throw new ArgumentException($"expected {(long)width * height * 3} bytes for {width}x{height} RGB, got {rgb.Length}", nameof(rgb));
        Width = width;
        Height = height;
        Rgb = rgb;
    }

    public int Width { get; }
    public int Height { get; }
    /// <summary>(Height, Width, 3) RGB bytes.</summary>
    public byte[] Rgb { get; }

    /// <summary>Expands 8-bit grayscale (H, W) to RGB.</summary>
    public static DecodedImage FromGray(int width, int height, ReadOnlySpan<byte> gray)
    {
        if (gray.Length != width * height) throw new ArgumentException($"expected {width * height} gray bytes, got {gray.Length}", nameof(gray));
        var rgb = new byte[gray.Length * 3];
        for (int i = 0; i < gray.Length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = gray[i];
        return new DecodedImage(width, height, rgb);
    }
}

/// <summary>An image could not be read or decoded. <see cref="Exception.Message"/> is the reason shown to the user.</summary>
public sealed class ImageDecodeException(string reason, Exception? inner = null) : HeadstartException(reason, inner)
{
    public string Reason => Message;
}

/// <summary>Where a dataset's pixels come from: files on disk or arrays in memory.</summary>
public interface IImageSource
{
    /// <summary>Decodes one sample; throws <see cref="ImageDecodeException"/> (with the reason) and nothing else.</summary>
    DecodedImage Decode(ImageSample sample);

    /// <summary>Decodes one sample; the source may return a smaller image as long as its shorter side stays
    /// &gt;= <paramref name="minShortSide"/> (decode-time downscaling of large JPEGs). 0 = full resolution.</summary>
    DecodedImage Decode(ImageSample sample, int minShortSide) => Decode(sample);
}

/// <summary>Images already in memory, keyed by <see cref="ImageSample.Path"/> (used for IDX data and tests).</summary>
public sealed class InMemoryImageSource(IReadOnlyDictionary<string, DecodedImage> images) : IImageSource
{
    public int Count => images.Count;

    public DecodedImage Decode(ImageSample sample) =>
        images.TryGetValue(sample.Path, out var image)
            ? image
            : throw new ImageDecodeException($"no in-memory image with id '{sample.Path}'");
}
