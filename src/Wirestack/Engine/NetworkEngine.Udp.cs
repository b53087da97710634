using System.Net.Sockets;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Engine;

// UDP (RFC 768, RFC 1122 4.1): port table, delivery to sockets, port unreachable, sending.
internal sealed partial class NetworkEngine
{
    /// <summary>Largest UDP payload in one IPv4 datagram (an IPv6 one takes 20 bytes more, RFC 8200 3).</summary>
    public const int MaxUdpPayload = Ipv4Packet.MaximumLength - Ipv4Packet.MinimumHeaderLength - UdpDatagram.HeaderLength;

    /// <summary>Binds a UDP port (0 for an ephemeral one).</summary>
    /// <exception cref="SocketException">AddressAlreadyInUse or TooManyOpenSockets.</exception>
    public UdpBinding BindUdp(int port, IUdpReceiver receiver)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue);
        return _udp.Bind(port, receiver);
    }

    public void UnbindUdp(UdpBinding binding) => _udp.Unbind(binding);

    /// <summary>Sends one datagram from <paramref name="binding"/>'s port.</summary>
    /// <returns>Success (sent or queued for address resolution), or why not.</returns>
    public SocketError SendUdp(UdpBinding binding, IpAddress destination, ushort port, ReadOnlySpan<byte> payload)
    {
        if (payload.Length > MaxUdpPayload + (destination.IsIpv4 ? 0 : Ipv4Packet.MinimumHeaderLength))
            return SocketError.MessageSize;
        if (port == 0 || destination.IsUnspecified)
            return SocketError.AddressNotAvailable;
        IpAddress source;
        if (destination.IsIpv4)
        {
            // Before DHCP has bound, 0.0.0.0 is the source and only broadcast goes out (RFC 2131 4.1).
            if (!_interface.IsConfigured && !destination.Ipv4.IsBroadcast)
                return SocketError.NetworkUnreachable;
            if (!HasRoute(destination.Ipv4))
                return SocketError.NetworkUnreachable;
            source = _interface.Address;
        }
        else if (!TrySelectSource(destination, out source))
        {
            return SocketError.NetworkUnreachable;
        }
        var datagram = _transmitBuffer.AsSpan(TransportOffset, UdpDatagram.HeaderLength + payload.Length);
        payload.CopyTo(datagram[UdpDatagram.HeaderLength..]);
        UdpDatagram.WriteHeader(datagram, binding.Port, port, payload.Length, source, destination);
        binding.LastRemoteAddress = destination;
        binding.LastRemotePort = port;
        TransmitIp(_transmitBuffer, TransportOffset, datagram.Length, IpProtocol.Udp, source, destination);
        Counters.Increment(StackCounter.UdpDatagramsSent);
        return SocketError.Success;
    }

    /// <summary>
    /// A UDP datagram in <paramref name="packet"/> (the whole network packet) at <paramref name="offset"/>; the
    /// packet is what a port unreachable quotes.
    /// </summary>
    void ReceiveUdp(IpAddress source, IpAddress destination, Span<byte> packet, int offset)
    {
        if (!UdpDatagram.TryParse(packet[offset..], out var datagram))
        {
            Counters.Increment(StackCounter.DropUdpMalformed);
            return;
        }
        if (!datagram.IsChecksumValid(source, destination))
        {
            Counters.Increment(StackCounter.DropUdpBadChecksum);
            return;
        }
        if (!_udp.TryGet(datagram.DestinationPort, out var binding))
        {
            Counters.Increment(StackCounter.DropUdpNoListener);
            // RFC 1122 4.1.3.1, RFC 4443 3.1: port unreachable, never for broadcast or multicast (the senders enforce it).
            if (destination.IsIpv4)
                SendIcmpError(packet, Icmpv4Type.DestinationUnreachable, UnreachableCode.Port);
            else
                SendIcmpv6Error(packet, Icmpv6Type.DestinationUnreachable, Icmpv6Code.PortUnreachable, 0);
            return;
        }
        if (binding.Receiver.TryDeliver(datagram.Payload, source, datagram.SourcePort, destination))
        {
            Counters.Increment(StackCounter.UdpDatagramsReceived);
        }
        else
        {
            binding.DatagramsDropped++;
            Counters.Increment(StackCounter.DropUdpQueueFull);
        }
    }
}
