using System.Diagnostics.Metrics;
using Wirestack.Wire;

namespace Wirestack;

/// <summary>Configuration of a <see cref="NetworkStack"/>. Defaults suit a device on a LAN.</summary>
public sealed record StackOptions
{
    /// <summary>The stack's own MAC address (on TAP devices); the default is the seed's 02:00:01:02:03:77.</summary>
    public MacAddress MacAddress { get; init; } = MacAddress.Parse("02:00:01:02:03:77");

    /// <summary>IPv4 configuration.</summary>
    public required Ipv4Settings Ipv4 { get; init; }

    /// <summary>IPv6 configuration; on by default (link-local address, SLAAC from router advertisements).</summary>
    public Ipv6Settings Ipv6 { get; init; } = Ipv6Settings.Automatic();

    /// <summary>Time to live of sent datagrams.</summary>
    public byte TimeToLive { get; init; } = 64;

    /// <summary>
    /// Most neighbours the ARP cache (IPv4) holds; past it, entries never confirmed go first, then the least recently
    /// confirmed.
    /// </summary>
    public int Ipv4NeighborCacheCapacity { get; init; } = 512;

    /// <summary>
    /// Most neighbours the NDP cache (IPv6) holds; past it, entries never confirmed go first, then the least recently
    /// confirmed.
    /// </summary>
    public int Ipv6NeighborCacheCapacity { get; init; } = 512;

    /// <summary>
    /// How long a neighbor stays REACHABLE after it is confirmed (an answer to our request, or a TCP flow to it
    /// making progress); then it is STALE: still used, and re-probed by unicast when used (RFC 4861 7.3; 30 s as
    /// RFC 4861 10 and Linux).
    /// </summary>
    public TimeSpan NeighborReachableTime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>ARP requests sent for one resolution before it fails.</summary>
    public int ArpRequestAttempts { get; init; } = 3;

    /// <summary>Time between ARP request attempts.</summary>
    public TimeSpan ArpRetryInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Neighbours being resolved at once, per family. Past it, the resolution that has waited longest gives way to the
    /// new one (what it held is dropped and counted): a scan of the subnet or a spoofed-source flood (RFC 6583) churns
    /// among addresses that never answer, cannot push known neighbours out, and a peer that answers still gets in.
    /// </summary>
    public int MaxUnresolvedNeighbors { get; init; } = 64;

    /// <summary>Packets one unresolved neighbor holds while waiting; the oldest is dropped past it.</summary>
    public int ResolutionQueuePackets { get; init; } = 16;

    /// <summary>Bytes all unresolved neighbors hold together.</summary>
    public int ResolutionQueueBytes { get; init; } = 256 * 1024;

    /// <summary>How long a partial datagram waits for its missing fragments (RFC 791 suggests up to 15 s; Linux uses 30 s).</summary>
    public TimeSpan ReassemblyTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Partial datagrams held at once.</summary>
    public int ReassemblyMaxDatagrams { get; init; } = 64;

    /// <summary>Bytes of buffer all partial datagrams hold together.</summary>
    public int ReassemblyMaxBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>ICMP error messages sent per second at most (a burst of <see cref="IcmpErrorBurst"/> is allowed).</summary>
    public int IcmpErrorsPerSecond { get; init; } = 100;

    /// <summary>ICMP error messages that may be sent back to back.</summary>
    public int IcmpErrorBurst { get; init; } = 50;

    /// <summary>Datagrams a UDP socket queues before it drops new ones.</summary>
    public int UdpReceiveQueueDatagrams { get; init; } = 256;

    /// <summary>The mDNS responder for <c>NAME.local</c> (takes UDP port 5353); null (the default) for none.</summary>
    public MdnsSettings? Mdns { get; init; }

    /// <summary>A DHCP server to run on the interface (needs a static address); null for none.</summary>
    public DhcpServerSettings? DhcpServer { get; init; }

    /// <summary>TCP settings.</summary>
    public TcpSettings Tcp { get; init; } = new();

    /// <summary>
    /// The longest the stack's thread keeps looking for frames and work after the last it handled before it sleeps
    /// (as Linux's busy_poll, but adaptive): waking a sleeping thread costs tens of microseconds, more on a virtual
    /// machine. The stack learns from the gaps between bursts: traffic that keeps coming back within this time (a
    /// ping every millisecond, a chatty client) is caught awake, at the price of a core's time while it lasts; an
    /// idle stack, or one whose traffic is sparser, sleeps after a short look (50 µs). Zero always sleeps at once.
    /// </summary>
    public TimeSpan BusyPoll { get; init; } = DefaultBusyPoll;

    internal static readonly TimeSpan DefaultBusyPoll = TimeSpan.FromMilliseconds(2);

    /// <summary>The clock the stack runs on; tests can pass a fake one.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// The host's meter factory (from dependency injection); the stack's "Wirestack" meter takes it as its scope.
    /// Null: a meter of the stack's own, seen by any listener of that name (OpenTelemetry, dotnet-counters).
    /// </summary>
    public IMeterFactory? MeterFactory { get; init; }

    /// <summary>
    /// Seed for the engine's random choices that are not secrets (retransmission jitter, IP identification), for
    /// reproducible tests; null picks one at random. Secrets (ISN and SYN-cookie keys, ephemeral ports, DNS and DHCP
    /// transaction IDs) always come from <see cref="System.Security.Cryptography.RandomNumberGenerator"/>.
    /// </summary>
    public int? RandomSeed { get; init; }

    /// <summary>Tests only: fill buffer chunks as they return to the pool, so a use after return shows as corrupt data.</summary>
    internal bool PoisonReturnedBuffers { get; init; }

    /// <summary>Forwarding (flows to addresses not the stack's own, see <see cref="ForwardingSettings"/>); null, the default, for a host only.</summary>
    public ForwardingSettings? Forwarding { get; init; }

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Ipv4);
        ArgumentNullException.ThrowIfNull(TimeProvider);
        ArgumentNullException.ThrowIfNull(Tcp);
        ArgumentNullException.ThrowIfNull(Ipv6);
        Ipv6.Validate();
        Mdns?.Validate();
        Forwarding?.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxUnresolvedNeighbors, 1, nameof(MaxUnresolvedNeighbors));
        if (DhcpServer is not null && Ipv4.Address is null)
            throw new ArgumentException("A DHCP server needs a static address on the interface.", nameof(DhcpServer));
        Tcp.Validate();
        if (MacAddress.IsMulticast || MacAddress.IsZero)
            throw new ArgumentException($"MAC address {MacAddress} must be a unicast, non-zero address.", nameof(MacAddress));
        ArgumentOutOfRangeException.ThrowIfLessThan(TimeToLive, (byte)1, nameof(TimeToLive));
        ArgumentOutOfRangeException.ThrowIfLessThan(Ipv4NeighborCacheCapacity, 1, nameof(Ipv4NeighborCacheCapacity));
        ArgumentOutOfRangeException.ThrowIfLessThan(Ipv6NeighborCacheCapacity, 1, nameof(Ipv6NeighborCacheCapacity));
        ArgumentOutOfRangeException.ThrowIfLessThan(ArpRequestAttempts, 1, nameof(ArpRequestAttempts));
        ArgumentOutOfRangeException.ThrowIfLessThan(ResolutionQueuePackets, 1, nameof(ResolutionQueuePackets));
        ArgumentOutOfRangeException.ThrowIfLessThan(ResolutionQueueBytes, 1500, nameof(ResolutionQueueBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReassemblyMaxDatagrams, 1, nameof(ReassemblyMaxDatagrams));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReassemblyMaxBytes, 65536, nameof(ReassemblyMaxBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(IcmpErrorsPerSecond, 0, nameof(IcmpErrorsPerSecond));
        ArgumentOutOfRangeException.ThrowIfLessThan(IcmpErrorBurst, 1, nameof(IcmpErrorBurst));
        ArgumentOutOfRangeException.ThrowIfLessThan(UdpReceiveQueueDatagrams, 1, nameof(UdpReceiveQueueDatagrams));
        if (BusyPoll < TimeSpan.Zero || BusyPoll > TimeSpan.FromSeconds(1))
            throw new ArgumentOutOfRangeException(nameof(BusyPoll), "Busy polling lasts between zero and one second.");
        if (NeighborReachableTime <= TimeSpan.Zero || ArpRetryInterval <= TimeSpan.Zero || ReassemblyTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(NeighborReachableTime), "Lifetimes and intervals must be positive.");
    }
}
