using System.Buffers.Binary;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

/// <summary>Where forwarded echo requests go (the application's echo forwarder).</summary>
internal interface IEchoForwardEvents
{
    /// <summary>False when the application has as many requests waiting as it may: the next is dropped before it is copied.</summary>
    bool HasRoom { get; }

    /// <summary>An echo request to an address not ours; false when the application has as many waiting as it may (the request is dropped).</summary>
    bool OnRequest(EchoForwardPending request);
}

/// <summary>
/// A forwarded echo request: who asked, whom, and the whole ICMP or ICMPv6 message (header, identifier, sequence
/// number, data), which a reply echoes and an error quotes. It holds nothing in the engine: answering it later, or
/// never, costs the engine nothing.
/// </summary>
internal sealed record EchoForwardPending(IpAddress Source, IpAddress Destination, byte[] Message);

// Forwarding's seam into the engine: which destinations not ours the transports' forwarders take, and the ICMP
// errors a forwarded flow is answered with, from its original destination.
internal sealed partial class NetworkEngine
{
    /// <summary>
    /// True when a packet to <paramref name="destination"/> (not ours) goes to a forwarder: one is set, and the address
    /// names one host (not multicast, broadcast, loopback, unspecified, 0/8 or IPv6 link-local, which is our link's).
    /// </summary>
    public bool IsForwardable(IpAddress destination) =>
        (_tcp.HasForwarder || _udp.HasForwarder || _echoForwarder is not null) && !destination.IsMulticast && !destination.IsLoopback && !destination.IsUnspecified
        && (destination.IsIpv4
            ? !destination.Ipv4.IsBroadcast && !destination.Ipv4.IsThisNetwork && !_interface.IsBroadcast(destination.Ipv4)
            : !destination.IsLinkLocal);

    IEchoForwardEvents? _echoForwarder;

    /// <summary>Offers echo requests to other addresses to <paramref name="forwarder"/> from now on (null: no more).</summary>
    /// <exception cref="InvalidOperationException">Forwarding is off in the stack's options, or another echo forwarder is set.</exception>
    public void SetEchoForwarder(IEchoForwardEvents? forwarder)
    {
        if (forwarder is not null)
        {
            if (_options.Forwarding is null)
                throw new InvalidOperationException("Forwarding is off: set StackOptions.Forwarding.");
            if (_echoForwarder is not null)
                throw new InvalidOperationException("An echo forwarder is already set.");
        }
        _echoForwarder = forwarder;
    }

    void IIpHost.ForwardEcho(IpAddress source, IpAddress destination, ReadOnlySpan<byte> message)
    {
        if (_echoForwarder is null)
        {
            Counters.Increment(destination.IsIpv4 ? StackCounter.DropIpv4NotForUs : StackCounter.DropIpv6NotForUs);
            return;
        }
        // A ping flood past the application's queue costs a counter, not a copy of each request.
        if (!_echoForwarder.HasRoom)
        {
            Counters.Increment(StackCounter.DropEchoForwardQueueFull);
            return;
        }
        // The message is copied: it lives in the receive buffer, and the answer comes from another thread later.
        if (_echoForwarder.OnRequest(new EchoForwardPending(source, destination, message.ToArray())))
            Counters.Increment(StackCounter.EchoForwardRequests);
        else
            Counters.Increment(StackCounter.DropEchoForwardQueueFull);
    }

    /// <summary>Answers a forwarded echo request as its destination: the reply carries the request's identifier, sequence number and data (RFC 792, RFC 4443 4.2).</summary>
    public void ReplyToForwardedEcho(EchoForwardPending request)
    {
        using var lease = _buffers.Rent();
        var reply = lease.Buffer.AsSpan(TransmitBuffers.TransportOffset, request.Message.Length);
        request.Message.CopyTo(reply);
        byte protocol;
        if (request.Source.IsIpv4)
        {
            protocol = IpProtocol.Icmp;
            Icmpv4Message.WriteHeader(reply, Icmpv4Type.EchoReply, 0, BinaryPrimitives.ReadUInt32BigEndian(reply[4..]));
        }
        else
        {
            protocol = IpProtocol.Icmpv6;
            Icmpv6Message.Finish(reply, Icmpv6Type.EchoReply, 0, request.Destination, request.Source);
        }
        _output.Send(lease.Buffer, TransmitBuffers.TransportOffset, reply.Length, protocol, request.Destination, request.Source, _now);
        Counters.Increment(StackCounter.IcmpEchoRepliesSent);
    }

    /// <summary>Answers a forwarded echo request with a destination unreachable from its destination, quoting it.</summary>
    public void UnreachableForwardedEcho(EchoForwardPending request, ForwardUnreachable reason) =>
        ((ITransportHost)this).SendUnreachable(request.Destination, request.Source, request.Source.IsIpv4 ? IpProtocol.Icmp : IpProtocol.Icmpv6,
            request.Message, reason);

    void ITransportHost.SendUnreachable(IpAddress from, IpAddress to, byte protocol, ReadOnlySpan<byte> transport, ForwardUnreachable reason)
    {
        // The quote is the client's packet as it arrived: an IP header from it to the original destination, and the
        // transport header it sent.
        Span<byte> quote = stackalloc byte[Ipv6Packet.HeaderLength + Math.Min(transport.Length, 64)];
        var quoted = transport[..Math.Min(transport.Length, 64)];
        if (to.IsIpv4)
        {
            int length = Ipv4Packet.MinimumHeaderLength + quoted.Length;
            new Ipv4Header(to.Ipv4, from.Ipv4, protocol, _options.TimeToLive, 0).Write(quote, length);
            quoted.CopyTo(quote[Ipv4Packet.MinimumHeaderLength..]);
            byte code = reason switch
            {
                ForwardUnreachable.Network => UnreachableCode.Network,
                ForwardUnreachable.Port => UnreachableCode.Port,
                ForwardUnreachable.Prohibited => UnreachableCode.AdministrativelyProhibited,
                _ => UnreachableCode.Host,
            };
            _ipv4.SendError(quote[..length], Icmpv4Type.DestinationUnreachable, code, from.Ipv4);
        }
        else if (_ipv6 is { } ipv6)
        {
            int length = Ipv6Packet.HeaderLength + quoted.Length;
            Ipv6Packet.WriteHeader(quote, quoted.Length, protocol, 64, to, from);
            quoted.CopyTo(quote[Ipv6Packet.HeaderLength..]);
            byte code = reason switch
            {
                ForwardUnreachable.Network => Icmpv6Code.NoRoute,
                ForwardUnreachable.Port => Icmpv6Code.PortUnreachable,
                ForwardUnreachable.Prohibited => Icmpv6Code.AdministrativelyProhibited,
                _ => Icmpv6Code.AddressUnreachable,
            };
            ipv6.SendError(quote[..length], Icmpv6Type.DestinationUnreachable, code, 0, from);
        }
    }
}
