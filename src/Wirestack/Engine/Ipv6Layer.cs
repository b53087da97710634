using System.Buffers.Binary;
using System.Net.Sockets;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

/// <summary>What the IPv6 layer needs from the engine around it.</summary>
internal interface IIpv6Host : IIpHost
{
    /// <summary>A stack event (address states, conflicts) for the application.</summary>
    void Raise(StackEventArgs stackEvent);

    /// <summary>IPv6 came up on the link: services that start with it (DHCPv6) may start.</summary>
    void OnStarted();

    /// <summary>The link went down: what IPv6 learned is gone, and so is what its services learned.</summary>
    void OnStopped();

    /// <summary>RFC 4861 4.2: a router's M and O flags (DHCPv6 reads them).</summary>
    void OnRouterFlags(byte flags);

    /// <summary>DAD found a DHCPv6-leased address in use (RFC 8415 18.2.10.1: decline it).</summary>
    void OnDuplicateLease(IpAddress address);

}

/// <summary>
/// The IPv6 layer (RFC 8200), present only when IPv6 is on: input checks, the extension-header chain, reassembly and
/// dispatch; Neighbor Discovery (RFC 4861), addresses and SLAAC (RFC 4862, RFC 7217), MLDv2 (RFC 3810) and ICMPv6
/// (RFC 4443). It owns the IPv6 side of the interface and sends through the one IP output path.
/// </summary>
internal sealed partial class Ipv6Layer
{
    const int TransportOffset = TransmitBuffers.TransportOffset;

    readonly Ipv6Interface _interface;
    readonly Ipv6Settings _settings;
    readonly LinkLayer _link;
    readonly NeighborResolver _neighbors;
    readonly NeighborCache _ndp;
    readonly IpOutput _output;
    readonly TransmitBuffers _buffers;
    readonly Reassembler _reassembler;
    readonly IcmpErrorLimiter _icmpErrorLimiter;
    readonly TcpLayer _tcp;
    readonly UdpLayer _udp;
    readonly IIpv6Host _host;
    readonly StackCounters _counters;
    readonly Random _random;
    long _now;
    // The frame in hand: who sent it on the link, and whether the device vouched for its transport checksum.
    MacAddress _frameSource;
    bool _checksumVouched;

    public Ipv6Layer(Ipv6Interface ipv6, Ipv6Settings settings, IpLayerParts parts, IIpv6Host host)
    {
        _interface = ipv6;
        _settings = settings;
        (_link, _neighbors, _output, _buffers, _reassembler, _icmpErrorLimiter, _tcp, _udp, _counters, _random) = parts;
        _ndp = _neighbors.Ipv6 ?? throw new ArgumentException("IPv6 needs its neighbour cache.", nameof(parts));
        _host = host;
        _mldReports = new GroupReportSchedule(MldRobustness, UnsolicitedReportInterval, _random);
        _sendMldReport = SendMldReport;
    }

    /// <summary>The IPv6 side of the interface: addresses, routers, prefixes, groups, configuration learned.</summary>
    public Ipv6Interface Interface => _interface;

    MacAddress MacAddress => _link.MacAddress;

    /// <summary>The engine's clock, set before anything runs.</summary>
    public void SetTime(long now) => _now = now;

    /// <summary>
    /// A packet at <paramref name="offset"/> in <paramref name="buffer"/>, from <paramref name="frameSource"/> on the
    /// link; <paramref name="checksumVouched"/> when the device checked its transport checksum.
    /// </summary>
    public void Receive(byte[] buffer, int offset, int length, MacAddress frameSource, bool checksumVouched)
    {
        _frameSource = frameSource;
        _checksumVouched = checksumVouched;
        if (!Ipv6Packet.TryParse(buffer.AsSpan(offset, length), out var packet))
        {
            _counters.Increment(StackCounter.DropIpv6Malformed);
            return;
        }
        var source = packet.Source;
        var destination = packet.Destination;
        // RFC 4291 2.5.2, 2.5.3, 2.5.5.2, 2.7: never from multicast, loopback or an IPv4-mapped address.
        if (source.IsMulticast || source.IsLoopback || source.IsIpv4 || destination.IsIpv4 || destination.IsLoopback)
        {
            _counters.Increment(StackCounter.DropIpv6BadSource);
            return;
        }
        // A tentative address receives Neighbor Solicitations and Advertisements only (RFC 4862 5.4.3).
        bool tentative = !destination.IsMulticast && _interface.Find(destination) is { State: Ipv6AddressState.Tentative };
        if (!tentative && !_interface.Accepts(destination) && !_host.IsForwardable(destination))
        {
            _counters.Increment(StackCounter.DropIpv6NotForUs);
            return;
        }
        var verdict = Ipv6HeaderChain.Walk(packet.Bytes, destination.IsMulticast, out var chain);
        bool atomicFragment = false;
        if (verdict == HeaderChainVerdict.Deliver && chain.IsFragment)
        {
            var fragment = new Ipv6FragmentHeader(packet.Bytes[chain.FragmentHeaderOffset..]);
            if (!fragment.IsAtomic)
            {
                ReceiveIpv6Fragment(packet, chain, fragment);
                return;
            }
            // RFC 6946 4: an atomic fragment is a whole packet; walk on past its Fragment header.
            _counters.Increment(StackCounter.Ipv6AtomicFragmentsReceived);
            atomicFragment = true;
            verdict = Ipv6HeaderChain.Walk(packet.Bytes, chain.UpperOffset, chain.FragmentHeaderOffset, destination.IsMulticast, out chain);
        }
        if (verdict != HeaderChainVerdict.Deliver)
        {
            RejectHeaderChain(packet.Bytes, verdict, chain);
            return;
        }
        if (tentative && chain.UpperProtocol != IpProtocol.Icmpv6)
        {
            _counters.Increment(StackCounter.DropIpv6NotForUs);
            return;
        }
        DeliverIpv6(packet.Bytes, chain, fragmented: atomicFragment);
    }

    void RejectHeaderChain(Span<byte> packet, HeaderChainVerdict verdict, in Ipv6HeaderChain chain)
    {
        switch (verdict)
        {
            case HeaderChainVerdict.ParameterProblem:
                _counters.Increment(StackCounter.DropIpv6HeaderChain);
                SendError(packet, Icmpv6Type.ParameterProblem, chain.ErrorCode, (uint)chain.ErrorPointer);
                break;
            case HeaderChainVerdict.NoNextHeader:
                _counters.Increment(StackCounter.DropIpv6NoNextHeader);
                break;
            default:
                _counters.Increment(StackCounter.DropIpv6HeaderChain);
                break;
        }
    }

    /// <summary>
    /// Hands a whole packet whose chain ends at <paramref name="chain"/>'s upper-layer header to its protocol;
    /// <paramref name="fragmented"/> when it came in fragments (or in an atomic fragment), which NDP refuses.
    /// </summary>
    void DeliverIpv6(Span<byte> packet, in Ipv6HeaderChain chain, bool fragmented)
    {
        _counters.Increment(StackCounter.Ipv6PacketsDelivered);
        // The packet was parsed on its way here: its fixed header is whole.
        QuotedPacket.TryParse(packet, out var header);
        var source = header.Source;
        var destination = header.Destination;
        if (!destination.IsMulticast && _interface.Find(destination) is null)
        {
            // Forwarded: TCP, UDP and echo requests go to their forwarders; nothing may reach a socket or service of ours.
            if (chain.UpperProtocol == IpProtocol.Tcp)
                _tcp.Receive(source, destination, packet[chain.UpperOffset..], _checksumVouched);
            else if (chain.UpperProtocol == IpProtocol.Udp)
                _udp.ReceiveForwarded(source, destination, packet, chain.UpperOffset, _checksumVouched);
            else if (chain.UpperProtocol == IpProtocol.Icmpv6)
                ReceiveForwardedIcmpv6(packet[chain.UpperOffset..], source, destination);
            else
                _counters.Increment(StackCounter.DropIpv6NotForUs);
            return;
        }
        switch (chain.UpperProtocol)
        {
            case IpProtocol.Icmpv6:
                ReceiveIcmpv6(packet, chain.UpperOffset, source, destination, fragmented);
                break;
            case IpProtocol.Udp:
                _udp.Receive(source, destination, packet, chain.UpperOffset, _checksumVouched);
                break;
            case IpProtocol.Tcp:
                _tcp.Receive(source, destination, packet[chain.UpperOffset..], _checksumVouched);
                break;
            default:
                // RFC 8200 4: an unrecognised Next Header is answered with Parameter Problem code 1 at that field.
                _counters.Increment(StackCounter.DropIpv6UnsupportedProtocol);
                SendError(packet, Icmpv6Type.ParameterProblem, Icmpv6Code.UnrecognizedNextHeader, (uint)chain.LastNextHeaderOffset);
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
        _counters.Increment(StackCounter.Ipv6FragmentsReceived);
        var bytes = packet.Bytes;
        int dataStart = chain.FragmentHeaderOffset + Ipv6FragmentHeader.Length;
        int dataLength = bytes.Length - dataStart;
        if (fragment.MoreFragments && (dataLength == 0 || (dataLength & 7) != 0))
        {
            _counters.Increment(StackCounter.DropFragmentMalformed);
            SendError(bytes, Icmpv6Type.ParameterProblem, Icmpv6Code.ErroneousHeaderField, 4);
            return;
        }
        if (fragment.FragmentOffset + dataLength > Ipv6Packet.MaximumPayloadLength - (chain.FragmentHeaderOffset - Ipv6Packet.HeaderLength))
        {
            _counters.Increment(StackCounter.DropFragmentMalformed);
            SendError(bytes, Icmpv6Type.ParameterProblem, Icmpv6Code.ErroneousHeaderField, (uint)chain.FragmentHeaderOffset + 2);
            return;
        }
        var destination = packet.Destination;
        if (fragment.FragmentOffset == 0
            && (Ipv6HeaderChain.Walk(bytes, dataStart, chain.FragmentHeaderOffset, destination.IsMulticast, out var rest) == HeaderChainVerdict.Malformed
                || (rest.UpperOffset > 0 && rest.UpperOffset + 8 > bytes.Length)))
        {
            _counters.Increment(StackCounter.DropIpv6HeaderChain);
            SendError(bytes, Icmpv6Type.ParameterProblem, Icmpv6Code.IncompleteHeaderChain, 0);
            return;
        }
        var key = new Fragment(packet.Source, destination, fragment.Identification, fragment.NextHeader, fragment.FragmentOffset, fragment.MoreFragments);
        var result = _reassembler.Add(key, bytes[dataStart..], bytes[..chain.FragmentHeaderOffset], _now, out var datagram);
        if (result == FragmentResult.Completed)
        {
            _counters.Increment(StackCounter.Ipv6PacketsReassembled);
            try
            {
                var whole = datagram.Packet;
                var verdict = Ipv6HeaderChain.Walk(whole, destination.IsMulticast, out var wholeChain);
                if (verdict == HeaderChainVerdict.Deliver && wholeChain.IsFragment)
                    verdict = HeaderChainVerdict.Malformed; // a fragment inside a fragment
                if (verdict == HeaderChainVerdict.Deliver)
                    DeliverIpv6(whole, wholeChain, fragmented: true);
                else
                    RejectHeaderChain(whole, verdict, wholeChain);
            }
            finally
            {
                datagram.Release();
            }
        }
        FragmentCounting.Count(_counters, _reassembler, result);
    }

    /// <summary>
    /// RFC 8201 4 (RFC 4443 3.2): a Packet Too Big about a packet of ours lowers the path MTU toward its destination
    /// (never below 1280) and tells the TCP connection it came from, which resends at the smaller size at once.
    /// </summary>
    void ReceivePacketTooBig(Icmpv6Message message)
    {
        if (message.Body.Length < 4 + Ipv6Packet.HeaderLength + 8 || !QuotedPacket.TryParse(message.ErrorQuote, out var packet) || packet.IsIpv4)
        {
            _counters.Increment(StackCounter.DropIcmpMalformed);
            return;
        }
        int mtu = (int)Math.Min(message.ErrorParameter, int.MaxValue);
        var quoted = message.ErrorQuote;
        var local = packet.Source;
        var remote = packet.Destination;
        if (!_interface.IsAssigned(local) || !_output.PathMtus.Lower(remote, mtu, _output.Ipv6LinkMtu, _now))
        {
            _counters.Increment(StackCounter.DropIcmpIgnored);
            return;
        }
        _counters.Increment(StackCounter.PathMtuReductions);
        if (Ipv6HeaderChain.Walk(quoted, remote.IsMulticast, out var chain) == HeaderChainVerdict.Deliver && chain.UpperProtocol == IpProtocol.Tcp
            && !chain.IsFragment && quoted.Length >= chain.UpperOffset + 8)
        {
            _tcp.OnPathMtu(quoted[chain.UpperOffset..], local, remote, _output.PathMtu(remote, _now));
        }
    }

    /// <summary>Tells the sender of <paramref name="quoted"/> (a packet of ours, perhaps cut short) why it failed: finds the transport header behind its header chain.</summary>
    public void ReportToSender(ReadOnlySpan<byte> quoted, SocketError error)
    {
        if (!QuotedPacket.TryParse(quoted, out var packet) || packet.IsIpv4 || quoted.Length < Ipv6Packet.HeaderLength + 8)
            return;
        var local = packet.Source;
        var remote = packet.Destination;
        var verdict = Ipv6HeaderChain.Walk(quoted, remote.IsMulticast, out var chain);
        if (verdict != HeaderChainVerdict.Deliver || quoted.Length < chain.UpperOffset + 8)
            return;
        if (chain.IsFragment && new Ipv6FragmentHeader(quoted[chain.FragmentHeaderOffset..]).FragmentOffset != 0)
            return;
        _host.ReportTransportError(chain.UpperProtocol, quoted[chain.UpperOffset..], local, remote, error);
    }
}
