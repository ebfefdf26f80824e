using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Headstart.Studio.Security;

/// <summary>
/// Who may talk to a Studio server, checked on every request (pages, API and event streams alike):
/// - the Host header must name the server (a DNS-rebinding page comes with its own host name);
/// - a cross-origin request (an Origin header that is not the server's) is refused;
/// - with a token, a request carries it (Authorization: Bearer, the cookie the start URL sets, or ?token= once);
/// - every response gets a strict Content-Security-Policy and no-sniff/no-referrer headers.
/// </summary>
public sealed class AccessGuard(RequestDelegate next, StudioOptions options)
{
    public const string TokenCookie = "headstart_token";

    /// <summary>Everything from this server only, no inline script or style, no framing by others, no plugins.</summary>
    public const string Policy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
                                 "media-src 'self' blob: mediastream:; connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; " +
                                 "base-uri 'none'; form-action 'self'; object-src 'none'";

    private readonly HashSet<string> hosts = new(StringComparer.OrdinalIgnoreCase)
    {
        "localhost", "127.0.0.1", "::1", "[::1]", options.Host.Trim('[', ']'),
    };

    public async Task InvokeAsync(HttpContext ctx)
    {
        var headers = ctx.Response.Headers;
        headers.ContentSecurityPolicy = Policy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers["Cross-Origin-Opener-Policy"] = "same-origin";

        string host = ctx.Request.Host.Host.Trim('[', ']');
        // Bound to every interface (0.0.0.0), the server answers to whatever name reaches it; the token guards it.
        bool anyHost = options.Host is "0.0.0.0" or "::" or "*";
        if (!anyHost && !hosts.Contains(host))
        {
            await Refuse(ctx, StatusCodes.Status400BadRequest, $"Host '{ctx.Request.Host}' is not this server's name (a DNS-rebinding guard)");
            return;
        }
        string? origin = ctx.Request.Headers.Origin;
        if (!string.IsNullOrEmpty(origin) && origin != $"{ctx.Request.Scheme}://{ctx.Request.Host}")
        {
            await Refuse(ctx, StatusCodes.Status403Forbidden, $"requests from another origin ({origin}) are refused");
            return;
        }
        if (options.Token is { } token && !await Authorised(ctx, token)) return;
        await next(ctx);
    }

    private static async Task<bool> Authorised(HttpContext ctx, string token)
    {
        string? given = null;
        string? auth = ctx.Request.Headers.Authorization;
        if (auth?.StartsWith("Bearer ", StringComparison.Ordinal) == true) given = auth["Bearer ".Length..];
        given ??= ctx.Request.Cookies[TokenCookie];
        bool fromQuery = false;
        if (given is null && ctx.Request.Query.TryGetValue("token", out var q)) { given = q.ToString(); fromQuery = true; }
        if (given is null || !Same(given, token))
        {
            await Refuse(ctx, StatusCodes.Status401Unauthorized, "this server needs its access token (printed when it started): open the URL it printed");
            return false;
        }
        if (fromQuery)
        {
            // The start URL's token becomes a cookie the pages and event streams carry, and leaves the address bar.
            ctx.Response.Cookies.Append(TokenCookie, token, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/", IsEssential = true });
            if (HttpMethods.IsGet(ctx.Request.Method) && !ctx.Request.Path.StartsWithSegments("/api"))
            {
                ctx.Response.Redirect(ctx.Request.Path.HasValue ? ctx.Request.Path.Value! : "/");
                return false;
            }
        }
        return true;
    }

    private static bool Same(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));

    public static Task Refuse(HttpContext ctx, int status, string message)
    {
        ctx.Response.StatusCode = status;
        return ctx.Response.WriteAsJsonAsync(new { error = message });
    }

    /// <summary>A fresh token: 32 random bytes, URL-safe.</summary>
    public static string NewToken() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
