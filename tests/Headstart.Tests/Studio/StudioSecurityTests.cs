using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Headstart.Studio.Security;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Studio;

/// <summary>
/// The security list of issue 20, one check each: nothing outside the data root can be read (.., absolute paths,
/// symlinks out, encoded separators), uploads have limits and refuse zip bombs and zip-slip entries, Host and Origin
/// are checked (DNS rebinding, cross-site requests), a server on another address needs its token on every request and
/// event stream, pages carry a strict CSP, and errors are JSON without a stack trace.
/// </summary>
public sealed class StudioSecurityTests : IDisposable
{
    private readonly StudioFactory factory = new(o => o with { MaxUploadFiles = 5, MaxUploadBytes = 1 << 20, MaxUnpackedBytes = 8 << 20 });
    private readonly HttpClient client;

    public StudioSecurityTests() => client = factory.CreateClient();

    private static async Task<string> Error(HttpResponseMessage r, HttpStatusCode expected)
    {
        string body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == expected, $"{(int)r.StatusCode}: {body}");
        Assert.DoesNotContain("   at ", body);   // never a stack trace
        return JsonDocument.Parse(body).RootElement.GetProperty("error").GetString()!;
    }

    [Theory]
    [InlineData("../secret.jpg")]
    [InlineData("train/../../secret.jpg")]
    [InlineData("/etc/passwd")]
    [InlineData("%2e%2e/secret.jpg")]
    [InlineData("..%2fsecret.jpg")]
    [InlineData("train\\..\\..\\secret.jpg")]
    [InlineData("link/secret.jpg")]
    [InlineData("linked.jpg")]
    public async Task NothingOutsideTheDataRootCanBeRead(string path)
    {
        string outside = factory.Combine("secret");
        Directory.CreateDirectory(outside);
        File.Copy(Directory.GetFiles(Path.Combine(factory.DataRoot, "shapes", "train", "circle"))[0], Path.Combine(outside, "secret.jpg"));
        File.CreateSymbolicLink(Path.Combine(factory.DataRoot, "shapes", "link"), outside);
        File.CreateSymbolicLink(Path.Combine(factory.DataRoot, "shapes", "linked.jpg"), Path.Combine(outside, "secret.jpg"));
        // The query string is sent as written (already encoded where it says %2e or %2f: a second encoding).
        var r = await client.GetAsync($"/api/datasets/shapes/thumbnail?path={(path.StartsWith('%') || path.Contains("%2f") ? path.Replace("%", "%25") : Uri.EscapeDataString(path))}");
        string why = await Error(r, HttpStatusCode.BadRequest);
        Assert.Matches("not allowed|leaves the server's root|symbolic link", why);
    }

    [Theory]
    [InlineData("..")]
    [InlineData("..%2F..%2Fetc")]
    [InlineData(".hidden")]
    public async Task DatasetNamesCannotLeaveTheRoot(string name)
    {
        var r = await client.GetAsync($"/api/datasets/{name}/check");
        Assert.True(r.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"{r.StatusCode}");
        Assert.DoesNotContain("   at ", await r.Content.ReadAsStringAsync());
    }

    [Fact]
    public void SafePathsRefusesEachEscape()
    {
        string root = factory.DataRoot;
        Assert.Equal(Path.Combine(root, "shapes", "train"), SafePaths.Resolve(root, "shapes/train"));
        foreach (var bad in new[] { "../x", "a/../../x", "/abs", "a\\b", "a%2fb", "a\0b", "./x", "~/x" })
            Assert.Throws<PathRefusedException>(() => SafePaths.Resolve(root, bad));
    }

    private static byte[] Zip(params (string Name, byte[] Bytes)[] entries)
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (name, bytes) in entries)
            {
                var e = zip.CreateEntry(name, CompressionLevel.SmallestSize);
                using var s = e.Open();
                s.Write(bytes);
            }
        return ms.ToArray();
    }

    private Task<HttpResponseMessage> Upload(byte[] zip, string name)
    {
        var form = new MultipartFormDataContent { { new ByteArrayContent(zip), "file", name + ".zip" } };
        return client.PostAsync("/api/datasets", form);
    }

    [Fact]
    public async Task UploadsRefuseZipSlipBombsAndTooMuch()
    {
        byte[] jpeg = SyntheticImages.Shape(0, 1);
        Assert.Contains("zip-slip", await Error(await Upload(Zip(("a/x.jpg", jpeg), ("../evil.jpg", jpeg)), "slip"), HttpStatusCode.BadRequest));
        Assert.Contains("zip-slip", await Error(await Upload(Zip(("/etc/evil.jpg", jpeg)), "abs"), HttpStatusCode.BadRequest));
        Assert.Contains("zip bomb", await Error(await Upload(Zip(("a/zeros.jpg", new byte[6 << 20])), "bomb"), HttpStatusCode.BadRequest));
        Assert.Contains("at most 5", await Error(await Upload(Zip([.. Enumerable.Range(0, 6).Select(i => ($"a/{i}.jpg", jpeg))]), "many"), HttpStatusCode.BadRequest));
        var big = new byte[(1 << 20) + 10];
        new Random(1).NextBytes(big);
        var tooBig = await Upload(Zip(("a/noise.jpg", big)), "big");
        Assert.True(tooBig.StatusCode is HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.BadRequest, $"{tooBig.StatusCode}");
        Assert.Contains("not a readable zip", await Error(await Upload("not a zip"u8.ToArray(), "junk"), HttpStatusCode.BadRequest));
        // Nothing was written by any refused upload; a good one lands as a dataset.
        Assert.Equal(["shapes"], Directory.GetDirectories(factory.DataRoot).Select(Path.GetFileName));
        var ok = await Upload(Zip(("circle/1.jpg", jpeg), ("circle/2.jpg", jpeg), ("square/1.jpg", SyntheticImages.Shape(1, 1))), "mine");
        Assert.Equal(HttpStatusCode.Created, ok.StatusCode);
        Assert.True(File.Exists(Path.Combine(factory.DataRoot, "mine", "square", "1.jpg")));
        Assert.Contains("already exists", await Error(await Upload(Zip(("circle/1.jpg", jpeg)), "mine"), HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task HostAndOriginAreChecked()
    {
        var rebinding = new HttpRequestMessage(HttpMethod.Get, "/api/datasets");
        rebinding.Headers.Host = "evil.example";
        Assert.Contains("DNS-rebinding", await Error(await client.SendAsync(rebinding), HttpStatusCode.BadRequest));
        var crossSite = new HttpRequestMessage(HttpMethod.Post, "/api/jobs") { Content = JsonContent.Create(new { dataset = "shapes" }) };
        crossSite.Headers.Add("Origin", "http://evil.example");
        Assert.Contains("another origin", await Error(await client.SendAsync(crossSite), HttpStatusCode.Forbidden));
        var sameSite = new HttpRequestMessage(HttpMethod.Get, "/api/health");
        sameSite.Headers.Add("Origin", "http://localhost");
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(sameSite)).StatusCode);
    }

    [Fact]
    public async Task PagesCarryAStrictPolicyAndErrorsAreJson()
    {
        var page = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        string csp = page.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("script-src 'self'", csp);
        Assert.DoesNotContain("unsafe", csp);
        Assert.Equal("nosniff", page.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Contains("not found", await Error(await client.GetAsync("/api/nothing"), HttpStatusCode.NotFound));
        Assert.Contains("no job", await Error(await client.GetAsync("/api/jobs/20260101-000000-abcdef"), HttpStatusCode.NotFound));
        await Error(await client.GetAsync("/static/..%2Fappsettings.json"), HttpStatusCode.BadRequest);
    }

    public void Dispose()
    {
        client.Dispose();
        factory.Dispose();
    }
}

/// <summary>A server on another address than loopback: the token on every request, page and event stream.</summary>
public sealed class StudioTokenTests : IDisposable
{
    private const string Token = "test-token-0123456789";
    private readonly StudioFactory factory = new(o => o with { Host = "0.0.0.0", Token = Token });

    [Fact]
    public async Task EveryRequestNeedsTheToken()
    {
        using var client = factory.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false });
        foreach (var path in new[] { "/", "/api/datasets", "/api/jobs/x/events", "/static/app.js" })
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync(path)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/datasets?token=wrong")).StatusCode);

        var bearer = new HttpRequestMessage(HttpMethod.Get, "/api/datasets");
        bearer.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(bearer)).StatusCode);

        // The start URL's token becomes an HttpOnly, SameSite=Strict cookie and leaves the address bar.
        var start = await client.GetAsync($"/?token={Token}");
        Assert.Equal(HttpStatusCode.Redirect, start.StatusCode);
        string cookie = start.Headers.GetValues("Set-Cookie").Single();
        Assert.Contains("httponly", cookie.ToLowerInvariant());
        Assert.Contains("samesite=strict", cookie.ToLowerInvariant());
        var withCookie = new HttpRequestMessage(HttpMethod.Get, "/api/datasets");
        withCookie.Headers.Add("Cookie", cookie.Split(';')[0]);
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(withCookie)).StatusCode);
    }

    public void Dispose() => factory.Dispose();
}
