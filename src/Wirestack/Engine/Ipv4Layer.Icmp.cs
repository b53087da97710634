using System.Buffers.Binary;
using System.Net.Sockets;
using Wirestack.Wire;

namespace Wirestack.Engine;

// ICMPv4 (RFC 792, RFC 1122 3.2.2): echo replies, rate-limited errors, and errors delivered to sockets.
internal sealed partial class Ipv4Layer
{
    /// <summary>Most bytes an ICMP error may occupy, so a quote never needs fragmenting (RFC 1812 4.3.2.3).</summary>
    const int IcmpErrorMaxDatagram = 576;

    void ReceiveIcmp(byte[] buffer, int offset, Ipv4Packet packet)
    {
        if (!Icmpv4Message.TryParse(packet.Payload, out var message) || (!_checksumVouched && !message.IsChecksumValid))
        {
            _counters.Increment(StackCounter.DropIcmpMalformed);
            return;
        }
        switch (message.Type)
        {
            case Icmpv4Type.EchoRequest:
                // RFC 1122 3.2.2.6 lets a host ignore echo to broadcast; answering invites smurf amplification.
                if (_interface.IsBroadcast(packet.Destination) || !_interface.IsConfigured)
                {
                    _counters.Increment(StackCounter.DropIcmpIgnored);
                    return;
                }
                ReplyToEcho(buffer, offset + packet.HeaderLength, message.Bytes.Length, packet.Source);
                break;
            case Icmpv4Type.DestinationUnreachable:
            case Icmpv4Type.TimeExceeded:
            case Icmpv4Type.ParameterProblem:
                _counters.Increment(StackCounter.IcmpErrorsReceived);
                ReportToSender(message.Payload, ErrorFor(message.Type, message.Code));
                break;
            default:
                // Redirects (we have one gateway), source quench (RFC 6633), replies nobody asked for.
                _counters.Increment(StackCounter.DropIcmpIgnored);
                break;
        }
    }

    /// <summary>ICMP to an address not ours: an echo request goes to the echo forwarder; nothing else is for us to answer.</summary>
    void ReceiveForwardedIcmp(Ipv4Packet packet)
    {
        if (!Icmpv4Message.TryParse(packet.Payload, out var message) || (!_checksumVouched && !message.IsChecksumValid))
            _counters.Increment(StackCounter.DropIcmpMalformed);
        else if (message.Type == Icmpv4Type.EchoRequest && message.Code == 0)
            _host.ForwardEcho(packet.Source, packet.Destination, message.Bytes);
        else
            _counters.Increment(StackCounter.DropIpv4NotForUs);
    }

    /// <summary>Turns an echo request into its reply where it lies (RFC 792: swap addresses, type 0, same data).</summary>
    void ReplyToEcho(byte[] buffer, int messageOffset, int messageLength, Ipv4Address requester)
    {
        Icmpv4Message.TurnIntoEchoReply(buffer.AsSpan(messageOffset, messageLength));
        _output.Send(buffer, messageOffset, messageLength, IpProtocol.Icmp, _interface.Address, requester, _now);
        _counters.Increment(StackCounter.IcmpEchoRepliesSent);
    }

    /// <summary>
    /// Sends an ICMP error about <paramref name="offending"/> (its header and leading data), unless RFC 1122 3.2.2
    /// forbids it (errors about errors, non-first fragments, broadcast or non-unicast sources) or the rate limit bites.
    /// </summary>
    /// <remarks>It comes from the interface's address, or from <c>from</c>: a forwarded flow's destination answering as itself.</remarks>
    public void SendError(ReadOnlySpan<byte> offending, Icmpv4Type type, byte code, Ipv4Address? from = null)
    {
        if (!QuotedPacket.TryParse(offending, out var packet) || !packet.IsIpv4 || !_interface.IsConfigured)
            return;
        var source = packet.Source.Ipv4;
        var destination = packet.Destination.Ipv4;
        bool aboutError = packet.Protocol == IpProtocol.Icmp && !packet.Payload.IsEmpty
            && (Icmpv4Type)packet.Payload[0] is not (Icmpv4Type.EchoRequest or Icmpv4Type.EchoReply);
        if (packet.IsLaterFragment || aboutError || source.IsAny || source.IsBroadcast || source.IsMulticast || source.IsLoopback
            || destination.IsMulticast || _interface.IsBroadcast(destination) || _interface.IsBroadcast(source))
            return;
        if (!_icmpErrorLimiter.TryTake(_now))
        {
            _counters.Increment(StackCounter.DropIcmpRateLimited);
            return;
        }
        int quote = Math.Min(offending.Length, IcmpErrorMaxDatagram - Ipv4Packet.MinimumHeaderLength - Icmpv4Message.HeaderLength);
        using var lease = _buffers.Rent();
        var message = lease.Buffer.AsSpan(TransportOffset, Icmpv4Message.HeaderLength + quote);
        offending[..quote].CopyTo(message[Icmpv4Message.HeaderLength..]);
        Icmpv4Message.WriteHeader(message, type, code, restOfHeader: 0);
        _output.Send(lease.Buffer, TransportOffset, message.Length, IpProtocol.Icmp, from ?? _interface.Address, source, _now);
        _counters.Increment(StackCounter.IcmpErrorsSent);
    }

    /// <summary>The socket error an ICMP error stands for, as Linux maps them (icmp_err_convert).</summary>
    static SocketError ErrorFor(Icmpv4Type type, byte code) => type switch
    {
        Icmpv4Type.DestinationUnreachable => code switch
        {
            UnreachableCode.Network or 6 or 11 => SocketError.NetworkUnreachable,
            UnreachableCode.Protocol => SocketError.ProtocolNotSupported,
            UnreachableCode.Port => SocketError.ConnectionRefused,
            UnreachableCode.FragmentationNeeded => SocketError.MessageSize,
            _ => SocketError.HostUnreachable,
        },
        Icmpv4Type.ParameterProblem => SocketError.ProtocolOption,
        _ => SocketError.HostUnreachable,
    };
}
