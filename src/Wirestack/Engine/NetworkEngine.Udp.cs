using System.Net.Sockets;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Engine;

// UDP (RFC 768, RFC 1122 4.1): port table, delivery to sockets, port unreachable, sending.
internal sealed partial class NetworkEngine
{
    /// <summary>Largest UDP payload in one IPv4 datagram.</summary>
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
    public SocketError SendUdp(UdpBinding binding, Ipv4Address destination, ushort port, ReadOnlySpan<byte> payload)
    {
        if (payload.Length > MaxUdpPayload)
            return SocketError.MessageSize;
        if (port == 0 || destination.IsAny)
            return SocketError.AddressNotAvailable;
        if (!_interface.IsConfigured && !destination.IsBroadcast)
            return SocketError.NetworkUnreachable;
        if (!HasRoute(destination))
            return SocketError.NetworkUnreachable;
        int datagramOffset = LinkHeadroom + Ipv4Packet.MinimumHeaderLength;
        var datagram = _transmitBuffer.AsSpan(datagramOffset, UdpDatagram.HeaderLength + payload.Length);
        payload.CopyTo(datagram[UdpDatagram.HeaderLength..]);
        UdpDatagram.WriteHeader(datagram, binding.Port, port, payload.Length, _interface.Address, destination);
        binding.LastRemoteAddress = destination;
        binding.LastRemotePort = port;
        TransmitIpv4(_transmitBuffer, datagramOffset, datagram.Length, IpProtocol.Udp, destination);
        Counters.Increment(StackCounter.UdpDatagramsSent);
        return SocketError.Success;
    }

    void ReceiveUdp(Ipv4Packet packet)
    {
        if (!UdpDatagram.TryParse(packet.Payload, out var datagram))
        {
            Counters.Increment(StackCounter.DropUdpMalformed);
            return;
        }
        var source = packet.Source;
        var destination = packet.Destination;
        if (!datagram.IsChecksumValid(source, destination))
        {
            Counters.Increment(StackCounter.DropUdpBadChecksum);
            return;
        }
        if (!_udp.TryGet(datagram.DestinationPort, out var binding))
        {
            Counters.Increment(StackCounter.DropUdpNoListener);
            // RFC 1122 4.1.3.1: port unreachable, but never for broadcast (SendIcmpError enforces it).
            SendIcmpError(packet.Bytes, Icmpv4Type.DestinationUnreachable, UnreachableCode.Port);
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
