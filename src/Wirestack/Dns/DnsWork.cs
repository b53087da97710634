using System.Net;
using System.Net.Sockets;
using Wirestack.Engine;
using Wirestack.Wire;

namespace Wirestack.Dns;

/// <summary>What the DNS client needs from the engine: UDP ports of its own, the addressing, and TCP for truncated answers.</summary>
internal interface IDnsHost : IServiceHost
{
    /// <summary>The servers configured or learned (static, DHCP, DHCPv6, RDNSS), IPv4 first.</summary>
    IReadOnlyList<IpAddress> DnsServers { get; }

    /// <summary>Whether each family has an address to ask the link's mDNS group from.</summary>
    bool HasIpv4Address { get; }

    bool HasIpv6Address { get; }

    /// <summary>RFC 6724 6: a preferred IPv6 address beyond the link, so IPv6 answers come first.</summary>
    bool PrefersIpv6 { get; }

    /// <summary>RFC 6762 11: a source on this link (the only authority for <c>.local</c>).</summary>
    bool IsOnLinkSource(IpAddress source);

    /// <summary>The stack's own NAME.local, answered here (its responder does not hear its own questions); null without one.</summary>
    string? OwnHostName { get; }

    /// <summary>The stack's addresses of one record type (A or AAAA), as its responder would answer.</summary>
    IPAddress[] OwnAddresses(ushort type);

    /// <summary>
    /// Asks <paramref name="server"/> again over TCP (RFC 1035 4.2.2, 7766) because the UDP answer was truncated. Streams
    /// belong to the application's side; <paramref name="done"/> comes back on the engine's thread, with the response
    /// or null, within <paramref name="timeoutMicroseconds"/>.
    /// </summary>
    void ExchangeOverTcp(IpAddress server, byte[] query, long timeoutMicroseconds, Action<byte[]?> done);
}

/// <summary>How one resolution asks: servers (null: the host's), per-server timeout and rounds, the mDNS wait.</summary>
internal sealed record DnsQuerySettings(IReadOnlyList<IpAddress>? Servers, long TimeoutMicroseconds, int Attempts, long MulticastTimeoutMicroseconds)
{
    /// <summary><see cref="DnsResolver"/>'s defaults: the host's servers, 2 s each, two rounds, 1 s on the link.</summary>
    public static DnsQuerySettings Default { get; } = new(null, 2_000_000, 2, 1_000_000);
}

/// <summary>What one exchange learned about one record type: addresses, or the name a CNAME leads to, and the least TTL.</summary>
internal readonly record struct DnsAnswer(IPAddress[] Addresses, string? Canonical, uint Ttl)
{
    public static DnsAnswer None => new([], null, 0);
}

/// <summary>
/// One piece of DNS work in flight on the engine's clock. Work with a deadline is tracked by the
/// <see cref="DnsClient"/>, which calls <see cref="Expire"/> when it comes.
/// </summary>
internal abstract class DnsWork
{
    public long Deadline { get; protected set; } = long.MaxValue;

    public bool IsFinished { get; protected set; }

    /// <summary>The deadline came.</summary>
    public virtual void Expire(long now)
    {
    }

    /// <summary>Abandoned (the caller gave up, or the stack stops): let go of what it holds without answering.</summary>
    public abstract void Cancel();
}
