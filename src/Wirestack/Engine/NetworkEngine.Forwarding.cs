using Wirestack.Wire;

namespace Wirestack.Engine;

// Forwarding's seam into the engine: which destinations not ours the transports' forwarders take, and the ICMP
// errors a forwarded flow is answered with, from its original destination.
internal sealed partial class NetworkEngine
{
    /// <summary>
    /// True when a packet to <paramref name="destination"/> (not ours) goes to a forwarder: one is set, and the address
    /// names one host (not multicast, broadcast, loopback, unspecified, 0/8 or IPv6 link-local, which is our link's).
    /// </summary>
    public bool IsForwardable(IpAddress destination) =>
        (_tcp.HasForwarder || _udp.HasForwarder) && !destination.IsMulticast && !destination.IsLoopback && !destination.IsUnspecified
        && (destination.IsIpv4
            ? !destination.Ipv4.IsBroadcast && !destination.Ipv4.IsThisNetwork && !_interface.IsBroadcast(destination.Ipv4)
            : !destination.IsLinkLocal);

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
