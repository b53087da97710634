using System.Net;
using System.Net.Sockets;

namespace Wirestack;

/// <summary>How interface identifiers of autoconfigured addresses are formed.</summary>
public enum InterfaceIdentifierKind
{
    /// <summary>
    /// RFC 7217 stable, semantically opaque identifiers: a keyed hash of the prefix, the interface and a secret, so an
    /// address is stable on one network but differs per prefix and does not reveal the MAC address.
    /// </summary>
    StablePrivacy,

    /// <summary>Modified EUI-64 from the MAC address (RFC 4291 appendix A), as older hosts do.</summary>
    Eui64,
}

/// <summary>IPv6 configuration: on by default with a link-local address and SLAAC from router advertisements.</summary>
public sealed record Ipv6Settings
{
    /// <summary>The default: link-local address and stateless autoconfiguration (RFC 4862).</summary>
    public static Ipv6Settings Automatic() => new();

    /// <summary>IPv6 off: frames of EtherType 0x86DD are dropped and counted.</summary>
    public static Ipv6Settings Disabled() => new() { Enabled = false };

    /// <summary>False turns IPv6 off.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Form addresses from prefixes that router advertisements mark autonomous (RFC 4862 5.5.3).</summary>
    public bool Autoconfigure { get; init; } = true;

    /// <summary>Listen to router advertisements at all (default routers, on-link prefixes, MTU, hop limit).</summary>
    public bool AcceptRouterAdvertisements { get; init; } = true;

    /// <summary>
    /// Run the DHCPv6 client (RFC 8415) when routers ask for it: addresses with the M flag, DNS and SNTP servers with
    /// the O flag.
    /// </summary>
    public bool Dhcpv6 { get; init; } = true;

    /// <summary>How interface identifiers are formed, for the link-local address and SLAAC.</summary>
    public InterfaceIdentifierKind InterfaceIdentifiers { get; init; } = InterfaceIdentifierKind.StablePrivacy;

    /// <summary>
    /// The RFC 7217 secret key (at least 16 bytes). Keep it across restarts for addresses that stay the same; null
    /// draws a random one per start (addresses then change at every start).
    /// </summary>
    public byte[]? StableSecret { get; init; }

    /// <summary>Fixed addresses with their prefix lengths, such as "2001:db8::2/64".</summary>
    public IReadOnlyList<(IPAddress Address, int PrefixLength)> StaticAddresses { get; init; } = [];

    /// <summary>A fixed default router (usually link-local), in addition to any advertised.</summary>
    public IPAddress? Gateway { get; init; }

    /// <summary>Neighbor Solicitations sent for duplicate address detection (RFC 4862 5.1 DupAddrDetectTransmits; 0 turns it off).</summary>
    public int DadTransmits { get; init; } = 1;

    /// <summary>Most addresses the interface holds (link-local, static and autoconfigured); an RA flood cannot add more.</summary>
    public int MaxAddresses { get; init; } = 16;

    /// <summary>Most default routers remembered.</summary>
    public int MaxRouters { get; init; } = 8;

    /// <summary>Most on-link prefixes remembered.</summary>
    public int MaxPrefixes { get; init; } = 16;

    /// <summary>Parses "address/prefix" (the prefix defaults to 64).</summary>
    /// <exception cref="FormatException">Not an IPv6 address or a prefix outside 1..128.</exception>
    public static (IPAddress Address, int PrefixLength) ParseAddress(string addressWithPrefix)
    {
        ArgumentNullException.ThrowIfNull(addressWithPrefix);
        var parts = addressWithPrefix.Split('/');
        if (parts.Length > 2 || !IPAddress.TryParse(parts[0], out var address) || address.AddressFamily != AddressFamily.InterNetworkV6)
            throw new FormatException($"'{addressWithPrefix}' is not an IPv6 address with an optional /prefix.");
        int prefix = 64;
        if (parts.Length == 2 && (!int.TryParse(parts[1], out prefix) || prefix < 1 || prefix > 128))
            throw new FormatException($"'{addressWithPrefix}': the prefix length must be 1..128.");
        return (address, prefix);
    }

    internal void Validate()
    {
        if (StableSecret is { Length: < 16 })
            throw new ArgumentException("The stable-privacy secret must have at least 16 bytes.", nameof(StableSecret));
        ArgumentOutOfRangeException.ThrowIfNegative(DadTransmits, nameof(DadTransmits));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAddresses, 2, nameof(MaxAddresses));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRouters, 1, nameof(MaxRouters));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPrefixes, 1, nameof(MaxPrefixes));
        foreach (var (address, prefix) in StaticAddresses)
        {
            if (address.AddressFamily != AddressFamily.InterNetworkV6 || address.IsIPv4MappedToIPv6 || prefix is < 1 or > 128)
                throw new ArgumentException($"{address}/{prefix} is not an IPv6 unicast address with a prefix length of 1..128.", nameof(StaticAddresses));
        }
        if (Gateway is { } gateway && gateway.AddressFamily != AddressFamily.InterNetworkV6)
            throw new ArgumentException($"{gateway} is not an IPv6 address.", nameof(Gateway));
    }
}
