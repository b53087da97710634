using System.Buffers.Binary;
using System.Net.Sockets;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

// IPv4 input (RFC 791, RFC 1122 3.3): checks, reassembly, protocol dispatch; errors about our own datagrams.
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
        FragmentCounting.Count(Counters, _reassembler, result);
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
                _udp.Receive(packet.Source, packet.Destination, packet.Bytes, packet.HeaderLength, _checksumVouched);
                break;
            case IpProtocol.Tcp:
                _tcp.Receive(packet.Source, packet.Destination, packet.Payload, _checksumVouched);
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

    /// <summary>
    /// Tells the socket that sent <paramref name="quoted"/> (a datagram of ours, possibly cut short as in an ICMP
    /// quote) that it failed. Only the header and the first 8 bytes of the transport header are read.
    /// </summary>
    void ReportToSender(ReadOnlySpan<byte> quoted, SocketError error)
    {
        if (QuotedPacket.VersionOf(quoted) == 6)
        {
            _ipv6?.ReportToSender(quoted, error);
            return;
        }
        if (!QuotedPacket.TryParse(quoted, out var packet) || packet.Payload.Length < 8)
            return;
        ReportTransportError(packet.Protocol, packet.Payload, packet.Source, packet.Destination, error);
    }

    /// <summary>An error about a datagram of ours (either family) whose transport header is <paramref name="transport"/>.</summary>
    public void ReportTransportError(byte protocol, ReadOnlySpan<byte> transport, IpAddress local, IpAddress remote, SocketError error)
    {
        if (protocol == IpProtocol.Udp)
            _udp.OnIcmpError(transport, local, remote, error);
        else if (protocol == IpProtocol.Tcp)
            _tcp.OnIcmpError(transport, local, remote, error);
    }

    /// <summary>RFC 792 and RFC 8200 4.5: Time Exceeded (code 1) to the sender of a datagram whose first fragment came but not the rest.</summary>
    void OnReassemblyExpired(ReadOnlySpan<byte> headerAndData)
    {
        if (QuotedPacket.VersionOf(headerAndData) == 6)
            _ipv6?.SendError(headerAndData, Icmpv6Type.TimeExceeded, Icmpv6Code.ReassemblyTimeExceeded, 0);
        else
            SendIcmpError(headerAndData, Icmpv4Type.TimeExceeded, code: 1);
    }
}
