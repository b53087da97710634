using System.Buffers;
using System.Net.Sockets;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

/// <summary>What the neighbour resolver needs from the layers around it.</summary>
internal interface INeighborHost : IDeliveryErrors
{
    /// <summary>
    /// Asks who has <paramref name="target"/>: an ARP request or a Neighbor Solicitation, to the link (to resolve) or
    /// unicast to <paramref name="unicastTo"/> (to probe an entry whose reachability is in doubt, RFC 4861 7.3.3).
    /// </summary>
    void Solicit(IpAddress target, MacAddress? unicastTo);

    /// <summary>Sends a packet that waited for its next hop, now resolved to <paramref name="linkAddress"/>.</summary>
    void SendResolved(in PendingPacket packet, MacAddress linkAddress);
}

/// <summary>
/// Next hops of both families resolved to link addresses, behind one resolver: one neighbour cache per family (ARP's
/// and NDP's, with RFC 4861 7.3's reachability states for both, as Linux has), a bounded queue of packets waiting
/// for each unresolved neighbour, and one timer loop for retries, probes and failures.
/// </summary>
internal sealed class NeighborResolver
{
    readonly INeighborHost _host;
    readonly StackCounters _counters;
    readonly List<NeighborCache.Entry> _retry = [];
    readonly List<NeighborCache.Entry> _failed = [];
    readonly List<NeighborCache.Entry> _probe = [];
    readonly Action<PendingPacket> _dropQueued;
    readonly Action<PendingPacket> _dropEvicted;

    public NeighborResolver(StackOptions options, INeighborHost host, StackCounters counters)
    {
        _host = host;
        _counters = counters;
        _dropQueued = DropQueued;
        _dropEvicted = DropEvicted;
        long reachable = options.NeighborReachableTime.Ticks / TimeSpan.TicksPerMicrosecond;
        Ipv4 = new NeighborCache(options.Ipv4NeighborCacheCapacity, reachable, options.ArpRequestAttempts,
            options.ArpRetryInterval.Ticks / TimeSpan.TicksPerMicrosecond, options.ResolutionQueuePackets, options.ResolutionQueueBytes,
            options.MaxUnresolvedNeighbors);
        // RFC 4861 10: MAX_MULTICAST_SOLICIT 3, RETRANS_TIMER 1 s, REACHABLE_TIME 30 s (routers may change the last two).
        if (options.Ipv6.Enabled)
        {
            Ipv6 = new NeighborCache(options.Ipv6NeighborCacheCapacity, reachable, 3, 1_000_000, options.ResolutionQueuePackets,
                options.ResolutionQueueBytes, options.MaxUnresolvedNeighbors);
        }
    }

    /// <summary>ARP's cache.</summary>
    public NeighborCache Ipv4 { get; }

    /// <summary>NDP's cache; null when IPv6 is off.</summary>
    public NeighborCache? Ipv6 { get; }

    NeighborCache CacheFor(IpAddress address) => address.IsIpv4 ? Ipv4 : Ipv6!;

    public long? NextDeadline => Earliest(Ipv4.NextDeadline(), Ipv6?.NextDeadline());

    /// <summary>The link address of <paramref name="nextHop"/> when it is known (and usable).</summary>
    public bool TryGet(IpAddress nextHop, long now, out MacAddress linkAddress) => CacheFor(nextHop).TryGet(nextHop, now, out linkAddress);

    /// <summary>
    /// Holds a copy of <paramref name="packet"/> until <paramref name="nextHop"/> resolves, and asks for it unless a
    /// request is already under way. Past the unresolved bound, the neighbour that has waited longest gives way: what
    /// it held is dropped and counted (its senders retransmit or time out as after any loss).
    /// </summary>
    public void Resolve(IpAddress nextHop, ReadOnlySpan<byte> packet, VirtioNetHeader offload, long now)
    {
        var cache = CacheFor(nextHop);
        bool ask = cache.StartResolution(nextHop, now, _dropEvicted, out var entry);
        var buffer = ArrayPool<byte>.Shared.Rent(TransmitBuffers.LinkHeadroom + packet.Length);
        packet.CopyTo(buffer.AsSpan(TransmitBuffers.LinkHeadroom));
        cache.Enqueue(entry, new PendingPacket(buffer, TransmitBuffers.LinkHeadroom, packet.Length, offload), _dropQueued);
        if (ask)
            _host.Solicit(nextHop, unicastTo: null);
    }

    /// <summary>Starts resolving <paramref name="nextHop"/> with nothing to send yet (the gateway, before the stack is ready).</summary>
    public void Resolve(IpAddress nextHop, long now)
    {
        if (CacheFor(nextHop).StartResolution(nextHop, now, _dropEvicted, out _))
            _host.Solicit(nextHop, unicastTo: null);
    }

    /// <summary>
    /// An answer or an unsolicited message taught a link address (RFC 826 merge, RFC 4861 7.2.3 to 7.2.5): what waited
    /// for <paramref name="entry"/> goes out.
    /// </summary>
    public void Learned(NeighborCache.Entry? entry)
    {
        if (entry is null)
            return;
        var cache = CacheFor(entry.Address);
        while (entry.Pending.Count > 0)
        {
            var packet = cache.DequeuePending(entry);
            _host.SendResolved(packet, entry.LinkAddress);
            packet.Release();
        }
    }

    /// <summary>Upper-layer reachability confirmation (RFC 4861 7.3.1) for the neighbour <paramref name="nextHop"/>.</summary>
    public void Confirm(IpAddress nextHop, long now)
    {
        if (nextHop.IsIpv4 || Ipv6 is not null)
            CacheFor(nextHop).Confirm(nextHop, now);
    }

    /// <summary>Retries, probes and failures of both families' resolutions that are due.</summary>
    public void RunTimers(long now)
    {
        RunTimers(Ipv4, now);
        if (Ipv6 is not null)
            RunTimers(Ipv6, now);
    }

    void RunTimers(NeighborCache cache, long now)
    {
        _retry.Clear();
        _failed.Clear();
        _probe.Clear();
        cache.Expire(now, _retry, _failed, _probe);
        foreach (var entry in _retry)
            _host.Solicit(entry.Address, unicastTo: null);
        foreach (var entry in _probe)
            _host.Solicit(entry.Address, entry.LinkAddress);
        foreach (var entry in _failed)
        {
            while (entry.Pending.Count > 0)
            {
                var packet = cache.DequeuePending(entry);
                _counters.Increment(StackCounter.DropResolutionFailed);
                _host.ReportUnreachable(packet.Packet, SocketError.HostUnreachable);
                packet.Release();
            }
        }
    }

    /// <summary>Forgets every IPv6 neighbour (the link went down), dropping what waited for them.</summary>
    public void ClearIpv6() => Ipv6?.Clear(static packet => packet.Release());

    /// <summary>Forgets every neighbour, dropping what waited for them (the stack stops).</summary>
    public void Clear()
    {
        Ipv4.Clear(static packet => packet.Release());
        ClearIpv6();
    }

    void DropQueued(PendingPacket packet)
    {
        _counters.Increment(StackCounter.DropResolutionQueueFull);
        packet.Release();
    }

    void DropEvicted(PendingPacket packet)
    {
        _counters.Increment(StackCounter.DropNeighborTableFull);
        packet.Release();
    }

    static long? Earliest(long? a, long? b) => a is null ? b : b is null ? a : Math.Min(a.Value, b.Value);
}
