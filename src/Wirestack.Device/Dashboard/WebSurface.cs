using System.Net;
using Microsoft.AspNetCore.Http;

namespace Wirestack.Device.Dashboard;

/// <summary>
/// What every response carries and what every request must name: security headers (a same-origin Content Security
/// Policy with no inline script, no framing, no MIME sniffing, no referrer), and a Host allow-list so a web page a
/// LAN user visits cannot reach the device by DNS rebinding (a foreign name gets 421 Misdirected Request).
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
    /// <c>name.local</c>, <c>localhost</c>, or an extra allowed name. A request without Host (HTTP/1.0) names nothing
    /// a rebinding page could choose, so it passes.
    /// </summary>
    public static bool IsAllowedHost(HostString host, string hostName, IEnumerable<IPAddress> addresses, IReadOnlyCollection<string> extra)
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
            || extra.Contains(name, StringComparer.OrdinalIgnoreCase);

        // A link-local literal may carry a zone (fe80::1%tap0); the address without it decides.
        static bool Same(IPAddress a, IPAddress b) => new IPAddress(a.GetAddressBytes()).Equals(new IPAddress(b.GetAddressBytes()));
    }
}
