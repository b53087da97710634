using System.Net;
using Microsoft.AspNetCore.Http;

namespace Wirestack.Device.Dashboard;

/// <summary>
/// What every response carries and what every request must name: security headers (a same-origin Content Security
/// Policy with no inline script, no framing, no MIME sniffing, no referrer), and a Host allow-list so a web page a
/// LAN user visits cannot reach the device by DNS rebinding (a foreign name gets 421 Misdirected Request); and the
/// shape a state-changing request must have (CSRF), with the size its route allows.
/// </summary>
internal static class WebSurface
{
    public const string ContentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

    public static void AddSecurityHeaders(HttpResponse response)
    {
        var headers = response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
    }

    /// <summary>
    /// True when the request's Host names the device: one of its current addresses (either family), its host name or
    /// <c>name.local</c>, the mDNS name it took after a conflict (<c>name-2.local</c>), <c>localhost</c>, or an extra allowed name. A request without Host (HTTP/1.0) names nothing
    /// a rebinding page could choose, so it passes.
    /// </summary>
    public static bool IsAllowedHost(HostString host, string hostName, IEnumerable<IPAddress> addresses, IReadOnlyCollection<string> extra, string? mdnsName = null)
    {
        if (!host.HasValue)
            return true;
        string name = host.Host.Trim('[', ']');
        if (IPAddress.TryParse(name, out var literal))
        {
            foreach (var address in addresses)
            {
                if (address.Equals(literal) || (literal.IsIPv6LinkLocal && address.IsIPv6LinkLocal && Same(address, literal)))
                    return true;
            }
            return IPAddress.IsLoopback(literal);
        }
        name = name.TrimEnd('.');
        return string.Equals(name, hostName, StringComparison.OrdinalIgnoreCase)
            || string.Equals(name, hostName + ".local", StringComparison.OrdinalIgnoreCase)
            || string.Equals(name, "localhost", StringComparison.OrdinalIgnoreCase)
            || string.Equals(name, mdnsName, StringComparison.OrdinalIgnoreCase)
            || extra.Contains(name, StringComparer.OrdinalIgnoreCase);

        // A link-local literal may carry a zone (fe80::1%tap0); the address without it decides.
        static bool Same(IPAddress a, IPAddress b) => new IPAddress(a.GetAddressBytes()).Equals(new IPAddress(b.GetAddressBytes()));
    }

    /// <summary>Largest body of a JSON API request (settings, password, log level, event page).</summary>
    public const long MaxJsonBody = 16 << 10;

    /// <summary>Largest firmware chunk in one request (the page sends 64 KiB).</summary>
    public const long MaxFirmwareChunk = 1 << 20;

    /// <summary>HSTS for --https-only: a year, so a browser that saw it never tries plain HTTP first.</summary>
    public const string StrictTransportSecurity = "max-age=31536000";

    /// <summary>The largest body a request to <paramref name="path"/> may carry.</summary>
    public static long MaxBody(PathString path) =>
        path.StartsWithSegments("/api/firmware/upload") ? MaxFirmwareChunk : MaxJsonBody;

    /// <summary>
    /// Null when a POST to the API may change state; else why not (for a 415). Browsers send a cross-site form or a
    /// no-CORS fetch only with a "simple" content type (form, multipart, text/plain) and no Authorization header, and
    /// anything else needs a CORS preflight, which the device never grants. So a state change must say JSON (or
    /// octet-stream for a firmware chunk), or carry its own credentials in Authorization, which no other site can
    /// make a browser add. The session cookie is SameSite=Strict as well; this also covers sibling hosts of the
    /// same site and browsers that ignore SameSite.
    /// </summary>
    public static string? RefuseForgery(HttpRequest request)
    {
        if (!HttpMethods.IsPost(request.Method) || request.Headers.Authorization.Count > 0)
            return null;
        string expected = ExpectedContentType(request.Path);
        return HasContentType(request, expected)
            ? null
            : $"a POST to {request.Path} must have Content-Type: {expected} (or an Authorization header)";
    }

    static string ExpectedContentType(PathString path) =>
        path.StartsWithSegments("/api/firmware/upload") ? "application/octet-stream" : "application/json";

    static bool HasContentType(HttpRequest request, string expected) =>
        string.Equals(request.ContentType?.Split(';')[0].Trim(), expected, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The seed's scripts post JSON with <c>curl -d</c>, which labels it a form: a POST that carries its own
    /// credentials (so no forgery, see <see cref="RefuseForgery"/>) is read as the JSON its route takes, whatever
    /// its label says.
    /// </summary>
    public static void TakeAsJson(HttpRequest request)
    {
        if (HttpMethods.IsPost(request.Method) && request.Headers.Authorization.Count > 0 && request.ContentLength != 0
            && ExpectedContentType(request.Path) == "application/json" && !HasContentType(request, "application/json"))
            request.ContentType = "application/json";
    }

    /// <summary>The https:// address of the same resource, for --https-only's redirect of plain HTTP.</summary>
    public static string HttpsLocation(HttpRequest request, int httpsPort)
    {
        string host = request.Host.HasValue ? request.Host.Host : request.HttpContext.Connection.LocalIpAddress?.ToString() ?? "localhost";
        if (host.Contains(':') && !host.StartsWith('['))
            host = $"[{host}]";
        string port = httpsPort == 443 ? "" : $":{httpsPort}";
        return $"https://{host}{port}{request.PathBase}{request.Path}{request.QueryString}";
    }
}
