using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Headstart.IO;
using Headstart.Models;

namespace Headstart.Weights;

/// <summary>Progress of a download: bytes on disk so far (resumed bytes included) and the total when known.</summary>
public readonly record struct DownloadProgress(long Bytes, long? Total);

/// <summary>
/// The local weight cache, <c>$XDG_CACHE_HOME/headstart</c> (default <c>~/.cache/headstart</c>). Offline-first: a file
/// that is present and verified is used as is and never fetched again. Downloads go to <c>NAME.part</c>, resume with
/// an HTTP Range request after an interruption, and only become <c>NAME</c> once their SHA-256 matches the 8 hex
/// digits at the end of torchvision's file name; a file that fails the check is deleted, never kept as valid.
/// </summary>
public sealed class WeightStore
{
    private const string PartSuffix = ".part";
    private const string VerifiedSuffix = ".sha256";
    private readonly HttpClient? http;

    /// <param name="root">Cache directory; null for <see cref="DefaultRoot"/>.</param>
    /// <param name="http">Client for downloads; null creates one on first use.</param>
    public WeightStore(string? root = null, HttpClient? http = null)
    {
        Root = Path.GetFullPath(root ?? DefaultRoot);
        this.http = http;
    }

    public string Root { get; }

    /// <summary><c>$HEADSTART_CACHE</c>, else <c>$XDG_CACHE_HOME/headstart</c>, else <c>~/.cache/headstart</c>.</summary>
    public static string DefaultRoot => CacheDirs.Root;

    /// <summary>Where a source lives: where the user keeps it, next to the application for embedded weights, else in
    /// the cache.</summary>
    public string PathFor(WeightSource source) => source.LocalFile
        ?? (source.Embedded ? EmbeddedPath(source.FileName) : Path.Combine(Root, source.FileName));

    private static string EmbeddedPath(string relativePath) =>
        EmbeddedWeights.TryGetPath(relativePath, out var path) ? path : Path.Combine(EmbeddedWeights.SearchDirectories[0], relativePath);

    /// <summary>True when the source's file is on disk and verified (checksummed once, then remembered).</summary>
    public bool IsPresent(WeightSource source)
    {
        if (source.LocalFile is { } local) return File.Exists(local);   // the user's own file: never marked or hashed
        var path = PathFor(source);
        if (!File.Exists(path)) return false;
        if (source.Embedded) return true;
        return IsVerified(path, source);
    }

    /// <summary>The first locally present source of a model (or the one with <paramref name="sourceId"/>); null if none.</summary>
    public string? Resolve(ModelSpec spec, string? sourceId = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var source = spec.WeightSources.FirstOrDefault(s => (sourceId is null || s.Id == sourceId) && IsPresent(s));
        return source is null ? null : PathFor(source);
    }

    /// <summary>
    /// Makes the source's file present: returns at once when it is already verified, otherwise downloads (resuming a
    /// previous partial download) and verifies it.
    /// </summary>
    /// <exception cref="HeadstartException">No URL, a network failure (the partial file is kept for resuming), or a
    /// checksum mismatch (the file is deleted).</exception>
    public async Task<string> DownloadAsync(WeightSource source, IProgress<DownloadProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        var path = PathFor(source);
        if (IsPresent(source)) return path;
        if (source.Embedded) throw new HeadstartException($"embedded weights {source.FileName} are missing from {path}; reinstall Headstart");
        if (source.Url is null) throw new HeadstartException($"weights {source.FileName} have no download URL");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);

        var part = path + PartSuffix;
        var client = http ?? SharedClient.Value;
        try
        {
            await FetchAsync(client, new Uri(source.Url), part, progress, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException
                                   && !cancellationToken.IsCancellationRequested)
        {
            long kept = BytesOf(part);
            throw new HeadstartException(kept > 0
                ? $"download of {source.Url} failed ({ex.Message}). {kept} bytes are kept in {part}; run the same command again to resume."
                : $"download of {source.Url} failed ({ex.Message}). Check the network connection (or copy the file to {path}).", ex);
        }

        var hash = await HashAsync(part, cancellationToken).ConfigureAwait(false);
        if (source.Sha256Prefix is { } expected && !hash.StartsWith(expected, StringComparison.OrdinalIgnoreCase))
        {
            File.Delete(part);
            throw new HeadstartException(
                $"checksum mismatch for {source.FileName}: SHA-256 {hash} does not start with {expected}. " +
                "The downloaded file was deleted; retry, and check the URL or any proxy if it happens again.");
        }
        File.Move(part, path, overwrite: true);
        WriteVerified(path, hash);
        return path;
    }

    /// <summary>A stalled transfer (no byte for this long) fails, keeping the part file for a resume.</summary>
    private static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(60);

    // No overall timeout (a 500 MB file on a slow link is fine); connecting and stalls are bounded instead.
    private static readonly Lazy<HttpClient> SharedClient = new(() =>
        new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(30) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
            DefaultRequestHeaders = { { "User-Agent", "headstart" } },
        });

    /// <summary>GETs the URL into <paramref name="part"/>, asking only for the bytes after those already there.</summary>
    private static async Task FetchAsync(HttpClient client, Uri url, string part, IProgress<DownloadProgress>? progress,
        CancellationToken ct)
    {
        // Two attempts at most: a range request, then (if the server refuses the range) a full one.
        for (int attempt = 0; attempt < 2; attempt++)
        {
            long have = BytesOf(part);
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);

            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
            {
                // The part may already be complete (interrupted after the last byte); the checksum decides.
                if (response.Content.Headers.ContentRange?.Length == have) return;
                File.Delete(part);
                continue;
            }
            response.EnsureSuccessStatusCode();
            bool resumed = response.StatusCode == HttpStatusCode.PartialContent
                           && response.Content.Headers.ContentRange?.From == have;
            if (!resumed) have = 0; // the server sent the whole file: start over
            long? total = response.Content.Headers.ContentRange?.Length
                          ?? (response.Content.Headers.ContentLength is long n ? have + n : null);

            await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await using var file = new FileStream(part, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write,
                FileShare.None, 1 << 16, useAsync: true);
            var buffer = new byte[1 << 20];
            long done = have;
            progress?.Report(new(done, total));
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
            while (true)
            {
                stall.CancelAfter(StallTimeout);
                int read = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                if (read == 0) break;
                await file.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
                done += read;
                progress?.Report(new(done, total));
            }
            if (total is long t && done != t) throw new IOException($"connection closed after {done} of {t} bytes");
            return;
        }
        throw new HttpRequestException("the server refused the resume request twice");
    }

    private static long BytesOf(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;

    private static async Task<string> HashAsync(string path, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false));
    }

    // A sidecar "<file>.sha256" records "<hash> <size>", so a verified 500 MB file is not re-hashed on every run.
    private static void WriteVerified(string path, string hash) =>
        File.WriteAllText(path + VerifiedSuffix, $"{hash} {new FileInfo(path).Length}\n");

    private static bool IsVerified(string path, WeightSource source)
    {
        var sidecar = path + VerifiedSuffix;
        long size = new FileInfo(path).Length;
        if (File.Exists(sidecar) && File.ReadAllText(sidecar).Split(' ', StringSplitOptions.TrimEntries) is [var h, var s]
            && s == size.ToString(System.Globalization.CultureInfo.InvariantCulture)
            && (source.Sha256Prefix is null || h.StartsWith(source.Sha256Prefix, StringComparison.OrdinalIgnoreCase)))
            return true;
        // A file put there by hand (or an older cache): verify it once.
        var hash = FileHashes.Sha256(path);
        if (source.Sha256Prefix is not null && !hash.StartsWith(source.Sha256Prefix, StringComparison.OrdinalIgnoreCase)) return false;
        try
        {
            WriteVerified(path, hash);
        }
        catch (IOException) { } // read-only cache: still valid, just re-hashed next time
        catch (UnauthorizedAccessException) { }
        return true;
    }
}
