using System.Buffers.Binary;
using System.Net.Sockets;
using Wirestack.Wire;

namespace Wirestack.Engine;

// ICMPv6 (RFC 4443): echo, rate-limited errors, errors delivered to sockets, and dispatch to NDP and MLD.
internal sealed partial class Ipv6Layer
{
    void ReceiveIcmpv6(Span<byte> packet, int offset, IpAddress source, IpAddress destination, bool fragmented)
    {
        if (!Icmpv6Message.TryParse(packet[offset..], out var message) || (!_checksumVouched && !message.IsChecksumValid(source, destination)))
        {
            _counters.Increment(StackCounter.DropIcmpMalformed);
            return;
        }
        // The packet was parsed on its way here: its fixed header is whole.
        byte hopLimit = QuotedPacket.TryParse(packet, out var header) ? header.HopLimit : (byte)0;
        bool tentative = !destination.IsMulticast && !_interface.IsAssigned(destination);
        if (tentative && message.Type is not (Icmpv6Type.NeighborSolicitation or Icmpv6Type.NeighborAdvertisement))
        {
            _counters.Increment(StackCounter.DropIpv6NotForUs);
            return;
        }
        // RFC 6980 5: Neighbor Discovery in a fragment (atomic or not) is silently ignored; a fragmented RA is how a
        // rogue router gets past RA-Guard.
        if (fragmented && message.Type is >= Icmpv6Type.RouterSolicitation and <= Icmpv6Type.Redirect)
        {
            _counters.Increment(StackCounter.DropNdpInvalid);
            return;
        }
        switch (message.Type)
        {
            case Icmpv6Type.EchoRequest:
                ReplyToEchoV6(message, source, destination);
                break;
            case Icmpv6Type.DestinationUnreachable:
            case Icmpv6Type.TimeExceeded:
            case Icmpv6Type.ParameterProblem:
                _counters.Increment(StackCounter.IcmpErrorsReceived);
                if (message.Body.Length > 4)
                    ReportToSender(message.ErrorQuote, ErrorForV6(message.Type, message.Code));
                break;
            case Icmpv6Type.PacketTooBig:
                _counters.Increment(StackCounter.IcmpErrorsReceived);
                ReceivePacketTooBig(message);
                break;
            case Icmpv6Type.NeighborSolicitation:
                ReceiveNeighborSolicitation(message, hopLimit, source, destination);
                break;
            case Icmpv6Type.NeighborAdvertisement:
                ReceiveNeighborAdvertisement(message, hopLimit, destination);
                break;
            case Icmpv6Type.RouterAdvertisement:
                ReceiveRouterAdvertisement(message, hopLimit, source);
                break;
            case Icmpv6Type.MulticastListenerQuery:
                ReceiveMulticastListenerQuery(message, hopLimit, source);
                break;
            default:
                // Router Solicitations (we are no router), Redirects
                // (ignored, as RFC 4861 8 allows: the next hop stays the advertised router), replies nobody asked for,
                // other nodes' MLD reports.
                _counters.Increment(StackCounter.DropIcmpIgnored);
                break;
        }
    }

    /// <summary>RFC 4443 4.2: the reply carries the request's identifier, sequence and data; from the address asked, or a unicast one.</summary>
    /// <summary>
    /// ICMPv6 to an address not ours: an echo request (with its identifier and sequence number, RFC 4443 4.1) goes to
    /// the echo forwarder; nothing else is for us to answer.
    /// </summary>
    void ReceiveForwardedIcmpv6(Span<byte> bytes, IpAddress source, IpAddress destination)
    {
        if (!Icmpv6Message.TryParse(bytes, out var message) || (!_checksumVouched && !message.IsChecksumValid(source, destination)))
            _counters.Increment(StackCounter.DropIcmpMalformed);
        else if (message.Type == Icmpv6Type.EchoRequest && message.Code == 0 && message.Bytes.Length >= 8)
            _host.ForwardEcho(source, destination, message.Bytes);
        else
            _counters.Increment(StackCounter.DropIpv6NotForUs);
    }

    void ReplyToEchoV6(Icmpv6Message request, IpAddress requester, IpAddress destination)
    {
        IpAddress source = destination;
        if (destination.IsMulticast && !_interface.TrySelectSource(requester, out source))
            return;
        int length = request.Bytes.Length;
        if (length > Ipv6Packet.MaximumPayloadLength)
            return;
        using var lease = _buffers.Rent();
        var reply = lease.Buffer.AsSpan(TransportOffset, length);
        request.Bytes.CopyTo(reply);
        Icmpv6Message.Finish(reply, Icmpv6Type.EchoReply, 0, source, requester);
        _output.Send(lease.Buffer, TransportOffset, length, IpProtocol.Icmpv6, source, requester, _now);
        _counters.Increment(StackCounter.IcmpEchoRepliesSent);
    }

    /// <summary>
    /// Sends an ICMPv6 error about <paramref name="offending"/> unless RFC 4443 2.4 (e) forbids it: never about an
    /// ICMPv6 error or a redirect, never to a packet sent to multicast (Parameter Problem code 2 excepted) or from an
    /// address that does not name one node. Rate-limited (2.4 f) with the IPv4 errors' bucket. The quote is cut so
    /// the error fits the minimum MTU (2.4 c).
    /// </summary>
    /// <remarks><c>forwardedFrom</c>: a forwarded flow's destination, answering as itself; null for an address of ours.</remarks>
    public void SendError(ReadOnlySpan<byte> offending, Icmpv6Type type, byte code, uint parameter, IpAddress? forwardedFrom = null)
    {
        if (_interface is null || !QuotedPacket.TryParse(offending, out var packet) || packet.IsIpv4)
            return;
        var source = packet.Source;
        var destination = packet.Destination;
        if (source.IsUnspecified || source.IsMulticast)
            return;
        if (destination.IsMulticast && !(type == Icmpv6Type.PacketTooBig || (type == Icmpv6Type.ParameterProblem && code == Icmpv6Code.UnrecognizedOption)))
            return;
        if (IsIcmpv6ErrorOrRedirect(offending))
            return;
        IpAddress from = forwardedFrom ?? destination;
        if (forwardedFrom is null && (destination.IsMulticast || !_interface.IsAssigned(destination)))
        {
            if (!_interface.TrySelectSource(source, out from))
                return;
        }
        if (!_icmpErrorLimiter.TryTake(_now))
        {
            _counters.Increment(StackCounter.DropIcmpRateLimited);
            return;
        }
        const int headerRoom = Ipv6Packet.HeaderLength + Icmpv6Message.HeaderLength + 4;
        int quote = Math.Min(offending.Length, Ipv6Packet.MinimumMtu - headerRoom);
        using var lease = _buffers.Rent();
        int length = Icmpv6Message.WriteErrorBody(lease.Buffer.AsSpan(TransportOffset), parameter, offending[..quote]);
        var message = lease.Buffer.AsSpan(TransportOffset, length);
        Icmpv6Message.Finish(message, type, code, from, source);
        _output.Send(lease.Buffer, TransportOffset, message.Length, IpProtocol.Icmpv6, from, source, _now);
        _counters.Increment(StackCounter.IcmpErrorsSent);
    }

    /// <summary>True when the packet carries an ICMPv6 error or a Redirect (types below 128, and 137).</summary>
    static bool IsIcmpv6ErrorOrRedirect(ReadOnlySpan<byte> packet)
    {
        if (Ipv6HeaderChain.Walk(packet, multicastDestination: true, out var chain) != HeaderChainVerdict.Deliver)
            return false;
        if (chain.UpperProtocol != IpProtocol.Icmpv6 || chain.IsFragment || packet.Length <= chain.UpperOffset)
            return false;
        byte type = packet[chain.UpperOffset];
        return type < 128 || type == (byte)Icmpv6Type.Redirect;
    }

    /// <summary>The socket error an ICMPv6 error stands for, as Linux maps them (icmpv6_err_convert).</summary>
    static SocketError ErrorForV6(Icmpv6Type type, byte code) => type switch
    {
        Icmpv6Type.DestinationUnreachable => code switch
        {
            Icmpv6Code.NoRoute => SocketError.NetworkUnreachable,
            1 => SocketError.AccessDenied,
            Icmpv6Code.PortUnreachable => SocketError.ConnectionRefused,
            _ => SocketError.HostUnreachable,
        },
        Icmpv6Type.ParameterProblem => SocketError.ProtocolOption,
        _ => SocketError.HostUnreachable,
    };
}
