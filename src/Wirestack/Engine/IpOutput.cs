using System.Net.Sockets;
using Wirestack.Devices;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

/// <summary>Where a packet of ours that cannot be delivered is reported (to the socket or connection that sent it).</summary>
internal interface IDeliveryErrors
{
    /// <summary>Tells the sender of <paramref name="packet"/> (a whole packet of ours, or a quote of one) why it failed.</summary>
    void ReportUnreachable(ReadOnlySpan<byte> packet, SocketError error);
}

/// <summary>
/// The one output path of both IP families, in three steps: <see cref="Send"/> writes the network header in front of a
/// payload; <see cref="Route"/> picks the link address (a group's, the broadcast, or the next hop's, resolving it and
/// holding the packet meanwhile); <see cref="PutOnLink"/> fragments a packet over the MTU (RFC 791 3.2, RFC 8200 4.5)
/// and hands each piece to the link. Only the header formats, next-hop rules and MTUs differ by family.
/// </summary>
internal sealed class IpOutput
{
    readonly LinkLayer _link;
    readonly NeighborResolver _neighbors;
    readonly Ipv4Interface _ipv4;
    readonly Ipv6Interface? _ipv6;
    readonly IDeliveryErrors _errors;
    readonly StackCounters _counters;
    readonly byte _timeToLive;
    readonly Func<IpAddress, bool> _routerProbablyReachable;
    readonly PacketIdentifiers _identifiers;

    public IpOutput(LinkLayer link, NeighborResolver neighbors, Ipv4Interface ipv4, Ipv6Interface? ipv6, IDeliveryErrors errors,
        StackCounters counters, byte timeToLive, Random random)
    {
        _link = link;
        _neighbors = neighbors;
        _ipv4 = ipv4;
        _ipv6 = ipv6;
        _errors = errors;
        _counters = counters;
        _timeToLive = timeToLive;
        _routerProbablyReachable = RouterProbablyReachable;
        _identifiers = new PacketIdentifiers(random);
    }

    /// <summary>Path MTUs learned from Packet Too Big (RFC 8201); IPv4 sends without DF, so only IPv6 uses them.</summary>
    public PathMtuCache PathMtus { get; } = new(256);

    /// <summary>The IPv6 link MTU: the device's, lowered by a router's MTU option.</summary>
    public int Ipv6LinkMtu => Math.Min(_link.Mtu, _ipv6?.Mtu ?? _link.Mtu);

    /// <summary>The path MTU toward <paramref name="destination"/> (either family; IPv4 sends without DF, so its link MTU).</summary>
    public int PathMtu(IpAddress destination, long now) => destination.IsIpv4 ? _link.Mtu : PathMtus.Get(destination, Ipv6LinkMtu, now);

    /// <summary>
    /// The identification of the next IPv4 datagram to <paramref name="destination"/> (RFC 791; RFC 6864 asks
    /// uniqueness per flow in time, RFC 7739 that it tell nothing of other flows).
    /// </summary>
    public ushort NextIpv4Identification(Ipv4Address destination, byte protocol) =>
        (ushort)_identifiers.Next(_ipv4.Address, destination, protocol);

    /// <summary>Tests: the identifiers, to pick flows that share no counter.</summary>
    internal PacketIdentifiers Identifiers => _identifiers;

    /// <summary>RFC 4861 6.3.6: a router whose entry is not INCOMPLETE (or has none yet) is probably reachable.</summary>
    bool RouterProbablyReachable(IpAddress router) => _neighbors.Ipv6!.StateOf(router) is not NeighborState.Incomplete;

    /// <summary>
    /// The neighbour a unicast packet to <paramref name="destination"/> goes to: itself on link, else the IPv4 gateway
    /// or an IPv6 default router (RFC 4861 5.2). False when there is none.
    /// </summary>
    public bool TryNextHop(IpAddress destination, out IpAddress nextHop)
    {
        if (destination.IsIpv4)
        {
            var ipv4 = destination.Ipv4;
            nextHop = _ipv4.IsOnLink(ipv4) ? destination
                : _ipv4.IsConfigured && !_ipv4.Gateway.IsAny ? (IpAddress)_ipv4.Gateway
                : default;
            return !nextHop.IsUnspecified;
        }
        if (_ipv6 is null)
        {
            nextHop = default;
            return false;
        }
        if (_ipv6.IsOnLink(destination))
        {
            nextHop = destination;
            return true;
        }
        return _ipv6.TryGetDefaultRouter(_routerProbablyReachable, out nextHop);
    }

    /// <summary>True when a packet to <paramref name="destination"/> has somewhere to go.</summary>
    public bool HasRoute(IpAddress destination) =>
        !_link.IsEthernet
        || destination.IsMulticast
        || (destination.IsIpv4 && _ipv4.IsBroadcast(destination.Ipv4))
        || TryNextHop(destination, out _);

    /// <summary>
    /// Writes the network header of <paramref name="destination"/>'s family in front of the payload at
    /// <paramref name="payloadOffset"/> (with <see cref="TransmitBuffers.TransportOffset"/> before it) and routes the
    /// packet. An IPv4 packet always leaves from the interface's address. <paramref name="offload"/>: what the device
    /// is left to do with it, positions counted from the network header.
    /// </summary>
    public void Send(byte[] buffer, int payloadOffset, int payloadLength, byte protocol, IpAddress source, IpAddress destination, long now,
        byte hopLimit = 0, VirtioNetHeader offload = default, MacAddress? linkAddress = null)
    {
        int offset, length;
        if (destination.IsIpv4)
        {
            offset = payloadOffset - Ipv4Packet.MinimumHeaderLength;
            length = Ipv4Packet.MinimumHeaderLength + payloadLength;
            // The given source: ours, or a forwarded flow's original destination answering as itself.
            var from = source.IsIpv4 ? source.Ipv4 : _ipv4.Address;
            new Ipv4Header(from, destination.Ipv4, protocol, hopLimit != 0 ? hopLimit : _timeToLive, NextIpv4Identification(destination.Ipv4, protocol))
                .Write(buffer.AsSpan(offset), length);
        }
        else
        {
            offset = payloadOffset - Ipv6Packet.HeaderLength;
            length = Ipv6Packet.HeaderLength + payloadLength;
            Ipv6Packet.WriteHeader(buffer.AsSpan(offset), payloadLength, protocol, hopLimit != 0 ? hopLimit : _ipv6!.HopLimit, source, destination);
        }
        Route(buffer, offset, length, destination, now, offload, linkAddress);
    }

    /// <summary>
    /// Routes a complete packet to <paramref name="destination"/>: straight to <paramref name="linkAddress"/> when
    /// given (an NDP probe to a known neighbour), to a group's or the broadcast address, or to the next hop, which is
    /// resolved first when its link address is not known (the packet waits, copied, in a bounded queue).
    /// </summary>
    public void Route(byte[] buffer, int offset, int length, IpAddress destination, long now, VirtioNetHeader offload = default,
        MacAddress? linkAddress = null)
    {
        _counters.Increment(destination.IsIpv4 ? StackCounter.Ipv4DatagramsSent : StackCounter.Ipv6PacketsSent);
        // One call to PutOnLink for every way out keeps this method small enough for the JIT to inline what it calls.
        MacAddress to;
        if (!_link.IsEthernet)
            to = default;
        else if (linkAddress is { } known)
            to = known;
        else if (!TryLinkAddress(buffer.AsSpan(offset, length), destination, now, offload, out to))
            return;
        PutOnLink(buffer, offset, length, to, offload, now);
    }

    /// <summary>
    /// The link address a packet to <paramref name="destination"/> goes to: a group's, the broadcast, or the next
    /// hop's. False when the packet cannot go now: it waits (copied) for the next hop to resolve, or has no route
    /// (counted and reported to its sender).
    /// </summary>
    bool TryLinkAddress(Span<byte> packet, IpAddress destination, long now, VirtioNetHeader offload, out MacAddress linkAddress)
    {
        if (destination.IsIpv4 && (_ipv4.IsBroadcast(destination.Ipv4) || !_ipv4.IsConfigured && destination.IsUnspecified))
        {
            linkAddress = MacAddress.Broadcast;
            return true;
        }
        if (destination.IsMulticast)
        {
            linkAddress = MacAddress.ForGroup(destination);
            return true;
        }
        if (!TryNextHop(destination, out var nextHop))
        {
            _counters.Increment(StackCounter.DropNoRoute);
            _errors.ReportUnreachable(packet, SocketError.NetworkUnreachable);
            linkAddress = default;
            return false;
        }
        if (_neighbors.TryGet(nextHop, now, out linkAddress))
            return true;
        _neighbors.Resolve(nextHop, packet, offload, now);
        return false;
    }

    /// <summary>
    /// Puts a packet on the link, fragmented when it exceeds the MTU (the path MTU for IPv6). Fragments are built in
    /// place: each fragment's headers are written over the tail of the data before it, which has already been sent,
    /// so no payload byte is copied. Needs <see cref="TransmitBuffers.LinkHeadroom"/> bytes before
    /// <paramref name="offset"/>. A TCP segment the device is to cut (<paramref name="offload"/>) goes whole.
    /// </summary>
    public void PutOnLink(byte[] buffer, int offset, int length, MacAddress linkAddress, VirtioNetHeader offload, long now)
    {
        var packet = buffer.AsSpan(offset, length);
        bool ipv4 = QuotedPacket.VersionOf(packet) == 4;
        bool whole = offload.Gso != GsoType.None;
        int mtu = ipv4 ? _link.Mtu : whole || length <= Ipv6Packet.MinimumMtu ? Ipv6LinkMtu : Ipv6PathMtu(packet, now);
        if (length <= mtu || whole)
            _link.Send(buffer, offset, length, linkAddress, ipv4 ? EtherType.Ipv4 : EtherType.Ipv6, offload, now);
        else
            Fragment(buffer, offset, length, mtu, ipv4, linkAddress, offload, now);
    }

    int Ipv6PathMtu(Span<byte> packet, long now) =>
        Ipv6Packet.TryParse(packet, out var ipv6) ? PathMtus.Get(ipv6.Destination, Ipv6LinkMtu, now) : Ipv6LinkMtu;

    void Fragment(byte[] buffer, int offset, int length, int mtu, bool ipv4, MacAddress linkAddress, VirtioNetHeader offload, long now)
    {
        var packet = buffer.AsSpan(offset, length);
        // The device sees fragments, not the packet: a checksum it was to finish is finished here. Only a segment
        // that outgrew the path MTU after it was built comes this way.
        if (offload.IsOffloaded)
            SoftwareOffloads.CompleteChecksum(packet, offload.ChecksumStart, offload.ChecksumOffset);
        if (ipv4)
            FragmentIpv4(buffer, offset, length, mtu, linkAddress, now);
        else
            FragmentIpv6(buffer, offset, length, mtu, linkAddress, now);
    }

    void FragmentIpv4(byte[] buffer, int offset, int length, int mtu, MacAddress linkAddress, long now)
    {
        if (!Ipv4Packet.TryParse(buffer.AsSpan(offset, length), out var original))
            return;
        int headerLength = original.HeaderLength;
        int dataLength = length - headerLength;
        // Options are not copied: the stack sends none it would fragment (RFC 791 3.1 would have each fragment say
        // which it keeps).
        var header = original.Header;
        int maxData = (mtu - Ipv4Packet.MinimumHeaderLength) & ~7;
        for (int dataOffset = 0; dataOffset < dataLength; dataOffset += maxData)
        {
            int chunk = Math.Min(maxData, dataLength - dataOffset);
            bool more = dataOffset + chunk < dataLength;
            int headerStart = offset + headerLength + dataOffset - Ipv4Packet.MinimumHeaderLength;
            (header with { DontFragment = false, MoreFragments = more, FragmentOffset = dataOffset })
                .Write(buffer.AsSpan(headerStart), Ipv4Packet.MinimumHeaderLength + chunk);
            _link.Send(buffer, headerStart, Ipv4Packet.MinimumHeaderLength + chunk, linkAddress, EtherType.Ipv4, default, now);
            _counters.Increment(StackCounter.Ipv4FragmentsSent);
        }
    }

    /// <summary>Only packets with the bare 40-byte header are built here (all the engine sends): it is the unfragmentable part.</summary>
    void FragmentIpv6(byte[] buffer, int offset, int length, int mtu, MacAddress linkAddress, long now)
    {
        if (!Ipv6Packet.TryParse(buffer.AsSpan(offset, length), out var original))
            return;
        byte nextHeader = original.NextHeader, hopLimit = original.HopLimit;
        var source = original.Source;
        var destination = original.Destination;
        int dataLength = length - Ipv6Packet.HeaderLength;
        int dataStart = offset + Ipv6Packet.HeaderLength;
        int maxData = (mtu - Ipv6Packet.HeaderLength - Ipv6FragmentHeader.Length) & ~7;
        uint identification = _identifiers.Next(source, destination, Ipv6NextHeader.Fragment);
        const int Headers = Ipv6Packet.HeaderLength + Ipv6FragmentHeader.Length;
        for (int dataOffset = 0; dataOffset < dataLength; dataOffset += maxData)
        {
            int chunk = Math.Min(maxData, dataLength - dataOffset);
            bool more = dataOffset + chunk < dataLength;
            int headerStart = dataStart + dataOffset - Headers;
            var header = buffer.AsSpan(headerStart, Headers);
            Ipv6Packet.WriteHeader(header, Ipv6FragmentHeader.Length + chunk, Ipv6NextHeader.Fragment, hopLimit, source, destination);
            Ipv6FragmentHeader.Write(header[Ipv6Packet.HeaderLength..], nextHeader, dataOffset, more, identification);
            _link.Send(buffer, headerStart, Headers + chunk, linkAddress, EtherType.Ipv6, default, now);
            _counters.Increment(StackCounter.Ipv6FragmentsSent);
        }
    }
}
