using System.Buffers.Binary;
using System.Net.Sockets;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

/// <summary>What both IP layers need from the engine around them.</summary>
internal interface IIpHost
{
    /// <summary>An ICMP error about a datagram of ours whose transport header is <paramref name="transport"/>: to the transport that sent it.</summary>
    void ReportTransportError(byte protocol, ReadOnlySpan<byte> transport, IpAddress local, IpAddress remote, SocketError error);

    /// <summary>True when a packet to <paramref name="destination"/>, not ours, is taken for forwarding (a forwarder is set and the address is unicast).</summary>
    bool IsForwardable(IpAddress destination);

    /// <summary>An echo request (ICMP or ICMPv6 <paramref name="message"/>, checksum checked) to an address not ours: to the echo forwarder.</summary>
    void ForwardEcho(IpAddress source, IpAddress destination, ReadOnlySpan<byte> message);
}

/// <summary>What the IPv4 layer needs from the engine around it.</summary>
internal interface IIpv4Host : IIpHost
{
    /// <summary>A host other than us spoke ARP from <paramref name="address"/> (RFC 5227: a DHCP client probing it must decline).</summary>
    void OnArpSender(Ipv4Address address);

}

/// <summary>
/// The IPv4 layer (RFC 791, RFC 1122 3.3): input checks, reassembly and dispatch; ARP (RFC 826) for our address and
/// for the resolver; ICMP (RFC 792) echo and rate-limited errors; IGMPv3 (RFC 3376) reports. The interface's state is
/// the engine's (DHCP configures it); the layer keeps its own timers and sends through the one IP output path.
/// </summary>
internal sealed partial class Ipv4Layer
{
    const int TransportOffset = TransmitBuffers.TransportOffset;

    readonly Ipv4Interface _interface;
    readonly LinkLayer _link;
    readonly NeighborResolver _neighbors;
    readonly IpOutput _output;
    readonly TransmitBuffers _buffers;
    readonly Reassembler _reassembler;
    readonly IcmpErrorLimiter _icmpErrorLimiter;
    readonly TcpLayer _tcp;
    readonly UdpLayer _udp;
    readonly IIpv4Host _host;
    readonly StackCounters _counters;
    readonly Random _random;
    long _now;
    // Whether the device vouched for the transport checksum of the frame in hand.
    bool _checksumVouched;

    public Ipv4Layer(Ipv4Interface ipv4, IpLayerParts parts, IIpv4Host host)
    {
        _interface = ipv4;
        (_link, _neighbors, _output, _buffers, _reassembler, _icmpErrorLimiter, _tcp, _udp, _counters, _random) = parts;
        _host = host;
        _igmpReports = new GroupReportSchedule(IgmpRobustness, IgmpUnsolicitedReportInterval, _random);
        _sendIgmpReport = SendIgmpReport;
    }

    MacAddress MacAddress => _link.MacAddress;

    /// <summary>The engine's clock, set before anything runs.</summary>
    public void SetTime(long now) => _now = now;

    /// <summary>When a timer of the layer is due next (IGMP reports); null when none is set.</summary>
    public long? NextDeadline => _igmpReports.NextDeadline is var due && due != long.MaxValue ? due : null;

    /// <summary>
    /// A datagram at <paramref name="offset"/> in <paramref name="buffer"/>; <paramref name="checksumVouched"/> when the
    /// device checked its transport checksum.
    /// </summary>
    public void Receive(byte[] buffer, int offset, int length, bool checksumVouched)
    {
        _checksumVouched = checksumVouched;
        if (!Ipv4Packet.TryParse(buffer.AsSpan(offset, length), out var packet))
        {
            _counters.Increment(StackCounter.DropIpv4Malformed);
            return;
        }
        if (!packet.IsHeaderChecksumValid)
        {
            _counters.Increment(StackCounter.DropIpv4BadChecksum);
            return;
        }
        var destination = packet.Destination;
        if (!_interface.Accepts(destination) && !_host.IsForwardable(destination))
        {
            _counters.Increment(StackCounter.DropIpv4NotForUs);
            return;
        }
        var source = packet.Source;
        // Martian sources (RFC 1122 3.2.1.3, RFC 1812 5.3.7): broadcast, multicast, loopback, 0/8, our own address.
        // 0.0.0.0 itself is a host that has no address yet, which only DHCP (UDP) legitimately sends from.
        if (source.IsBroadcast || source.IsMulticast || source.IsLoopback
            || (source.IsThisNetwork && (!source.IsAny || packet.Protocol != IpProtocol.Udp))
            || (_interface.IsConfigured && (source == _interface.Address || _interface.IsBroadcast(source))))
        {
            _counters.Increment(StackCounter.DropIpv4BadSource);
            return;
        }

        if (!packet.IsFragment)
        {
            DeliverIpv4(buffer, offset, packet);
            return;
        }

        // What a device vouched for is one frame's checksum, not a datagram reassembled from several.
        _checksumVouched = false;
        _counters.Increment(StackCounter.Ipv4FragmentsReceived);
        var fragment = new Fragment(source, destination, packet.Identification, packet.Protocol, packet.FragmentOffset, packet.MoreFragments,
            packet.TypeOfService, packet.TimeToLive);
        var result = _reassembler.Add(fragment, packet.Payload, default, _now, out var datagram);
        if (result == FragmentResult.Completed)
        {
            _counters.Increment(StackCounter.Ipv4DatagramsReassembled);
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
        FragmentCounting.Count(_counters, _reassembler, result);
    }

    /// <summary>Hands a whole datagram (at <paramref name="offset"/> in <paramref name="buffer"/>) to its protocol.</summary>
    void DeliverIpv4(byte[] buffer, int offset, Ipv4Packet packet)
    {
        _counters.Increment(StackCounter.Ipv4DatagramsDelivered);
        if (!_interface.Accepts(packet.Destination))
        {
            // Forwarded: TCP, UDP and echo requests go to their forwarders; nothing may reach a socket or service of ours.
            if (packet.Protocol == IpProtocol.Tcp)
                _tcp.Receive(packet.Source, packet.Destination, packet.Payload, _checksumVouched);
            else if (packet.Protocol == IpProtocol.Udp)
                _udp.ReceiveForwarded(packet.Source, packet.Destination, packet.Bytes, packet.HeaderLength, _checksumVouched);
            else if (packet.Protocol == IpProtocol.Icmp)
                ReceiveForwardedIcmp(packet);
            else
                _counters.Increment(StackCounter.DropIpv4NotForUs);
            return;
        }
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
            case IpProtocol.Igmp:
                ReceiveIgmp(packet);
                break;
            default:
                _counters.Increment(StackCounter.DropIpv4UnsupportedProtocol);
                if (!_interface.IsBroadcast(packet.Destination))
                    SendError(packet.Bytes, Icmpv4Type.DestinationUnreachable, UnreachableCode.Protocol);
                break;
        }
    }

    /// <summary>
    /// Tells the socket that sent <paramref name="quoted"/> (a datagram of ours, possibly cut short as in an ICMP
    /// quote) that it failed. Only the header and the first 8 bytes of the transport header are read.
    /// </summary>
    public void ReportToSender(ReadOnlySpan<byte> quoted, SocketError error)
    {
        if (!QuotedPacket.TryParse(quoted, out var packet) || packet.Payload.Length < 8)
            return;
        _host.ReportTransportError(packet.Protocol, packet.Payload, packet.Source, packet.Destination, error);
    }
}
