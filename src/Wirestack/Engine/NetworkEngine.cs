using System.Net.Sockets;
using Wirestack.Devices;
using Wirestack.Network;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Engine;

/// <summary>
/// The protocol engine: one interface and everything above it. Single-threaded and clock-free: every call comes from
/// one thread and brings the time; <see cref="Poll"/> reads what arrived, runs due timers and sends what is ready,
/// and <see cref="NextDeadlineMicroseconds"/> says when it must run again. Packets leave through the
/// <see cref="LinkLayer"/>, the <see cref="NeighborResolver"/> and the one <see cref="IpOutput"/> of both families,
/// each built in a buffer leased from <see cref="TransmitBuffers"/>.
/// </summary>
internal sealed partial class NetworkEngine : INeighborHost, IUdpHost, IIpv4Host, IIpv6Host
{
    /// <summary>Frames read per <see cref="Poll"/> before timers get a turn.</summary>
    const int ReceiveBudget = 512;

    readonly INetworkDevice _device;
    readonly StackOptions _options;
    readonly byte[] _receiveBuffer;
    // The device's offloads, when it has them and the kernel took the request: frames of up to 64 KiB and
    // transport checksums the host vouches for (left partial, or checked already), for the frame in hand.
    readonly IReceiveOffloads? _offloads;
    bool _checksumVouched;
    readonly LinkLayer _link;
    readonly TransmitBuffers _buffers = new();
    readonly NeighborResolver _neighbors;
    readonly IpOutput _output;
    readonly TcpLayer _tcp;
    readonly Ipv4Interface _interface = new();
    readonly Reassembler _reassembler;
    readonly IcmpErrorLimiter _icmpErrorLimiter;
    readonly UdpLayer _udp;
    readonly Ipv4Layer _ipv4;
    readonly Ipv6Layer? _ipv6;
    readonly Random _random;
    readonly Queue<StackState> _stateChanges = new();
    readonly EngineServices _services = new();
    readonly ReassemblyExpired _onReassemblyExpired;
    bool _receiveBudgetExhausted;
    MacAddress _frameSource;
    long _now;

    public NetworkEngine(INetworkDevice device, StackOptions options)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _device = device;
        _options = options;
        MacAddress = options.MacAddress;
        int mtu = Math.Max(device.Mtu, 576);
        if (device.ReceiveOffloads is { } offloads && offloads.EnableReceiveOffloads())
            _offloads = offloads;
        _receiveBuffer = new byte[_offloads?.MaxReceiveLength ?? Math.Max(mtu + 64, 2048)];
        _random = options.RandomSeed is { } seed ? new Random(seed) : new Random();
        var ipv6 = options.Ipv6.Enabled ? new Ipv6Interface(options.Ipv6.MaxAddresses, options.Ipv6.MaxRouters, options.Ipv6.MaxPrefixes) : null;
        _link = new LinkLayer(device, MacAddress, Counters);
        _neighbors = new NeighborResolver(options, this, Counters);
        _output = new IpOutput(_link, _neighbors, _interface, ipv6, this, Counters, options.TimeToLive, _random);
        _tcp = new TcpLayer(options, _output, _link, _buffers, this, Counters);
        _udp = new UdpLayer(_output, _link, _buffers, _interface, ipv6 is not null, this, Counters, options.Forwarding);
        _reassembler = new Reassembler(options.ReassemblyMaxDatagrams, options.ReassemblyMaxBytes, Microseconds(options.ReassemblyTimeout));
        _icmpErrorLimiter = new IcmpErrorLimiter(options.IcmpErrorsPerSecond, options.IcmpErrorBurst, _random);
        var parts = new IpLayerParts(_link, _neighbors, _output, _buffers, _reassembler, _icmpErrorLimiter, _tcp, _udp, Counters, _random);
        _ipv4 = new Ipv4Layer(_interface, parts, this);
        if (ipv6 is not null)
            _ipv6 = new Ipv6Layer(ipv6, options.Ipv6, parts, this);
        _onReassemblyExpired = OnReassemblyExpired;
        _dnsServers = StaticDnsServers();
        CreateMdns();
    }

    public MacAddress MacAddress { get; }

    public Ipv4Interface Interface => _interface;

    /// <summary>The TCP layer: connections, listeners and their timers.</summary>
    public TcpLayer Tcp => _tcp;

    /// <summary>The UDP layer: ports, sockets' multicast memberships, sending.</summary>
    public UdpLayer Udp => _udp;

    /// <summary>The IPv6 side of the interface; null when IPv6 is off.</summary>
    public Ipv6Interface? Ipv6 => _ipv6?.Interface;

    /// <summary>Tests only: the IPv6 layer; null when IPv6 is off.</summary>
    internal Ipv6Layer? Ipv6Layer => _ipv6;

    public StackCounters Counters { get; } = new();

    /// <summary>True when the device hands over 64 KiB segments and partial checksums (see <see cref="IReceiveOffloads"/>).</summary>
    public bool ReceiveOffloadsEnabled => _offloads is not null;

    /// <summary>ARP's neighbour cache.</summary>
    public NeighborCache Neighbors => _neighbors.Ipv4;

    /// <summary>NDP's neighbour cache; null when IPv6 is off.</summary>
    public NeighborCache? Ipv6Neighbors => _neighbors.Ipv6;

    /// <summary>Tests: the IP identifications, to pick flows that share no counter.</summary>
    internal PacketIdentifiers PacketIdentifiers => _output.Identifiers;

    /// <summary>Tests and the fuzzer: transmit buffers leased and not yet returned (0 between polls).</summary>
    internal int TransmitBuffersLeased => _buffers.Leased;

    /// <summary>Tests and the fuzzer: the reassembler, to count its work and what it holds.</summary>
    internal Reassembler Reassembler => _reassembler;

    public int Mtu => _device.Mtu;

    /// <summary>The engine's clock as of the last poll or command, in microseconds.</summary>
    public long Now => _now;

    public StackState State { get; private set; } = StackState.Down;

    /// <summary>The next state change not yet taken by the host, in order.</summary>
    public bool TryTakeStateChange(out StackState state) => _stateChanges.TryDequeue(out state);

    /// <summary>When <see cref="Poll"/> must run again even if no frame arrives; null when only input matters.</summary>
    public long? NextDeadlineMicroseconds
    {
        get
        {
            if (_receiveBudgetExhausted)
                return _now;
            long? next = Earliest(_neighbors.NextDeadline, _reassembler.NextDeadline);
            next = Earliest(next, _ipv6?.NextDeadline);
            next = Earliest(next, _ipv4.NextDeadline);
            next = Earliest(next, _services.NextDeadline);
            next = Earliest(next, _device.NextFrameDueMicroseconds);
            next = Earliest(next, _tcp.NextDeadline);
            next = Earliest(next, _udp.NextForwardDeadline);
            if (State != StackState.Ready)
                next = Earliest(next, _now + 1_000_000);
            return next;
        }
    }

    /// <summary>Sets the engine's clock before commands run (they may send, and sending reads the time).</summary>
    public void SetTime(long nowMicroseconds)
    {
        _now = Math.Max(_now, nowMicroseconds);
        _tcp.SetTime(_now);
        _udp.SetTime(_now);
        _ipv4.SetTime(_now);
        _ipv6?.SetTime(_now);
    }

    /// <summary>Processes received frames, runs due timers and sends what is ready.</summary>
    /// <returns>How many frames arrived.</returns>
    public int Poll(long nowMicroseconds)
    {
        _now = nowMicroseconds;
        _tcp.SetTime(_now);
        _udp.SetTime(_now);
        _ipv4.SetTime(_now);
        _ipv6?.SetTime(_now);
        UpdateState();
        int budget = ReceiveBudget;
        _tcp.BeginReceiveBatch();
        try
        {
            while (budget > 0 && _device.TryReceive(_receiveBuffer, nowMicroseconds, out int length))
            {
                budget--;
                ReceiveFrame(length);
            }
        }
        finally
        {
            _tcp.EndReceiveBatch();
        }
        _receiveBudgetExhausted = budget == 0;
        RunTimers();
        return ReceiveBudget - budget;
    }

    /// <summary>Drops everything held (queued packets, partial datagrams); called when the stack stops.</summary>
    public void Shutdown()
    {
        StopMdns();
        if (_options.Ipv4.Dhcp?.ReleaseOnShutdown == true)
            _dhcp?.Release();
        _tcp.Shutdown();
        _udp.SetForwarder(null);
        _dhcpv6?.Release();
        _dns?.Shutdown();
        _neighbors.Clear();
        _reassembler.Clear();
    }

    void UpdateState()
    {
        if (!_device.IsLinkUp)
        {
            if (State != StackState.Down && _dhcp is not null)
            {
                // RFC 2131 3.2: after the link returns, confirm the old address with INIT-REBOOT.
                _dhcp.Stop();
                _interface.Clear();
            }
            StopMdns();
            _ipv6?.Stop();
            SetState(StackState.Down);
            return;
        }
        if (State == StackState.Down)
        {
            SetState(StackState.LinkUp);
            _ipv4.RestartReports();
            _ipv6?.Start();
        }

        if (State == StackState.LinkUp)
        {
            if (_options.Ipv4.Dhcp is not null)
            {
                SetState(StackState.Configuring);
                StartDhcp();
                return;
            }
            if (!_interface.IsConfigured && _options.Ipv4.Address is { } address)
            {
                _interface.Configure(Ipv4Address.FromIPAddress(address), _options.Ipv4.PrefixLength,
                    _options.Ipv4.Gateway is { } gateway ? Ipv4Address.FromIPAddress(gateway) : Ipv4Address.Any);
            }
            if (!_interface.IsConfigured)
                return;
            SetState(StackState.Configuring);
            _ipv4.Announce();
            StartDhcpServer();
        }

        if (State == StackState.Configuring && _interface.IsConfigured)
        {
            var gateway = _interface.Gateway;
            if (gateway.IsAny || !_link.IsEthernet || _neighbors.TryGet(gateway, _now, out _))
                SetState(StackState.Ready);
            else
                _neighbors.Resolve(gateway, _now);
        }
    }

    void SetState(StackState state)
    {
        if (State == state)
            return;
        State = state;
        _stateChanges.Enqueue(state);
    }

    void RunTimers()
    {
        _neighbors.RunTimers(_now);
        _ipv6?.RunTimers();
        _ipv4.RunTimers();
        UpdateMdnsAddresses();
        _services.Run(_now);
        TakeMdnsEvents();

        _tcp.RunTimers();
        _udp.ExpireIdleSessions();
        int expired = _reassembler.Expire(_now, _onReassemblyExpired);
        if (expired > 0)
            Counters.Add(StackCounter.DropReassemblyTimeout, expired);
        int evicted = _reassembler.TakeEvictions();
        if (evicted > 0)
            Counters.Add(StackCounter.DropReassemblyLimit, evicted);
    }

    void ReceiveFrame(int length)
    {
        Counters.Increment(StackCounter.FramesReceived);
        Counters.Add(StackCounter.BytesReceived, length);
        _checksumVouched = false;
        if (_offloads is { } offloads)
        {
            // From the local kernel, but checked all the same: a header that does not fit its frame, or a frame
            // longer than any segment the kernel may hand over, is dropped, not trusted.
            var header = offloads.LastHeader;
            if (length >= _receiveBuffer.Length || header.Check(length) != VirtioNetHeaderCheck.Valid)
            {
                Counters.Increment(StackCounter.DropOffloadInvalid);
                return;
            }
            _checksumVouched = header.ChecksumVouched;
            if (header.Gso != GsoType.None)
                Counters.Increment(StackCounter.GsoFramesReceived);
        }
        var frameBytes = _receiveBuffer.AsSpan(0, length);
        if (_device.Medium == LinkMedium.Ip)
        {
            switch (QuotedPacket.VersionOf(frameBytes))
            {
                case 4:
                    _ipv4.Receive(_receiveBuffer, 0, length, _checksumVouched);
                    break;
                case 6:
                    ReceiveIpv6(0, length);
                    break;
                default:
                    Counters.Increment(StackCounter.DropUnsupportedEtherType);
                    break;
            }
            return;
        }
        if (!EthernetFrame.TryParse(frameBytes, out var frame))
        {
            Counters.Increment(StackCounter.DropLinkTruncated);
            return;
        }
        _frameSource = frame.Source;
        var destination = frame.Destination;
        // Multicast frames pass only for groups joined: IPv6's 33:33 and the group's low 32 bits (RFC 2464 7), IPv4's
        // 01:00:5e and its low 23 (RFC 1112 6.4; 224.0.0.1, always joined, included).
        if (destination != MacAddress && !destination.IsBroadcast
            && !(destination.IsIpv6Multicast && _ipv6 is not null && _ipv6.Interface.Multicast.MatchesMac(destination.Low32, 0xFFFF_FFFF))
            && !(destination.IsIpv4Multicast && (destination.Low32 & 0x7F_FFFF) is var low
                && (low == 1 || _interface.Multicast.MatchesMac(low, 0x7F_FFFF))))
        {
            Counters.Increment(StackCounter.DropLinkNotForUs);
            return;
        }
        // The interface is on no VLAN: a frame tagged for one belongs to another network (VLAN hopping on a trunk);
        // only a priority tag (VLAN 0, IEEE 802.1Q 9.6) is ours.
        if (frame.VlanId != 0)
        {
            Counters.Increment(StackCounter.DropLinkNotForUs);
            return;
        }
        switch (frame.EtherType)
        {
            case EtherType.Arp:
                _ipv4.ReceiveArp(frame.Payload);
                break;
            case EtherType.Ipv4:
                _ipv4.Receive(_receiveBuffer, frame.HeaderLengthWithTag, length - frame.HeaderLengthWithTag, _checksumVouched);
                break;
            case EtherType.Ipv6:
                ReceiveIpv6(frame.HeaderLengthWithTag, length - frame.HeaderLengthWithTag);
                break;
            default:
                Counters.Increment(StackCounter.DropUnsupportedEtherType);
                break;
        }
    }

    void ReceiveIpv6(int offset, int length)
    {
        if (_ipv6 is null)
            Counters.Increment(StackCounter.DropUnsupportedEtherType);
        else
            _ipv6.Receive(_receiveBuffer, offset, length, _frameSource, _checksumVouched);
    }

    void INeighborHost.Solicit(IpAddress target, MacAddress? unicastTo)
    {
        if (target.IsIpv4)
            _ipv4.SendArpRequest(target.Ipv4, unicastTo);
        else
            _ipv6?.SendNeighborSolicitation(target, unicastTo);
    }

    void INeighborHost.SendResolved(in PendingPacket packet, MacAddress linkAddress) =>
        _output.PutOnLink(packet.Buffer, packet.Offset, packet.Length, linkAddress, packet.Offload, _now);

    bool IUdpHost.JoinGroup(IpAddress group) => group.IsIpv4 ? _ipv4.JoinGroup(group) : _ipv6 is not null && _ipv6.JoinGroup(group);

    void IUdpHost.LeaveGroup(IpAddress group)
    {
        if (group.IsIpv4)
            _ipv4.LeaveGroup(group);
        else
            _ipv6?.LeaveGroup(group);
    }

    void IUdpHost.SendPortUnreachable(ReadOnlySpan<byte> packet)
    {
        if (QuotedPacket.VersionOf(packet) == 4)
            _ipv4.SendError(packet, Icmpv4Type.DestinationUnreachable, UnreachableCode.Port);
        else
            _ipv6?.SendError(packet, Icmpv6Type.DestinationUnreachable, Icmpv6Code.PortUnreachable, 0);
    }

    /// <summary>
    /// Tells the socket or connection that sent <paramref name="quoted"/> (a packet of ours of either family, perhaps cut
    /// short as in an ICMP quote) that it failed. Only the header and the first 8 bytes of the transport header are read.
    /// </summary>
    void IDeliveryErrors.ReportUnreachable(ReadOnlySpan<byte> quoted, SocketError error)
    {
        if (QuotedPacket.VersionOf(quoted) == 6)
            _ipv6?.ReportToSender(quoted, error);
        else
            _ipv4.ReportToSender(quoted, error);
    }

    /// <summary>
    /// Upper-layer reachability confirmation (RFC 4861 7.3.1): TCP saw forward progress with <paramref name="remote"/>,
    /// so its next hop answers.
    /// </summary>
    public void ConfirmReachable(IpAddress remote)
    {
        if (_link.IsEthernet && _output.TryNextHop(remote, out var nextHop))
            _neighbors.Confirm(nextHop, _now);
    }

    void IIpv4Host.OnArpSender(Ipv4Address address) => _dhcp?.OnAddressInUse(address);

    /// <summary>An error about a datagram of ours (either family) whose transport header is <paramref name="transport"/>.</summary>
    void IIpHost.ReportTransportError(byte protocol, ReadOnlySpan<byte> transport, IpAddress local, IpAddress remote, SocketError error)
    {
        if (protocol == IpProtocol.Udp)
            _udp.OnIcmpError(transport, local, remote, error);
        else if (protocol == IpProtocol.Tcp)
            _tcp.OnIcmpError(transport, local, remote, error);
    }

    /// <summary>RFC 792 and RFC 8200 4.5: Time Exceeded (code 1) to the sender of a datagram whose first fragment came but not the rest.</summary>
    void OnReassemblyExpired(ReadOnlySpan<byte> headerAndData)
    {
        if (QuotedPacket.VersionOf(headerAndData) == 6)
            _ipv6?.SendError(headerAndData, Icmpv6Type.TimeExceeded, Icmpv6Code.ReassemblyTimeExceeded, 0);
        else
            _ipv4.SendError(headerAndData, Icmpv4Type.TimeExceeded, code: 1);
    }

    /// <summary>True for an address of ours that may carry ordinary traffic (either family).</summary>
    public bool IsOurUnicast(IpAddress address) =>
        address.IsIpv4 ? _interface.IsConfigured && address.Ipv4 == _interface.Address : Ipv6?.IsAssigned(address) == true;

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
        return Ipv6 is { } ipv6 && ipv6.TrySelectSource(destination, out source) && _output.HasRoute(destination);
    }

    bool ITransportHost.IsBroadcast(IpAddress address) => address.IsIpv4 && _interface.IsBroadcast(address.Ipv4);

    /// <summary>The path MTU toward <paramref name="destination"/> (either family; IPv4 sends without DF, so its link MTU).</summary>
    public int PathMtu(IpAddress destination) => _output.PathMtu(destination, _now);

    static long Microseconds(TimeSpan span) => span.Ticks / TimeSpan.TicksPerMicrosecond;

    static long? Earliest(long? a, long? b) => a is null ? b : b is null ? a : Math.Min(a.Value, b.Value);
}
