namespace Wirestack;

/// <summary>
/// The Multicast DNS responder (RFC 6762): the stack answers for <c>HostName.local</c> (A, AAAA and reverse PTR
/// records for each address) on UDP port 5353 of both families, after probing that the name is free; a name
/// another host holds becomes <c>HostName-2</c>, <c>HostName-3</c>… (see <see cref="NetworkStack.MdnsHostName"/>).
/// </summary>
public sealed record MdnsSettings
{
    /// <summary>The label before <c>.local</c>: 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen.</summary>
    public required string HostName { get; init; }

    /// <summary>DNS-SD services (RFC 6763) to advertise on this host, such as a web server's <c>_http._tcp</c>.</summary>
    public IReadOnlyList<MdnsService> Services { get; init; } = [];

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Services);
        foreach (var service in Services)
            service.Validate();
        if (HostName is null || HostName.Length is 0 or > 63 || HostName[0] == '-' || HostName[^1] == '-'
            || !HostName.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            throw new ArgumentException($"mDNS host name '{HostName}' must be 1 to 63 letters, digits or inner hyphens.", nameof(HostName));
    }
}

/// <summary>
/// A DNS-SD service instance (RFC 6763): browsers find <c>InstanceName.ServiceType.local</c> by a PTR record of
/// <c>ServiceType.local</c>, and its host and port by SRV, its settings by TXT. A name another host holds becomes
/// <c>InstanceName (2)</c>….
/// </summary>
public sealed record MdnsService
{
    /// <summary>What users see, such as "Wirestack dashboard": 1 to 63 bytes of UTF-8, any characters.</summary>
    public required string InstanceName { get; init; }

    /// <summary>The service type, such as <c>_http._tcp</c> (RFC 6763 7: an underscore, up to 15 letters, digits or hyphens, then <c>._tcp</c> or <c>._udp</c>).</summary>
    public required string ServiceType { get; init; }

    /// <summary>The port the service listens on.</summary>
    public required int Port { get; init; }

    /// <summary>TXT key/value pairs (RFC 6763 6), such as <c>path=/</c>; each pair at most 255 bytes.</summary>
    public IReadOnlyDictionary<string, string> Txt { get; init; } = new Dictionary<string, string>();

    internal void Validate()
    {
        if (InstanceName is null || System.Text.Encoding.UTF8.GetByteCount(InstanceName) is 0 or > 63)
            throw new ArgumentException($"Service instance name '{InstanceName}' must be 1 to 63 bytes.", nameof(InstanceName));
        var parts = ServiceType?.Split('.') ?? [];
        if (parts.Length != 2 || parts[1] is not ("_tcp" or "_udp") || parts[0].Length is < 2 or > 16 || parts[0][0] != '_'
            || !parts[0][1..].All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            throw new ArgumentException($"Service type '{ServiceType}' must look like _http._tcp.", nameof(ServiceType));
        ArgumentOutOfRangeException.ThrowIfLessThan(Port, 1, nameof(Port));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Port, 65535, nameof(Port));
        ArgumentNullException.ThrowIfNull(Txt);
        foreach (var (key, value) in Txt)
        {
            if (string.IsNullOrEmpty(key) || key.Contains('=') || System.Text.Encoding.UTF8.GetByteCount(key) + 1 + System.Text.Encoding.UTF8.GetByteCount(value ?? "") > 255)
                throw new ArgumentException($"TXT pair '{key}' must have a key without '=' and be at most 255 bytes.", nameof(Txt));
        }
    }
}

/// <summary>A DNS-SD service instance found by <see cref="DnsResolver.BrowseAsync"/>.</summary>
/// <param name="InstanceName">What the service calls itself, such as "Living room printer".</param>
/// <param name="ServiceType">The type browsed, such as <c>_ipp._tcp</c>.</param>
/// <param name="HostName">The host it runs on (<c>NAME.local</c>).</param>
/// <param name="Port">Its port.</param>
/// <param name="Addresses">The host's addresses the answers carried (both families).</param>
/// <param name="Txt">Its TXT pairs.</param>
public sealed record MdnsServiceInstance(string InstanceName, string ServiceType, string HostName, int Port, IReadOnlyList<System.Net.IPAddress> Addresses,
    IReadOnlyDictionary<string, string> Txt);
