using System.Buffers.Binary;
using System.IO.Compression;

namespace Headstart.Data;

/// <summary>An unsigned-byte IDX array (the MNIST/Fashion-MNIST file format): shape and row-major data.</summary>
public sealed record IdxArray(int[] Shape, byte[] Data)
{
    /// <summary>Number of items along the first axis (images or labels).</summary>
    public int Count => Shape.Length == 0 ? 1 : Shape[0];

    /// <summary>Bytes per item along the first axis (28*28 for MNIST images, 1 for labels).</summary>
    public int ItemSize => Shape.Skip(1).Aggregate(1, (a, b) => a * b);

    public ReadOnlySpan<byte> Item(int index) => Data.AsSpan(index * ItemSize, ItemSize);
}

/// <summary>
/// Reads IDX files (http://yann.lecun.com/exdb/mnist/: magic 00 00 type ndim, big-endian int32 dims, then data),
/// gzipped or not. Only the unsigned-byte type (0x08) is supported, which is what (Fashion-)MNIST uses.
/// Header sizes are validated before allocation.
/// </summary>
public static class IdxReader
{
    private const byte UnsignedByte = 0x08;

    public static IdxArray Read(string path, long maxBytes = 1L << 30)
    {
        try
        {
            using var file = File.OpenRead(path);
            return Read(file, maxBytes);
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException)
        {
            throw new HeadstartException($"'{path}' is not a valid IDX file: {ex.Message}", ex);
        }
    }

    /// <summary>Reads from a stream; gzip is detected from its magic bytes.</summary>
    public static IdxArray Read(Stream stream, long maxBytes = 1L << 30)
    {
        using var buffered = new BufferedStream(stream, 1 << 16);
        Span<byte> head = stackalloc byte[4];
        buffered.ReadExactly(head);
        Stream body = buffered;
        GZipStream? gzip = null;
        if (head[0] == 0x1F && head[1] == 0x8B)
        {
            // Re-read from the start through the decompressor (the 4 bytes read were gzip's header).
            body = gzip = new GZipStream(new PrefixedStream(head.ToArray(), buffered), CompressionMode.Decompress);
            body.ReadExactly(head);
        }
        try
        {
            if (head[0] != 0 || head[1] != 0) throw new InvalidDataException($"bad magic {Convert.ToHexString(head)} (expected 0000xxyy)");
            if (head[2] != UnsignedByte) throw new InvalidDataException($"element type 0x{head[2]:X2} is not supported (only unsigned byte, 0x08)");
            int ndim = head[3];
            if (ndim is < 1 or > 8) throw new InvalidDataException($"{ndim} dimensions (expected 1-8)");
            var shape = new int[ndim];
            Span<byte> dim = stackalloc byte[4];
            long total = 1;
            for (int i = 0; i < ndim; i++)
            {
                body.ReadExactly(dim);
                int d = BinaryPrimitives.ReadInt32BigEndian(dim);
                if (d < 0) throw new InvalidDataException($"negative dimension {d}");
                shape[i] = d;
                total *= d;
                if (total > maxBytes) throw new InvalidDataException($"declared size exceeds the {maxBytes}-byte limit");
            }
            var data = new byte[total];
            body.ReadExactly(data);
            return new IdxArray(shape, data);
        }
        finally
        {
            gzip?.Dispose();
        }
    }

    /// <summary>Replays already-consumed bytes before the rest of a stream (lets us sniff gzip without seeking).</summary>
    private sealed class PrefixedStream(byte[] prefix, Stream inner) : Stream
    {
        private int _pos;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_pos < prefix.Length)
            {
                int n = Math.Min(buffer.Length, prefix.Length - _pos);
                prefix.AsSpan(_pos, n).CopyTo(buffer);
                _pos += n;
                return n;
            }
            return inner.Read(buffer);
        }
    }
}

/// <summary>A few-shot Fashion-MNIST subset from the Debian package's IDX files (28x28 gray, 10 classes).</summary>
public static class FashionMnist
{
    public const string DefaultDir = "/usr/share/datasets/fashion-mnist";

    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Takes <paramref name="trainPerClass"/> images per class from the training file and
    /// <paramref name="valPerClass"/> per class from the test file, chosen at random for the seed.</summary>
    public static ImageDataset Load(string dir = DefaultDir, int trainPerClass = 20, int valPerClass = 100, int seed = 42)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(trainPerClass, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(valPerClass);
        string File(string name)
        {
            foreach (var candidate in new[] { name + ".gz", name })
                if (System.IO.File.Exists(Path.Combine(dir, candidate))) return Path.Combine(dir, candidate);
            throw new HeadstartException(
                $"Fashion-MNIST file '{name}(.gz)' not found in '{dir}' (on Debian: apt-get install dataset-fashion-mnist, or run ./setup.sh)");
        }

        var images = new Dictionary<string, DecodedImage>();
        var rng = new Random(seed);
        var train = Subset("train", IdxReader.Read(File("train-images-idx3-ubyte")), IdxReader.Read(File("train-labels-idx1-ubyte")),
            trainPerClass, rng, images);
        var val = valPerClass == 0
            ? []
            : Subset("t10k", IdxReader.Read(File("t10k-images-idx3-ubyte")), IdxReader.Read(File("t10k-labels-idx1-ubyte")),
                valPerClass, rng, images);
        return new ImageDataset(Path.GetFullPath(dir), "idx", ClassNames, train, val, [], new InMemoryImageSource(images));
    }

    private static List<ImageSample> Subset(string split, IdxArray imgs, IdxArray labels, int perClass, Random rng,
        Dictionary<string, DecodedImage> store)
    {
        if (imgs.Shape.Length != 3 || labels.Shape.Length != 1 || imgs.Count != labels.Count)
            throw new HeadstartException(
                $"Fashion-MNIST {split}: images [{string.Join(',', imgs.Shape)}] and labels [{string.Join(',', labels.Shape)}] do not match");
        int h = imgs.Shape[1], w = imgs.Shape[2];
        var picked = new List<ImageSample>();
        for (int c = 0; c < ClassNames.Count; c++)
        {
            var indices = Enumerable.Range(0, labels.Count).Where(i => labels.Data[i] == c).ToArray();
            rng.Shuffle(indices);
            if (indices.Length < perClass)
                throw new HeadstartException($"Fashion-MNIST {split} has only {indices.Length} images of class {c}, {perClass} requested");
            foreach (int i in indices.Take(perClass).Order())
            {
                string id = $"fashion-mnist/{split}/{i}";
                store[id] = DecodedImage.FromGray(w, h, imgs.Item(i));
                picked.Add(new ImageSample(id, c));
            }
        }
        return picked;
    }
}
