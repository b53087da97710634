using System.Buffers.Binary;
using System.Net.Sockets;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

// IPv6 input (RFC 8200): checks, the extension-header chain, reassembly, protocol dispatch; source selection.
internal sealed partial class NetworkEngine
{
    readonly Ipv6Interface? _ipv6;

    /// <summary>The IPv6 side of the interface; null when IPv6 is off.</summary>
    public Ipv6Interface? Ipv6 => _ipv6;

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
                _udp.Receive(source, destination, packet, chain.UpperOffset, _checksumVouched);
                break;
            case IpProtocol.Tcp:
                _tcp.Receive(source, destination, packet[chain.UpperOffset..], _checksumVouched);
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
        if (fragment.FragmentOffset + dataLength > Ipv6Packet.MaximumPayloadLength - (chain.FragmentHeaderOffset - Ipv6Packet.HeaderLength))
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
    public bool IsOurUnicast(IpAddress address) =>
        address.IsIpv4 ? _interface.IsConfigured && address.Ipv4 == _interface.Address : _ipv6?.IsAssigned(address) == true;

    /// <summary>
    /// The source address for a new exchange with <paramref name="destination"/>: the IPv4 address, or the IPv6
    /// address RFC 6724 picks. False when the family has no usable address or no route.
    /// </summary>
    public bool TrySelectSource(IpAddress destination, out IpAddress source)
    {
        if (destination.IsIpv4)
        {
            source = _interface.Address;
            return _interface.IsConfigured && _output.HasRoute(destination);
        }
        source = default;
        return _ipv6 is not null && _ipv6.TrySelectSource(destination, out source) && _output.HasRoute(destination);
    }

    bool ITransportHost.IsBroadcast(IpAddress address) => address.IsIpv4 && _interface.IsBroadcast(address.Ipv4);

    /// <summary>The path MTU toward <paramref name="destination"/> (either family; IPv4 sends without DF, so its link MTU).</summary>
    public int PathMtu(IpAddress destination) => _output.PathMtu(destination, _now);

    /// <summary>
    /// RFC 8201 4 (RFC 4443 3.2): a Packet Too Big about a packet of ours lowers the path MTU toward its destination
    /// (never below 1280) and tells the TCP connection it came from, which resends at the smaller size at once.
    /// </summary>
    void ReceivePacketTooBig(Icmpv6Message message)
    {
        if (message.Body.Length < 4 + Ipv6Packet.HeaderLength + 8 || !QuotedPacket.TryParse(message.ErrorQuote, out var packet) || packet.IsIpv4)
        {
            Counters.Increment(StackCounter.DropIcmpMalformed);
            return;
        }
        int mtu = (int)Math.Min(message.ErrorParameter, int.MaxValue);
        var quoted = message.ErrorQuote;
        var local = packet.Source;
        var remote = packet.Destination;
        if (!IsOurUnicast(local) || !_output.PathMtus.Lower(remote, mtu, _output.Ipv6LinkMtu, _now))
        {
            Counters.Increment(StackCounter.DropIcmpIgnored);
            return;
        }
        Counters.Increment(StackCounter.PathMtuReductions);
        if (Ipv6HeaderChain.Walk(quoted, remote.IsMulticast, out var chain) == HeaderChainVerdict.Deliver && chain.UpperProtocol == IpProtocol.Tcp
            && !chain.IsFragment && quoted.Length >= chain.UpperOffset + 8)
        {
            _tcp.OnPathMtu(quoted[chain.UpperOffset..], local, remote, _output.PathMtu(remote, _now));
        }
    }

    /// <summary>The IPv6 half of <see cref="ReportToSender"/>: finds the transport header behind a quoted header chain.</summary>
    void ReportToSenderIpv6(ReadOnlySpan<byte> quoted, SocketError error)
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
        ReportTransportError(chain.UpperProtocol, quoted[chain.UpperOffset..], local, remote, error);
    }
}
