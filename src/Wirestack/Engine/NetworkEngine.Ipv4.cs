using System.Buffers.Binary;
using System.Net.Sockets;
using Wirestack.Devices;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

// IPv4 (RFC 791, RFC 1122 3.3): input checks, reassembly, protocol dispatch, routing, fragmentation.
internal sealed partial class NetworkEngine
{
    void ReceiveIpv4(byte[] buffer, int offset, int length)
    {
        if (!Ipv4Packet.TryParse(buffer.AsSpan(offset, length), out var packet))
        {
            Counters.Increment(StackCounter.DropIpv4Malformed);
            return;
        }
        if (!packet.IsHeaderChecksumValid)
        {
            Counters.Increment(StackCounter.DropIpv4BadChecksum);
            return;
        }
        var destination = packet.Destination;
        if (!_interface.Accepts(destination))
        {
            Counters.Increment(StackCounter.DropIpv4NotForUs);
            return;
        }
        var source = packet.Source;
        // Martian sources (RFC 1122 3.2.1.3, RFC 1812 5.3.7): broadcast, multicast, loopback, 0/8, our own address.
        // 0.0.0.0 itself is a host that has no address yet, which only DHCP (UDP) legitimately sends from.
        if (source.IsBroadcast || source.IsMulticast || source.IsLoopback
            || (source.IsThisNetwork && (!source.IsAny || packet.Protocol != IpProtocol.Udp))
            || (_interface.IsConfigured && (source == _interface.Address || _interface.IsBroadcast(source))))
        {
            Counters.Increment(StackCounter.DropIpv4BadSource);
            return;
        }

        if (!packet.IsFragment)
        {
            DeliverIpv4(buffer, offset, packet);
            return;
        }

        // What a device vouched for is one frame's checksum, not a datagram reassembled from several.
        _checksumVouched = false;
        Counters.Increment(StackCounter.Ipv4FragmentsReceived);
        var fragment = new Fragment(source, destination, packet.Identification, packet.Protocol, packet.FragmentOffset, packet.MoreFragments,
            packet.TypeOfService, packet.TimeToLive);
        var result = _reassembler.Add(fragment, packet.Payload, default, _now, out var datagram);
        if (result == FragmentResult.Completed)
        {
            Counters.Increment(StackCounter.Ipv4DatagramsReassembled);
            try
            {
                Ipv4Packet.TryParse(datagram.Packet, out var whole);
                DeliverIpv4(datagram.Buffer, datagram.Offset, whole);
            }
            finally
            {
                datagram.Release();
            }
        }
        CountFragmentResult(result);
    }

    void CountFragmentResult(FragmentResult result)
    {
        switch (result)
        {
            case FragmentResult.Malformed:
                Counters.Increment(StackCounter.DropFragmentMalformed);
                break;
            case FragmentResult.Overlap:
                Counters.Increment(StackCounter.DropFragmentOverlap);
                break;
            case FragmentResult.Duplicate:
                Counters.Increment(StackCounter.DropFragmentDuplicate);
                break;
            case FragmentResult.TooManyFragments:
                Counters.Increment(StackCounter.DropFragmentTooMany);
                break;
        }
        int evicted = _reassembler.TakeEvictions();
        if (evicted > 0)
            Counters.Add(StackCounter.DropReassemblyLimit, evicted);
    }

    /// <summary>Hands a whole datagram (at <paramref name="offset"/> in <paramref name="buffer"/>) to its protocol.</summary>
    void DeliverIpv4(byte[] buffer, int offset, Ipv4Packet packet)
    {
        Counters.Increment(StackCounter.Ipv4DatagramsDelivered);
        switch (packet.Protocol)
        {
            case IpProtocol.Icmp:
                ReceiveIcmp(buffer, offset, packet);
                break;
            case IpProtocol.Udp:
                ReceiveUdp(packet.Source, packet.Destination, packet.Bytes, packet.HeaderLength);
                break;
            case IpProtocol.Tcp:
                ReceiveTcp(packet.Source, packet.Destination, packet.Payload);
                break;
            case IgmpProtocol:
                ReceiveIgmp(packet);
                break;
            default:
                Counters.Increment(StackCounter.DropIpv4UnsupportedProtocol);
                if (!_interface.IsBroadcast(packet.Destination))
                    SendIcmpError(packet.Bytes, Icmpv4Type.DestinationUnreachable, UnreachableCode.Protocol);
                break;
        }
    }

    /// <summary>True when a datagram to <paramref name="destination"/> has somewhere to go.</summary>
    bool HasRoute(Ipv4Address destination) =>
        _device.Medium == LinkMedium.Ip
        || _interface.IsBroadcast(destination)
        || destination.IsMulticast
        || _interface.IsOnLink(destination)
        || (_interface.IsConfigured && !_interface.Gateway.IsAny);

    /// <summary>
    /// Writes a 20-byte header in front of the payload at <paramref name="payloadOffset"/> and sends the datagram.
    /// The buffer needs <see cref="LinkHeadroom"/> plus 20 bytes before the payload. <paramref name="offload"/>: what
    /// the device is left to do with it, positions counted from the IP header (see <see cref="Transmit(ReadOnlySpan{byte}, int, VirtioNetHeader)"/>).
    /// </summary>
    void TransmitIpv4(byte[] buffer, int payloadOffset, int payloadLength, byte protocol, Ipv4Address destination, byte timeToLive = 0,
        VirtioNetHeader offload = default)
    {
        int offset = payloadOffset - Ipv4Packet.MinimumHeaderLength;
        int length = Ipv4Packet.MinimumHeaderLength + payloadLength;
        Ipv4Packet.WriteHeader(buffer.AsSpan(offset), length, _nextIdentification++, dontFragment: false, moreFragments: false,
            fragmentOffset: 0, timeToLive != 0 ? timeToLive : _options.TimeToLive, protocol, _interface.Address, destination);
        OutputIpv4(buffer, offset, length, offload);
    }

    /// <summary>Routes a complete datagram: picks the next hop, resolves it, and emits the frames.</summary>
    void OutputIpv4(byte[] buffer, int offset, int length, VirtioNetHeader offload = default)
    {
        Counters.Increment(StackCounter.Ipv4DatagramsSent);
        var destination = Ipv4Address.Read(buffer.AsSpan(offset + 16));
        if (_device.Medium == LinkMedium.Ip)
        {
            EmitIpv4(buffer, offset, length, default, offload);
            return;
        }
        if (_interface.IsBroadcast(destination) || !_interface.IsConfigured && destination.IsAny)
        {
            EmitIpv4(buffer, offset, length, MacAddress.Broadcast, offload);
            return;
        }
        if (destination.IsMulticast)
        {
            // RFC 1112 6.4: 01:00:5e followed by the low 23 bits of the group.
            Span<byte> mac = [0x01, 0x00, 0x5E, (byte)((destination.Value >> 16) & 0x7F), (byte)(destination.Value >> 8), (byte)destination.Value];
            EmitIpv4(buffer, offset, length, MacAddress.Read(mac), offload);
            return;
        }
        if (!TryNextHop(destination, out var nextHop))
        {
            Counters.Increment(StackCounter.DropNoRoute);
            ReportToSender(buffer.AsSpan(offset, length), SocketError.NetworkUnreachable);
            return;
        }
        if (_neighbors.TryGet(nextHop, _now, out var linkAddress))
            EmitIpv4(buffer, offset, length, linkAddress, offload);
        else
            ResolveAndQueue(nextHop, buffer.AsSpan(offset, length), offload);
    }

    /// <summary>The neighbor a unicast datagram to <paramref name="destination"/> goes to: itself on link, else the gateway.</summary>
    bool TryNextHop(Ipv4Address destination, out Ipv4Address nextHop)
    {
        nextHop = _interface.IsOnLink(destination) ? destination
            : _interface.IsConfigured && !_interface.Gateway.IsAny ? _interface.Gateway
            : default;
        return !nextHop.IsAny;
    }

    /// <summary>
    /// Puts a datagram on the link, fragmenting it when it exceeds the MTU (RFC 791 3.2). Fragments are built in place:
    /// each fragment's headers are written over the tail of the data before it, which has already been sent, so no
    /// payload byte is copied. Needs <see cref="LinkHeadroom"/> bytes before <paramref name="offset"/>; the datagram
    /// must carry a 20-byte header (all datagrams this engine builds do). A TCP segment the device is to cut
    /// (<paramref name="offload"/>) goes whole.
    /// </summary>
    void EmitIpv4(byte[] buffer, int offset, int length, MacAddress linkAddress, VirtioNetHeader offload = default)
    {
        bool ethernet = _device.Medium == LinkMedium.Ethernet;
        int linkHeader = ethernet ? EthernetFrame.HeaderLength : 0;
        int mtu = _device.Mtu;
        if (length <= mtu || offload.Gso != GsoType.None)
        {
            if (ethernet)
                EthernetFrame.WriteHeader(buffer.AsSpan(offset - linkHeader), linkAddress, MacAddress, EtherType.Ipv4);
            Transmit(buffer.AsSpan(offset - linkHeader, length + linkHeader), linkHeader, offload);
            return;
        }
        FinishBeforeFragmenting(buffer.AsSpan(offset, length), offload);

        var original = buffer.AsSpan(offset);
        int headerLength = (original[0] & 0x0F) * 4;
        int dataLength = length - headerLength;
        ushort identification = BinaryPrimitives.ReadUInt16BigEndian(original[4..]);
        byte typeOfService = original[1], timeToLive = original[8], protocol = original[9];
        var source = Ipv4Address.Read(original[12..]);
        var destination = Ipv4Address.Read(original[16..]);
        int maxData = (mtu - Ipv4Packet.MinimumHeaderLength) & ~7;

        for (int dataOffset = 0; dataOffset < dataLength; dataOffset += maxData)
        {
            int chunk = Math.Min(maxData, dataLength - dataOffset);
            bool more = dataOffset + chunk < dataLength;
            int headerStart = offset + headerLength + dataOffset - Ipv4Packet.MinimumHeaderLength;
            Ipv4Packet.WriteHeader(buffer.AsSpan(headerStart), Ipv4Packet.MinimumHeaderLength + chunk, identification, dontFragment: false,
                more, dataOffset, timeToLive, protocol, source, destination, typeOfService);
            if (ethernet)
                EthernetFrame.WriteHeader(buffer.AsSpan(headerStart - linkHeader), linkAddress, MacAddress, EtherType.Ipv4);
            Transmit(buffer.AsSpan(headerStart - linkHeader, Ipv4Packet.MinimumHeaderLength + chunk + linkHeader));
            Counters.Increment(StackCounter.Ipv4FragmentsSent);
        }
    }

    /// <summary>
    /// Tells the socket that sent <paramref name="quoted"/> (a datagram of ours, possibly cut short as in an ICMP
    /// quote) that it failed. Only the header and the first 8 bytes of the transport header are read.
    /// </summary>
    void ReportToSender(ReadOnlySpan<byte> quoted, SocketError error)
    {
        if (quoted.Length > 0 && quoted[0] >> 4 == 6)
        {
            ReportToSenderIpv6(quoted, error);
            return;
        }
        if (quoted.Length < Ipv4Packet.MinimumHeaderLength || quoted[0] >> 4 != 4)
            return;
        int headerLength = (quoted[0] & 0x0F) * 4;
        if (headerLength < Ipv4Packet.MinimumHeaderLength || quoted.Length < headerLength + 8)
            return;
        ReportTransportError(quoted[9], quoted[headerLength..], Ipv4Address.Read(quoted[12..]), Ipv4Address.Read(quoted[16..]), error);
    }

    /// <summary>An error about a datagram of ours (either family) whose transport header is <paramref name="transport"/>.</summary>
    void ReportTransportError(byte protocol, ReadOnlySpan<byte> transport, IpAddress local, IpAddress remote, SocketError error)
    {
        if (protocol == IpProtocol.Udp)
        {
            // Only about the exchange the port is in (the peer it last sent to), as a connected socket would take it:
            // a spoofed unreachable naming any other peer cannot abort a DNS or SNTP exchange.
            ushort localPort = BinaryPrimitives.ReadUInt16BigEndian(transport);
            ushort remotePort = BinaryPrimitives.ReadUInt16BigEndian(transport[2..]);
            if (_udp.TryGet(localPort, out var binding) && binding.LastRemoteAddress == remote && binding.LastRemotePort == remotePort
                && IsOurUnicast(local))
                binding.Receiver.DeliverError(error, remote, remotePort);
            else
                Counters.Increment(StackCounter.DropIcmpIgnored);
        }
        else if (protocol == IpProtocol.Tcp)
        {
            ReportTcpError(transport, local, remote, error);
        }
    }

    /// <summary>RFC 792 and RFC 8200 4.5: Time Exceeded (code 1) to the sender of a datagram whose first fragment came but not the rest.</summary>
    void OnReassemblyExpired(ReadOnlySpan<byte> headerAndData)
    {
        if (headerAndData[0] >> 4 == 6)
            SendIcmpv6Error(headerAndData, Icmpv6Type.TimeExceeded, Icmpv6Code.ReassemblyTimeExceeded, 0);
        else
            SendIcmpError(headerAndData, Icmpv4Type.TimeExceeded, code: 1);
    }
}
