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
