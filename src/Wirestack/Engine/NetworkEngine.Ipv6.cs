using System.Buffers.Binary;
using System.Net.Sockets;
using Wirestack.Devices;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

// IPv6 (RFC 8200): input checks, the extension-header chain, protocol dispatch, next hops, fragmentation on send.
internal sealed partial class NetworkEngine
{
    readonly Ipv6Interface? _ipv6;
    readonly NeighborCache? _ndp;
    readonly PathMtuCache _pathMtu = new(256);
    uint _nextIpv6Identification;

    /// <summary>The IPv6 side of the interface; null when IPv6 is off.</summary>
    public Ipv6Interface? Ipv6 => _ipv6;

    /// <summary>The NDP neighbour cache; null when IPv6 is off.</summary>
    public NeighborCache? Ipv6Neighbors => _ndp;

    /// <summary>The IPv6 link MTU: the device's, lowered by a router's MTU option.</summary>
    int Ipv6Mtu => Math.Min(_device.Mtu, _ipv6?.Mtu ?? _device.Mtu);

    void ReceiveIpv6(byte[] buffer, int offset, int length)
    {
        if (_ipv6 is null)
        {
            Counters.Increment(StackCounter.DropUnsupportedEtherType);
            return;
        }
        if (!Ipv6Packet.TryParse(buffer.AsSpan(offset, length), out var packet))
        {
            Counters.Increment(StackCounter.DropIpv6Malformed);
            return;
        }
        var source = packet.Source;
        var destination = packet.Destination;
        // RFC 4291 2.5.2, 2.5.3, 2.5.5.2, 2.7: never from multicast, loopback or an IPv4-mapped address.
        if (source.IsMulticast || source.IsLoopback || source.IsIpv4 || destination.IsIpv4 || destination.IsLoopback)
        {
            Counters.Increment(StackCounter.DropIpv6BadSource);
            return;
        }
        // A tentative address receives Neighbor Solicitations and Advertisements only (RFC 4862 5.4.3).
        bool tentative = !destination.IsMulticast && _ipv6.Find(destination) is { State: Ipv6AddressState.Tentative };
        if (!tentative && !_ipv6.Accepts(destination))
        {
            Counters.Increment(StackCounter.DropIpv6NotForUs);
            return;
        }
        var verdict = Ipv6HeaderChain.Walk(packet.Bytes, destination.IsMulticast, out var chain);
        if (verdict == HeaderChainVerdict.Deliver && chain.IsFragment)
        {
            var fragment = new Ipv6FragmentHeader(packet.Bytes[chain.FragmentHeaderOffset..]);
            if (!fragment.IsAtomic)
            {
                ReceiveIpv6Fragment(packet, chain, fragment);
                return;
            }
            // RFC 6946 4: an atomic fragment is a whole packet; walk on past its Fragment header.
            Counters.Increment(StackCounter.Ipv6AtomicFragmentsReceived);
            verdict = Ipv6HeaderChain.Walk(packet.Bytes, chain.UpperOffset, chain.FragmentHeaderOffset, destination.IsMulticast, out chain);
        }
        if (verdict != HeaderChainVerdict.Deliver)
        {
            RejectHeaderChain(packet.Bytes, verdict, chain);
            return;
        }
        if (tentative && chain.UpperProtocol != IpProtocol.Icmpv6)
        {
            Counters.Increment(StackCounter.DropIpv6NotForUs);
            return;
        }
        DeliverIpv6(packet.Bytes, chain);
    }

    void RejectHeaderChain(Span<byte> packet, HeaderChainVerdict verdict, in Ipv6HeaderChain chain)
    {
        switch (verdict)
        {
            case HeaderChainVerdict.ParameterProblem:
                Counters.Increment(StackCounter.DropIpv6HeaderChain);
                SendIcmpv6Error(packet, Icmpv6Type.ParameterProblem, chain.ErrorCode, (uint)chain.ErrorPointer);
                break;
            case HeaderChainVerdict.NoNextHeader:
                Counters.Increment(StackCounter.DropIpv6NoNextHeader);
                break;
            default:
                Counters.Increment(StackCounter.DropIpv6HeaderChain);
                break;
        }
    }

    /// <summary>Hands a whole packet whose chain ends at <paramref name="chain"/>'s upper-layer header to its protocol.</summary>
    void DeliverIpv6(Span<byte> packet, in Ipv6HeaderChain chain)
    {
        Counters.Increment(StackCounter.Ipv6PacketsDelivered);
        var source = IpAddress.Read(packet[8..]);
        var destination = IpAddress.Read(packet[24..]);
        switch (chain.UpperProtocol)
        {
            case IpProtocol.Icmpv6:
                ReceiveIcmpv6(packet, chain.UpperOffset, source, destination);
                break;
            case IpProtocol.Udp:
                ReceiveUdp(source, destination, packet, chain.UpperOffset);
                break;
            case IpProtocol.Tcp:
                ReceiveTcp(source, destination, packet[chain.UpperOffset..]);
                break;
            default:
                // RFC 8200 4: an unrecognised Next Header is answered with Parameter Problem code 1 at that field.
                Counters.Increment(StackCounter.DropIpv6UnsupportedProtocol);
                SendIcmpv6Error(packet, Icmpv6Type.ParameterProblem, Icmpv6Code.UnrecognizedNextHeader, (uint)chain.LastNextHeaderOffset);
                break;
        }
    }

    /// <summary>
    /// RFC 8200 4.5 reassembly, with the checks it asks for (a non-final fragment whose length is not a multiple of 8,
    /// or data past 65535, draws Parameter Problem), RFC 7112 (the first fragment carries the whole header chain) and
    /// RFC 5722 (overlaps discard the datagram, in the shared <see cref="Reassembler"/>).
    /// </summary>
    void ReceiveIpv6Fragment(Ipv6Packet packet, in Ipv6HeaderChain chain, Ipv6FragmentHeader fragment)
    {
        // What a device vouched for is one frame's checksum, not a datagram reassembled from several.
        _checksumVouched = false;
        Counters.Increment(StackCounter.Ipv6FragmentsReceived);
        var bytes = packet.Bytes;
        int dataStart = chain.FragmentHeaderOffset + Ipv6FragmentHeader.Length;
        int dataLength = bytes.Length - dataStart;
        if (fragment.MoreFragments && (dataLength == 0 || (dataLength & 7) != 0))
        {
            Counters.Increment(StackCounter.DropFragmentMalformed);
            SendIcmpv6Error(bytes, Icmpv6Type.ParameterProblem, Icmpv6Code.ErroneousHeaderField, 4);
            return;
        }
        if (fragment.FragmentOffset + dataLength > Ipv4Packet.MaximumLength - (chain.FragmentHeaderOffset - Ipv6Packet.HeaderLength))
        {
            Counters.Increment(StackCounter.DropFragmentMalformed);
            SendIcmpv6Error(bytes, Icmpv6Type.ParameterProblem, Icmpv6Code.ErroneousHeaderField, (uint)chain.FragmentHeaderOffset + 2);
            return;
        }
        var destination = packet.Destination;
        if (fragment.FragmentOffset == 0
            && (Ipv6HeaderChain.Walk(bytes, dataStart, chain.FragmentHeaderOffset, destination.IsMulticast, out var rest) == HeaderChainVerdict.Malformed
                || (rest.UpperOffset > 0 && rest.UpperOffset + 8 > bytes.Length)))
        {
            Counters.Increment(StackCounter.DropIpv6HeaderChain);
            SendIcmpv6Error(bytes, Icmpv6Type.ParameterProblem, Icmpv6Code.IncompleteHeaderChain, 0);
            return;
        }
        var key = new Fragment(packet.Source, destination, fragment.Identification, fragment.NextHeader, fragment.FragmentOffset, fragment.MoreFragments);
        var result = _reassembler.Add(key, bytes[dataStart..], bytes[..chain.FragmentHeaderOffset], _now, out var datagram);
        if (result == FragmentResult.Completed)
        {
            Counters.Increment(StackCounter.Ipv6PacketsReassembled);
            try
            {
                var whole = datagram.Packet;
                var verdict = Ipv6HeaderChain.Walk(whole, destination.IsMulticast, out var wholeChain);
                if (verdict == HeaderChainVerdict.Deliver && wholeChain.IsFragment)
                    verdict = HeaderChainVerdict.Malformed; // a fragment inside a fragment
                if (verdict == HeaderChainVerdict.Deliver)
                    DeliverIpv6(whole, wholeChain);
                else
                    RejectHeaderChain(whole, verdict, wholeChain);
            }
            finally
            {
                datagram.Release();
            }
        }
        CountFragmentResult(result);
    }

    /// <summary>True for an address of ours that may carry ordinary traffic (either family).</summary>
    bool IsOurUnicast(IpAddress address) =>
        address.IsIpv4 ? _interface.IsConfigured && address.Ipv4 == _interface.Address : _ipv6?.IsAssigned(address) == true;

    /// <summary>
    /// The source address for a new exchange with <paramref name="destination"/>: the IPv4 address, or the IPv6
    /// address RFC 6724 picks. False when the family has no usable address or no route.
    /// </summary>
    bool TrySelectSource(IpAddress destination, out IpAddress source)
    {
        if (destination.IsIpv4)
        {
            source = _interface.Address;
            return _interface.IsConfigured && HasRoute(destination.Ipv4);
        }
        source = default;
        return _ipv6 is not null && _ipv6.TrySelectSource(destination, out source)
            && (destination.IsMulticast || _device.Medium == LinkMedium.Ip || TryNextHopIpv6(destination, out _));
    }

    /// <summary>Room before any transport header the engine builds: link header, IPv6 header and a Fragment header.</summary>
    const int TransportOffset = LinkHeadroom + Ipv6Packet.HeaderLength + Ipv6FragmentHeader.Length;

    /// <summary>Puts the network header of <paramref name="destination"/>'s family in front of the payload and sends.</summary>
    void TransmitIp(byte[] buffer, int payloadOffset, int payloadLength, byte protocol, IpAddress source, IpAddress destination, byte hopLimit = 0,
        VirtioNetHeader offload = default)
    {
        if (destination.IsIpv4)
            TransmitIpv4(buffer, payloadOffset, payloadLength, protocol, destination.Ipv4, hopLimit, offload);
        else
            TransmitIpv6(buffer, payloadOffset, payloadLength, protocol, source, destination, hopLimit, offload);
    }

    /// <summary>Writes the 40-byte header in front of the payload and routes the packet.</summary>
    void TransmitIpv6(byte[] buffer, int payloadOffset, int payloadLength, byte nextHeader, IpAddress source, IpAddress destination, byte hopLimit = 0,
        VirtioNetHeader offload = default)
    {
        int offset = payloadOffset - Ipv6Packet.HeaderLength;
        Ipv6Packet.WriteHeader(buffer.AsSpan(offset), payloadLength, nextHeader, hopLimit != 0 ? hopLimit : _ipv6!.HopLimit, source, destination);
        OutputIpv6(buffer, offset, Ipv6Packet.HeaderLength + payloadLength, offload);
    }

    void OutputIpv6(byte[] buffer, int offset, int length, VirtioNetHeader offload)
    {
        Counters.Increment(StackCounter.Ipv6PacketsSent);
        var destination = IpAddress.Read(buffer.AsSpan(offset + 24));
        if (_device.Medium == LinkMedium.Ip)
        {
            EmitIpv6(buffer, offset, length, default, offload);
            return;
        }
        if (destination.IsMulticast)
        {
            // RFC 2464 7: 33:33 followed by the low 32 bits of the group.
            Span<byte> mac = stackalloc byte[6];
            mac[0] = 0x33;
            mac[1] = 0x33;
            BinaryPrimitives.WriteUInt32BigEndian(mac[2..], (uint)destination.Low);
            EmitIpv6(buffer, offset, length, MacAddress.Read(mac), offload);
            return;
        }
        if (!TryNextHopIpv6(destination, out var nextHop))
        {
            Counters.Increment(StackCounter.DropNoRoute);
            ReportToSender(buffer.AsSpan(offset, length), SocketError.NetworkUnreachable);
            return;
        }
        if (_ndp!.TryGet(nextHop, _now, out var linkAddress))
            EmitIpv6(buffer, offset, length, linkAddress, offload);
        else
            ResolveAndQueueIpv6(nextHop, buffer.AsSpan(offset, length), offload);
    }

    /// <summary>RFC 4861 5.2: on-link destinations are their own next hop; others go to a default router.</summary>
    bool TryNextHopIpv6(IpAddress destination, out IpAddress nextHop)
    {
        if (_ipv6!.IsOnLink(destination))
        {
            nextHop = destination;
            return true;
        }
        return _ipv6.TryGetDefaultRouter(_routerProbablyReachable!, out nextHop);
    }

    /// <summary>
    /// Puts a packet on the link; above the link MTU it is fragmented at the source (RFC 8200 4.5), in place as
    /// IPv4 is: each fragment's headers overwrite the tail of data already sent. Only packets with the bare 40-byte
    /// header are built here (all the engine sends), so the unfragmentable part is that header alone.
    /// </summary>
    void EmitIpv6(byte[] buffer, int offset, int length, MacAddress linkAddress, VirtioNetHeader offload = default)
    {
        bool ethernet = _device.Medium == LinkMedium.Ethernet;
        int linkHeader = ethernet ? EthernetFrame.HeaderLength : 0;
        int mtu = Ipv6Mtu;
        if (length > Ipv6Packet.MinimumMtu && offload.Gso == GsoType.None)
            mtu = _pathMtu.Get(IpAddress.Read(buffer.AsSpan(offset + 24)), mtu, _now);
        if (length <= mtu || offload.Gso != GsoType.None)
        {
            if (ethernet)
                EthernetFrame.WriteHeader(buffer.AsSpan(offset - linkHeader), linkAddress, MacAddress, EtherType.Ipv6);
            Transmit(buffer.AsSpan(offset - linkHeader, length + linkHeader), linkHeader, offload);
            return;
        }
        FinishBeforeFragmenting(buffer.AsSpan(offset, length), offload);

        var original = buffer.AsSpan(offset, Ipv6Packet.HeaderLength);
        byte nextHeader = original[6], hopLimit = original[7];
        var source = IpAddress.Read(original[8..]);
        var destination = IpAddress.Read(original[24..]);
        int dataLength = length - Ipv6Packet.HeaderLength;
        int dataStart = offset + Ipv6Packet.HeaderLength;
        int maxData = (mtu - Ipv6Packet.HeaderLength - Ipv6FragmentHeader.Length) & ~7;
        uint identification = _nextIpv6Identification++;
        const int Headers = Ipv6Packet.HeaderLength + Ipv6FragmentHeader.Length;
        for (int dataOffset = 0; dataOffset < dataLength; dataOffset += maxData)
        {
            int chunk = Math.Min(maxData, dataLength - dataOffset);
            bool more = dataOffset + chunk < dataLength;
            int headerStart = dataStart + dataOffset - Headers;
            var header = buffer.AsSpan(headerStart, Headers);
            Ipv6Packet.WriteHeader(header, Ipv6FragmentHeader.Length + chunk, Ipv6NextHeader.Fragment, hopLimit, source, destination);
            Ipv6FragmentHeader.Write(header[Ipv6Packet.HeaderLength..], nextHeader, dataOffset, more, identification);
            if (ethernet)
                EthernetFrame.WriteHeader(buffer.AsSpan(headerStart - linkHeader), linkAddress, MacAddress, EtherType.Ipv6);
            Transmit(buffer.AsSpan(headerStart - linkHeader, Headers + chunk + linkHeader));
            Counters.Increment(StackCounter.Ipv6FragmentsSent);
        }
    }

    void ResolveAndQueueIpv6(IpAddress nextHop, ReadOnlySpan<byte> packet, VirtioNetHeader offload)
    {
        bool ask = _ndp!.StartResolution(nextHop, _now, out var entry);
        if (entry is null)
        {
            Counters.Increment(StackCounter.DropNeighborTableFull);
            ReportToSender(packet, SocketError.HostUnreachable);
            return;
        }
        // Queued first: the solicitation is built in the transmit buffer, where the packet may still lie.
        QueuePending(_ndp, entry, packet, offload);
        if (ask)
            SendNeighborSolicitation(nextHop, unicastTo: null);
    }

    /// <summary>The path MTU toward <paramref name="destination"/> (either family; IPv4 sends without DF, so its link MTU).</summary>
    public int PathMtu(IpAddress destination) => destination.IsIpv4 ? _device.Mtu : _pathMtu.Get(destination, Ipv6Mtu, _now);

    /// <summary>
    /// RFC 8201 4 (RFC 4443 3.2): a Packet Too Big about a packet of ours lowers the path MTU toward its destination
    /// (never below 1280) and tells the TCP connection it came from, which resends at the smaller size at once.
    /// </summary>
    void ReceivePacketTooBig(Icmpv6Message message)
    {
        var body = message.Body;
        if (body.Length < 4 + Ipv6Packet.HeaderLength + 8)
        {
            Counters.Increment(StackCounter.DropIcmpMalformed);
            return;
        }
        int mtu = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(body), int.MaxValue);
        var quoted = body[4..];
        var local = IpAddress.Read(quoted[8..]);
        var remote = IpAddress.Read(quoted[24..]);
        if (!IsOurUnicast(local) || !_pathMtu.Lower(remote, mtu, Ipv6Mtu, _now))
        {
            Counters.Increment(StackCounter.DropIcmpIgnored);
            return;
        }
        Counters.Increment(StackCounter.PathMtuReductions);
        if (Ipv6HeaderChain.Walk(quoted, remote.IsMulticast, out var chain) == HeaderChainVerdict.Deliver && chain.UpperProtocol == IpProtocol.Tcp
            && !chain.IsFragment && quoted.Length >= chain.UpperOffset + 8)
        {
            var transport = quoted[chain.UpperOffset..];
            var key = new Transport.Tcp.TcpConnectionKey(local, BinaryPrimitives.ReadUInt16BigEndian(transport), remote,
                BinaryPrimitives.ReadUInt16BigEndian(transport[2..]));
            if (_tcpConnections.TryGetValue(key, out var connection))
            {
                connection.OnPathMtu(_pathMtu.Get(remote, Ipv6Mtu, _now), BinaryPrimitives.ReadUInt32BigEndian(transport[4..]));
                Reschedule(connection);
            }
        }
    }

    /// <summary>The IPv6 half of <see cref="ReportToSender"/>: finds the transport header behind a quoted header chain.</summary>
    void ReportToSenderIpv6(ReadOnlySpan<byte> quoted, SocketError error)
    {
        if (quoted.Length < Ipv6Packet.HeaderLength + 8)
            return;
        var local = IpAddress.Read(quoted[8..]);
        var remote = IpAddress.Read(quoted[24..]);
        var verdict = Ipv6HeaderChain.Walk(quoted, remote.IsMulticast, out var chain);
        if (verdict != HeaderChainVerdict.Deliver || quoted.Length < chain.UpperOffset + 8)
            return;
        if (chain.IsFragment && new Ipv6FragmentHeader(quoted[chain.FragmentHeaderOffset..]).FragmentOffset != 0)
            return;
        ReportTransportError(chain.UpperProtocol, quoted[chain.UpperOffset..], local, remote, error);
    }
}
