using System.Net;
using System.Net.Sockets;
using Wirestack.Wire;

namespace Wirestack;

/// <summary>How the stack gets its IPv4 address.</summary>
public sealed class Ipv4Settings
{
    Ipv4Settings(IPAddress? address, int prefixLength, IPAddress? gateway, IReadOnlyList<IPAddress> dnsServers, DhcpClientSettings? dhcp = null)
    {
        Dhcp = dhcp;
        Address = address;
        PrefixLength = prefixLength;
        Gateway = gateway;
        DnsServers = dnsServers;
    }

    /// <summary>DHCP client settings when the address comes from DHCP, else null.</summary>
    public DhcpClientSettings? Dhcp { get; }

    /// <summary>The address comes from a DHCP server (RFC 2131).</summary>
    public static Ipv4Settings FromDhcp(DhcpClientSettings? settings = null) => new(null, 0, null, [], settings ?? new DhcpClientSettings());

    /// <summary>The fixed address, or null when none is configured.</summary>
    public IPAddress? Address { get; }

    /// <summary>Length of the network prefix (24 for a /24).</summary>
    public int PrefixLength { get; }

    /// <summary>The default gateway, or null for an on-link-only interface.</summary>
    public IPAddress? Gateway { get; }

    /// <summary>DNS servers to use.</summary>
    public IReadOnlyList<IPAddress> DnsServers { get; }

    /// <summary>A fixed address such as "192.168.0.2/24", with an optional gateway and DNS servers.</summary>
    /// <exception cref="FormatException">The address, prefix or gateway is not valid IPv4.</exception>
    /// <exception cref="ArgumentException">The gateway is not inside the address's subnet.</exception>
    public static Ipv4Settings Static(string addressWithPrefix, string? gateway = null, params string[] dnsServers)
    {
        ArgumentNullException.ThrowIfNull(addressWithPrefix);
        var (address, prefix) = ParseCidr(addressWithPrefix);
        IPAddress? gatewayAddress = gateway is null ? null : ParseIpv4(gateway, "gateway");
        return Static(address, prefix, gatewayAddress, dnsServers.Select(d => ParseIpv4(d, "DNS server")).ToArray());
    }

    /// <summary>A fixed address from parsed values.</summary>
    public static Ipv4Settings Static(IPAddress address, int prefixLength, IPAddress? gateway = null, IReadOnlyList<IPAddress>? dnsServers = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException($"{address} is not an IPv4 address.", nameof(address));
        ArgumentOutOfRangeException.ThrowIfLessThan(prefixLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLength, 32);
        var own = Ipv4Address.FromIPAddress(address);
        if (own.IsAny || own.IsBroadcast || own.IsMulticast || own.IsLoopback)
            throw new ArgumentException($"{address} cannot be an interface address.", nameof(address));
        if (gateway is not null)
        {
            uint mask = Ipv4Address.MaskFromPrefix(prefixLength);
            var gw = Ipv4Address.FromIPAddress(gateway);
            if ((gw.Value & mask) != (own.Value & mask))
                throw new ArgumentException($"Gateway {gateway} is not inside {address}/{prefixLength}.", nameof(gateway));
            if (gw == own)
                throw new ArgumentException($"Gateway {gateway} is the interface's own address.", nameof(gateway));
        }
        return new Ipv4Settings(address, prefixLength, gateway, dnsServers ?? []);
    }

    /// <summary>Parses "a.b.c.d/n" (a bare address means /32).</summary>
    public static (IPAddress Address, int PrefixLength) ParseCidr(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int slash = text.IndexOf('/');
        string addressPart = slash < 0 ? text : text[..slash];
        int prefix = 32;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix) || prefix is < 1 or > 32))
            throw new FormatException($"'{text}' has no valid prefix length (expected /1 to /32).");
        return (ParseIpv4(addressPart, "address"), prefix);
    }

    static IPAddress ParseIpv4(string text, string what) =>
        Ipv4Address.TryParse(text, out var parsed) ? parsed.ToIPAddress() : throw new FormatException($"'{text}' is not a valid IPv4 {what}.");

    /// <inheritdoc/>
    public override string ToString() => Dhcp is not null ? "DHCP" : Address is null ? "none" : $"{Address}/{PrefixLength}" + (Gateway is null ? "" : $" via {Gateway}");
}
