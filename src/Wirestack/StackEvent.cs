using System.Net;

namespace Wirestack;

/// <summary>What happened on the interface (the seed's interface events).</summary>
public enum StackEventKind
{
    /// <summary>A DHCP lease was acquired.</summary>
    LeaseAcquired,
    /// <summary>The lease was renewed or rebound.</summary>
    LeaseRenewed,
    /// <summary>The lease expired or was refused (NAK); the address is gone.</summary>
    LeaseLost,
    /// <summary>The lease was given back on shutdown.</summary>
    LeaseReleased,
    /// <summary>A DNS server was learned from DHCP.</summary>
    DnsServerLearned,
    /// <summary>An SNTP server was learned from DHCP.</summary>
    SntpServerLearned,
    /// <summary>An address is held by another node: the offered IPv4 address answered an ARP probe (declined, RFC 5227), or an IPv6 address failed duplicate address detection (RFC 4862 5.4.5).</summary>
    AddressConflict,
    /// <summary>An IPv6 address was added and is being checked for duplicates (RFC 4862 5.4).</summary>
    AddressTentative,
    /// <summary>An IPv6 address is in use.</summary>
    AddressPreferred,
    /// <summary>An IPv6 address passed its preferred lifetime: kept for existing connections only.</summary>
    AddressDeprecated,
    /// <summary>An IPv6 address passed its valid lifetime and was removed.</summary>
    AddressRemoved,
    /// <summary>The mDNS host name passed probing and is in use (RFC 6762 8).</summary>
    MdnsHostNameClaimed,
    /// <summary>Another host holds the mDNS host name: the next one (NAME-2, NAME-3…) is tried (RFC 6762 9).</summary>
    MdnsHostNameConflict,
}

/// <summary>An interface event with a human-readable message, like the seed's log lines.</summary>
public sealed class StackEventArgs(StackEventKind kind, string message, IPAddress? address = null) : EventArgs
{
    /// <summary>What happened.</summary>
    public StackEventKind Kind { get; } = kind;
    /// <summary>A line for the log.</summary>
    public string Message { get; } = message;
    /// <summary>The address concerned, if any.</summary>
    public IPAddress? Address { get; } = address;

    /// <inheritdoc/>
    public override string ToString() => Message;
}

/// <summary>A DHCP lease as the application sees it.</summary>
/// <param name="Address">The leased address.</param>
/// <param name="PrefixLength">From the subnet mask option.</param>
/// <param name="Gateway">The first router, if any.</param>
/// <param name="Server">The DHCP server that granted it.</param>
/// <param name="Duration">The lease time granted.</param>
/// <param name="Remaining">Time left until it expires.</param>
/// <param name="DomainName">Domain name option, if given.</param>
public sealed record DhcpLeaseInfo(IPAddress Address, int PrefixLength, IPAddress? Gateway, IPAddress Server, TimeSpan Duration, TimeSpan Remaining, string? DomainName);

/// <summary>Where an IPv6 address came from.</summary>
public enum Ipv6AddressOrigin
{
    /// <summary>The fe80::/64 address every interface has.</summary>
    LinkLocal,
    /// <summary>Configured.</summary>
    Static,
    /// <summary>Stateless autoconfiguration from a router's prefix (RFC 4862).</summary>
    Slaac,
    /// <summary>Leased by a DHCPv6 server (RFC 8415).</summary>
    Dhcpv6,
}

/// <summary>The life of an IPv6 address (RFC 4862 2).</summary>
public enum Ipv6AddressState
{
    /// <summary>Duplicate address detection is under way; the address receives only NDP and sends nothing.</summary>
    Tentative,
    /// <summary>In use for any communication.</summary>
    Preferred,
    /// <summary>Past its preferred lifetime: kept for existing connections, not chosen for new ones (RFC 4862 5.5.4).</summary>
    Deprecated,
    /// <summary>Another node on the link holds it (RFC 4862 5.4.5): never used.</summary>
    Duplicate,
}

/// <summary>One IPv6 address of the interface as the application sees it.</summary>
/// <param name="Address">The address.</param>
/// <param name="PrefixLength">Its prefix length.</param>
/// <param name="State">Tentative, preferred, deprecated or duplicate (RFC 4862).</param>
/// <param name="Origin">Where it came from: link-local, static, SLAAC or DHCPv6.</param>
/// <param name="PreferredLifetime">Time left until it is deprecated; null for infinite.</param>
/// <param name="ValidLifetime">Time left until it is removed; null for infinite.</param>
public sealed record Ipv6AddressInfo(IPAddress Address, int PrefixLength, Ipv6AddressState State, Ipv6AddressOrigin Origin, TimeSpan? PreferredLifetime, TimeSpan? ValidLifetime)
{
    internal static Ipv6AddressInfo From(Network.Ipv6InterfaceAddress entry, long now) => new(entry.Address.ToIPAddress(), entry.PrefixLength,
        entry.State, entry.Origin, Left(entry.PreferredUntil, now), Left(entry.ValidUntil, now));

    static TimeSpan? Left(long until, long now) =>
        until == long.MaxValue ? null : TimeSpan.FromTicks(Math.Max(0, until - now) * TimeSpan.TicksPerMicrosecond);
}
