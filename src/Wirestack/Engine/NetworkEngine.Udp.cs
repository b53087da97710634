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

    public void UnbindUdp(UdpBinding binding)
    {
        if (binding.Groups is { } groups)
        {
            foreach (var group in groups)
                LeaveInterfaceGroup(group);
            groups.Clear();
        }
        _udp.Unbind(binding);
    }

    /// <summary>Groups one socket may join (Linux's IP_MAX_MEMBERSHIPS).</summary>
    public const int MaxGroupsPerSocket = 20;

    /// <summary>
    /// Makes <paramref name="binding"/> a member of <paramref name="group"/> (IP_ADD_MEMBERSHIP, IPV6_JOIN_GROUP): the
    /// interface joins it, reporting it by IGMP or MLD when it is new there, and datagrams to it reach the socket.
    /// </summary>
    /// <returns>Success, or InvalidArgument (not multicast), AddressFamilyNotSupported (IPv6 is off), AddressAlreadyInUse
    /// (joined already), NoBufferSpaceAvailable (too many groups, per socket or on the interface).</returns>
    public SocketError JoinUdpGroup(UdpBinding binding, IpAddress group)
    {
        if (!group.IsMulticast)
            return SocketError.InvalidArgument;
        if (!group.IsIpv4 && _ipv6 is null)
            return SocketError.AddressFamilyNotSupported;
        binding.Groups ??= [];
        if (binding.Groups.Contains(group))
            return SocketError.AddressAlreadyInUse;
        if (binding.Groups.Count >= MaxGroupsPerSocket || !JoinInterfaceGroup(group))
            return SocketError.NoBufferSpaceAvailable;
        binding.Groups.Add(group);
        return SocketError.Success;
    }

    /// <summary>Ends the socket's membership (IP_DROP_MEMBERSHIP); AddressNotAvailable when it had none.</summary>
    public SocketError LeaveUdpGroup(UdpBinding binding, IpAddress group)
    {
        if (binding.Groups is null || !binding.Groups.Remove(group))
            return SocketError.AddressNotAvailable;
        LeaveInterfaceGroup(group);
        return SocketError.Success;
    }

    bool JoinInterfaceGroup(IpAddress group) => group.IsIpv4 ? JoinIpv4Group(group) : JoinGroup(group);

    void LeaveInterfaceGroup(IpAddress group)
    {
        if (group.IsIpv4)
            LeaveIpv4Group(group);
        else if (_ipv6 is not null)
            LeaveGroup(group);
    }

    /// <summary>IPv6 memberships end with the link (the interface forgets everything); the sockets' come back with it.</summary>
    void RejoinSocketGroupsIpv6()
    {
        foreach (var binding in _udp.All)
        {
            foreach (var group in binding.Groups ?? [])
            {
                if (!group.IsIpv4)
                    JoinGroup(group);
            }
        }
    }

    /// <summary>Sends one datagram from <paramref name="binding"/>'s port.</summary>
    /// <returns>Success (sent or queued for address resolution), or why not.</returns>
    public SocketError SendUdp(UdpBinding binding, IpAddress destination, ushort port, ReadOnlySpan<byte> payload)
    {
        if (payload.Length > MaxUdpPayload + (destination.IsIpv4 ? 0 : Ipv4Packet.MinimumHeaderLength))
            return SocketError.MessageSize;
        bool multicast = destination.IsMulticast;
        if (port == 0 || destination.IsUnspecified)
            return SocketError.AddressNotAvailable;
        IpAddress source;
        if (destination.IsIpv4)
        {
            // Before DHCP has bound, 0.0.0.0 is the source and only broadcast goes out (RFC 2131 4.1).
            if (!_interface.IsConfigured && !destination.Ipv4.IsBroadcast)
                return SocketError.NetworkUnreachable;
            if (!_output.HasRoute(destination))
                return SocketError.NetworkUnreachable;
            source = _interface.Address;
        }
        else if (!TrySelectSource(destination, out source))
        {
            return SocketError.NetworkUnreachable;
        }
        using var lease = _buffers.Rent();
        var datagram = lease.Buffer.AsSpan(TransportOffset, UdpDatagram.HeaderLength + payload.Length);
        payload.CopyTo(datagram[UdpDatagram.HeaderLength..]);
        // Where the device can finish the checksum, it does (as for TCP): the payload is summed once, by the copy the
        // kernel makes anyway, or by the software fallback where the packet is fragmented or cannot take the header.
        var offload = !_link.SendOffloads ? default
            : VirtioNetHeader.PartialChecksum(destination.IsIpv4 ? Ipv4Packet.MinimumHeaderLength : Ipv6Packet.HeaderLength, UdpDatagram.ChecksumOffset);
        UdpDatagram.WriteHeader(datagram, binding.Port, port, payload.Length, source, destination, partialChecksum: offload.IsOffloaded);
        binding.LastRemoteAddress = destination;
        binding.LastRemotePort = port;
        _output.Send(lease.Buffer, TransportOffset, datagram.Length, IpProtocol.Udp, source, destination, _now,
            multicast ? binding.MulticastTimeToLive : (byte)0, offload);
        Counters.Increment(StackCounter.UdpDatagramsSent);
        // Multicast loopback (IP_MULTICAST_LOOP): a local member of the group hears it too.
        if (multicast && binding.MulticastLoopback && _udp.TryGet(port, out var local) && local.HasJoined(destination))
            local.Receiver.TryDeliver(payload, source, binding.Port, destination);
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
        if (!_checksumVouched && !datagram.IsChecksumValid(source, destination))
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
        if (destination.IsMulticast && !binding.HasJoined(destination))
        {
            Counters.Increment(StackCounter.DropUdpMulticastNotJoined);
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
