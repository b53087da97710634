using System.Net.Sockets;
using Wirestack.Network;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Engine;

/// <summary>What UDP needs from the layers around it, besides the output path.</summary>
internal interface IUdpHost : ITransportHost
{
    /// <summary>The interface joins <paramref name="group"/> (IGMP or MLD reports it when new); false when no more groups fit.</summary>
    bool JoinGroup(IpAddress group);

    /// <summary>The interface leaves <paramref name="group"/> when no member is left.</summary>
    void LeaveGroup(IpAddress group);

    /// <summary>RFC 1122 4.1.3.1, RFC 4443 3.1: a port unreachable about <paramref name="packet"/> (the whole network packet).</summary>
    void SendPortUnreachable(ReadOnlySpan<byte> packet);
}

/// <summary>
/// The UDP layer (RFC 768, RFC 1122 4.1): the port table, delivery to sockets, multicast membership per socket and its
/// loopback, port unreachable for closed ports, and sending through the one IP output path.
/// </summary>
internal sealed partial class UdpLayer
{
    const int TransportOffset = TransmitBuffers.TransportOffset;

    readonly UdpBindings _bindings = new();
    readonly IpOutput _output;
    readonly LinkLayer _link;
    readonly TransmitBuffers _buffers;
    readonly Ipv4Interface _ipv4;
    readonly bool _ipv6Enabled;
    readonly IUdpHost _host;
    readonly StackCounters _counters;
    readonly ForwardingSettings? _forwarding;
    long _now;

    public UdpLayer(IpOutput output, LinkLayer link, TransmitBuffers buffers, Ipv4Interface ipv4, bool ipv6Enabled, IUdpHost host, StackCounters counters,
        ForwardingSettings? forwarding = null)
    {
        _forwarding = forwarding;
        _output = output;
        _link = link;
        _buffers = buffers;
        _ipv4 = ipv4;
        _ipv6Enabled = ipv6Enabled;
        _host = host;
        _counters = counters;
    }

    /// <summary>The engine's clock, set before anything runs.</summary>
    public void SetTime(long now) => _now = now;

    /// <summary>Every bound port.</summary>
    public IEnumerable<UdpBinding> Bindings => _bindings.All;

    /// <summary>Largest UDP payload in one IPv4 datagram (an IPv6 one takes 20 bytes more, RFC 8200 3).</summary>
    public const int MaxUdpPayload = Ipv4Packet.MaximumLength - Ipv4Packet.MinimumHeaderLength - UdpDatagram.HeaderLength;

    /// <summary>Binds a UDP port (0 for an ephemeral one).</summary>
    /// <exception cref="SocketException">AddressAlreadyInUse or TooManyOpenSockets.</exception>
    public UdpBinding Bind(int port, IUdpReceiver receiver)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue);
        return _bindings.Bind(port, receiver);
    }

    public void Unbind(UdpBinding binding)
    {
        if (binding.Groups is { } groups)
        {
            foreach (var group in groups)
                _host.LeaveGroup(group);
            groups.Clear();
        }
        _bindings.Unbind(binding);
    }

    /// <summary>Groups one socket may join (Linux's IP_MAX_MEMBERSHIPS).</summary>
    public const int MaxGroupsPerSocket = 20;

    /// <summary>
    /// Makes <paramref name="binding"/> a member of <paramref name="group"/> (IP_ADD_MEMBERSHIP, IPV6_JOIN_GROUP): the
    /// interface joins it, reporting it by IGMP or MLD when it is new there, and datagrams to it reach the socket.
    /// </summary>
    /// <returns>Success, or InvalidArgument (not multicast), AddressFamilyNotSupported (IPv6 is off), AddressAlreadyInUse
    /// (joined already), NoBufferSpaceAvailable (too many groups, per socket or on the interface).</returns>
    public SocketError JoinGroup(UdpBinding binding, IpAddress group)
    {
        if (!group.IsMulticast)
            return SocketError.InvalidArgument;
        if (!group.IsIpv4 && !_ipv6Enabled)
            return SocketError.AddressFamilyNotSupported;
        binding.Groups ??= [];
        if (binding.Groups.Contains(group))
            return SocketError.AddressAlreadyInUse;
        if (binding.Groups.Count >= MaxGroupsPerSocket || !_host.JoinGroup(group))
            return SocketError.NoBufferSpaceAvailable;
        binding.Groups.Add(group);
        return SocketError.Success;
    }

    /// <summary>Ends the socket's membership (IP_DROP_MEMBERSHIP); AddressNotAvailable when it had none.</summary>
    public SocketError LeaveGroup(UdpBinding binding, IpAddress group)
    {
        if (binding.Groups is null || !binding.Groups.Remove(group))
            return SocketError.AddressNotAvailable;
        _host.LeaveGroup(group);
        return SocketError.Success;
    }

    /// <summary>Sends one datagram from <paramref name="binding"/>'s port.</summary>
    /// <returns>Success (sent or queued for address resolution), or why not.</returns>
    public SocketError Send(UdpBinding binding, IpAddress destination, ushort port, ReadOnlySpan<byte> payload)
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
            if (!_ipv4.IsConfigured && !destination.Ipv4.IsBroadcast)
                return SocketError.NetworkUnreachable;
            if (!_output.HasRoute(destination))
                return SocketError.NetworkUnreachable;
            source = _ipv4.Address;
        }
        else if (!_host.TrySelectSource(destination, out source))
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
        _counters.Increment(StackCounter.UdpDatagramsSent);
        // Multicast loopback (IP_MULTICAST_LOOP): a local member of the group hears it too.
        if (multicast && binding.MulticastLoopback && _bindings.TryGet(port, out var local) && local.HasJoined(destination))
            local.Receiver.TryDeliver(payload, source, binding.Port, destination);
        return SocketError.Success;
    }

    /// <summary>
    /// A UDP datagram in <paramref name="packet"/> (the whole network packet) at <paramref name="offset"/>; the
    /// packet is what a port unreachable quotes.
    /// </summary>
    public void Receive(IpAddress source, IpAddress destination, Span<byte> packet, int offset, bool checksumVouched)
    {
        if (!TryParseChecked(source, destination, packet[offset..], checksumVouched, out var datagram))
            return;
        if (!_bindings.TryGet(datagram.DestinationPort, out var binding))
        {
            _counters.Increment(StackCounter.DropUdpNoListener);
            // Never for broadcast or multicast: the ICMP senders enforce it.
            _host.SendPortUnreachable(packet);
            return;
        }
        if (destination.IsMulticast && !binding.HasJoined(destination))
        {
            _counters.Increment(StackCounter.DropUdpMulticastNotJoined);
            return;
        }
        if (binding.Receiver.TryDeliver(datagram.Payload, source, datagram.SourcePort, destination))
        {
            _counters.Increment(StackCounter.UdpDatagramsReceived);
        }
        else
        {
            binding.DatagramsDropped++;
            _counters.Increment(StackCounter.DropUdpQueueFull);
        }
    }

    /// <summary>A well-formed datagram whose checksum holds (or the device vouched for it); false, counted, otherwise.</summary>
    bool TryParseChecked(IpAddress source, IpAddress destination, Span<byte> bytes, bool checksumVouched, out UdpDatagram datagram)
    {
        if (!UdpDatagram.TryParse(bytes, out datagram))
        {
            _counters.Increment(StackCounter.DropUdpMalformed);
            return false;
        }
        if (!checksumVouched && !datagram.IsChecksumValid(source, destination))
        {
            _counters.Increment(StackCounter.DropUdpBadChecksum);
            return false;
        }
        return true;
    }

    /// <summary>
    /// An ICMP error quoted a datagram of ours. Only the exchange the port is in (the peer it last sent to) hears it,
    /// as a connected socket would: a spoofed unreachable naming any other peer cannot abort a DNS or SNTP exchange.
    /// </summary>
    public void OnIcmpError(ReadOnlySpan<byte> transport, IpAddress local, IpAddress remote, SocketError error)
    {
        if (TransportPorts.TryRead(transport, out ushort localPort, out ushort remotePort) && _bindings.TryGet(localPort, out var binding)
            && binding.LastRemoteAddress == remote && binding.LastRemotePort == remotePort && _host.IsOurUnicast(local))
            binding.Receiver.DeliverError(error, remote, remotePort);
        else
            _counters.Increment(StackCounter.DropIcmpIgnored);
    }
}
