namespace Wirestack;

/// <summary>
/// Forwarding: beside being a host, the stack terminates flows to addresses that are not its own, the role of a VPN or
/// proxy client's stack on a TUN. A TCP handshake to any address is offered to the application before it completes
/// (<see cref="NetworkStack.ForwardTcpAsync"/>), which accepts it, refuses it, answers it as unreachable or drops it.
/// Everything a peer can make the stack hold here is bounded.
/// </summary>
public sealed record ForwardingSettings
{
    /// <summary>Handshakes waiting for the application's decision, at most; a SYN past it is dropped and counted (its client retries).</summary>
    public int MaxPendingConnections { get; init; } = 4096;

    /// <summary>
    /// Handshakes one source (an IPv4 address, an IPv6 /64) may have waiting: a client that floods SYNs to random
    /// destinations cannot take every slot from the others.
    /// </summary>
    public int MaxPendingPerSource { get; init; } = 1024;

    /// <summary>How long a handshake waits for the application's decision before it is dropped (the client then times out or retries).</summary>
    public TimeSpan DecisionTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Forwarded UDP sessions (one per client address and port, RFC 4787 REQ-1) at most; past it the one idle longest ends.</summary>
    public int MaxUdpSessions { get; init; } = 16384;

    /// <summary>
    /// UDP sessions one source (an IPv4 address, an IPv6 /64) may hold; past it its own session idle longest makes room,
    /// so one client's port scan or flood cannot end everyone else's sessions.
    /// </summary>
    public int MaxUdpSessionsPerSource { get; init; } = 4096;

    /// <summary>How long a UDP session lives without a datagram either way (RFC 4787 REQ-5: at least 2 minutes).</summary>
    public TimeSpan UdpIdleTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Which sources may answer a client through its session (RFC 4787 REQ-8).</summary>
    public UdpFiltering UdpFiltering { get; init; } = UdpFiltering.EndpointIndependent;

    /// <summary>Echo requests waiting for the application's answer, at most; past it a request is dropped and counted (ping retries).</summary>
    public int MaxPendingEchoRequests { get; init; } = 1024;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingEchoRequests, 1, nameof(MaxPendingEchoRequests));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxUdpSessions, 1, nameof(MaxUdpSessions));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxUdpSessionsPerSource, 1, nameof(MaxUdpSessionsPerSource));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(UdpIdleTimeout, TimeSpan.Zero, nameof(UdpIdleTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingConnections, 1, nameof(MaxPendingConnections));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingPerSource, 1, nameof(MaxPendingPerSource));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(DecisionTimeout, TimeSpan.Zero, nameof(DecisionTimeout));
    }
}

/// <summary>Which sources may send to a client through its forwarded UDP session (RFC 4787 5).</summary>
public enum UdpFiltering
{
    /// <summary>Any source (endpoint-independent filtering): what games, WebRTC and QUIC connection migration need.</summary>
    EndpointIndependent,

    /// <summary>Only addresses the client has sent to (address-dependent filtering), any port of theirs.</summary>
    AddressDependent,
}

/// <summary>What an ICMP destination unreachable for a refused flow says (RFC 792, RFC 4443 3.1), as the real destination or a router would.</summary>
public enum ForwardUnreachable
{
    /// <summary>No route to the destination's network (ICMPv4 code 0, ICMPv6 code 0).</summary>
    Network,

    /// <summary>The destination host does not answer (ICMPv4 code 1, ICMPv6 code 3 address unreachable).</summary>
    Host,

    /// <summary>Nothing listens on the port (ICMPv4 code 3, ICMPv6 code 4).</summary>
    Port,

    /// <summary>Communication administratively prohibited, by a policy (ICMPv4 code 13, ICMPv6 code 1).</summary>
    Prohibited,
}
