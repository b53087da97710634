using System.Buffers.Binary;
using Wirestack.Wire;

namespace Wirestack.Engine;

// Neighbor Discovery (RFC 4861): neighbour solicitation and advertisement with the validity checks of 7.1 and the
// cache updates of 7.2, and the host side of router discovery (RS at start, RA processing of 6.3.4).
internal sealed partial class Ipv6Layer
{
    /// <summary>RFC 4861 10: MAX_RTR_SOLICITATION_DELAY, RTR_SOLICITATION_INTERVAL, MAX_RTR_SOLICITATIONS.</summary>
    const long MaxRouterSolicitationDelay = 1_000_000, RouterSolicitationInterval = 4_000_000;
    const int MaxRouterSolicitations = 3;

    int _routerSolicitationsLeft;
    long _nextConflictEventAt;
    long _nextRouterSolicitationAt = long.MaxValue;

    /// <summary>The assigned link-local address, or :: while there is none (what RS and MLD reports are sent from).</summary>
    IpAddress LinkLocalSource
    {
        get
        {
            foreach (var address in _interface.Addresses)
            {
                if (address.Origin == Ipv6AddressOrigin.LinkLocal && address.IsAssigned)
                    return address.Address;
            }
            return IpAddress.Ipv6Any;
        }
    }

    /// <summary>The link came up: the all-nodes group, the sockets' groups, a link-local address and static ones, router solicitation.</summary>
    public void Start()
    {
        _interface.Mtu = _link.Mtu;
        JoinGroup(IpAddress.AllNodes);
        // IPv6 memberships end with the link (the interface forgets everything); the sockets' come back with it.
        foreach (var binding in _udp.Bindings)
        {
            foreach (var group in binding.Groups ?? [])
            {
                if (!group.IsIpv4)
                    JoinGroup(group);
            }
        }
        AddAutoconfiguredAddress(0xFE80_0000_0000_0000, 64, Ipv6AddressOrigin.LinkLocal, long.MaxValue, long.MaxValue);
        foreach (var (address, prefixLength) in _settings.StaticAddresses)
            StartAddress(_interface.Add(IpAddress.FromIPAddress(address), prefixLength, Ipv6AddressOrigin.Static));
        if (_settings.Gateway is { } gateway)
            _interface.SetRouter(IpAddress.FromIPAddress(gateway), long.MaxValue);
        _host.OnStarted();
        if (_settings.AcceptRouterAdvertisements)
        {
            _routerSolicitationsLeft = MaxRouterSolicitations;
            _nextRouterSolicitationAt = _now + _random.NextInt64(MaxRouterSolicitationDelay + 1);
        }
    }

    /// <summary>The link went down: everything learned is forgotten, and addresses are checked again when it returns (RFC 4862 5.4).</summary>
    public void Stop()
    {
        if (_interface.Addresses.Count == 0 && _interface.Multicast.Count == 0)
            return;
        _interface.Clear();
        _neighbors.ClearIpv6();
        _mldReports.Clear();
        _nextRouterSolicitationAt = long.MaxValue;
        _host.OnStopped();
    }

    /// <summary>When a timer of the layer is due next (DAD, lifetimes, solicitations, reports); null when none is set.</summary>
    public long? NextDeadline
    {
        get
        {
            long next = Math.Min(_nextRouterSolicitationAt, NextMldReportAt);
            foreach (var address in _interface.Addresses)
            {
                if (address.State == Ipv6AddressState.Tentative)
                    next = Math.Min(next, address.DadNextAt);
                else if (address.State == Ipv6AddressState.Preferred)
                    next = Math.Min(next, address.PreferredUntil);
                next = Math.Min(next, address.ValidUntil);
            }
            foreach (var router in _interface.Routers)
                next = Math.Min(next, router.ExpiresAt);
            foreach (var prefix in _interface.Prefixes)
                next = Math.Min(next, prefix.ExpiresAt);
            next = Math.Min(next, Math.Min(_interface.DnsServers.NextExpiry, _interface.SearchDomains.NextExpiry));
            return next == long.MaxValue ? null : next;
        }
    }

    public void RunTimers()
    {
        RunDuplicateAddressDetection();
        RunAddressLifetimes();
        for (int i = _interface.Routers.Count - 1; i >= 0; i--)
        {
            if (_interface.Routers[i].ExpiresAt <= _now)
                _interface.RemoveRouter(_interface.Routers[i].Address);
        }
        for (int i = _interface.Prefixes.Count - 1; i >= 0; i--)
        {
            if (_interface.Prefixes[i] is { } prefix && prefix.ExpiresAt <= _now)
                _interface.RemovePrefix(prefix.Prefix, prefix.Length);
        }
        _interface.DnsServers.Expire(_now);
        _interface.SearchDomains.Expire(_now);
        if (_now >= _nextRouterSolicitationAt)
            SendRouterSolicitation();
        RunMldTimers();
    }

    void SendRouterSolicitation()
    {
        if (_routerSolicitationsLeft <= 0)
        {
            _nextRouterSolicitationAt = long.MaxValue;
            return;
        }
        _routerSolicitationsLeft--;
        _nextRouterSolicitationAt = _routerSolicitationsLeft > 0 ? _now + RouterSolicitationInterval : long.MaxValue;
        // RFC 4861 6.3.7: from the link-local address once it is assigned (with our link address), else from ::.
        var source = LinkLocalSource;
        using var lease = _buffers.Rent();
        int length = Icmpv6Message.HeaderLength + NdpMessage.WriteRouterSolicitation(lease.Buffer.AsSpan(TransportOffset + Icmpv6Message.HeaderLength),
            !source.IsUnspecified ? OwnLinkAddress : null);
        SendNdp(lease.Buffer, length, Icmpv6Type.RouterSolicitation, source, IpAddress.AllRouters, linkAddress: null);
        _counters.Increment(StackCounter.RouterSolicitationsSent);
    }

    /// <summary>
    /// A Neighbor Solicitation for <paramref name="target"/>: multicast to its solicited-node group to resolve it, or
    /// unicast to <paramref name="unicastTo"/> to probe it (RFC 4861 7.2.2, 7.3.3).
    /// </summary>
    public void SendNeighborSolicitation(IpAddress target, MacAddress? unicastTo)
    {
        if (!_interface.TrySelectSource(target, out var source))
            return;
        using var lease = _buffers.Rent();
        int length = Icmpv6Message.HeaderLength + NdpMessage.WriteNeighborSolicitation(lease.Buffer.AsSpan(TransportOffset + Icmpv6Message.HeaderLength),
            target, OwnLinkAddress);
        SendNdp(lease.Buffer, length, Icmpv6Type.NeighborSolicitation, source, unicastTo is null ? target.SolicitedNode : target, unicastTo);
        _counters.Increment(StackCounter.NeighborSolicitationsSent);
    }

    /// <summary>RFC 4862 5.4.2: a DAD probe, from the unspecified address with no link-layer option.</summary>
    void SendDadSolicitation(IpAddress tentative)
    {
        using var lease = _buffers.Rent();
        int length = Icmpv6Message.HeaderLength + NdpMessage.WriteNeighborSolicitation(lease.Buffer.AsSpan(TransportOffset + Icmpv6Message.HeaderLength),
            tentative, sourceLinkAddress: null);
        SendNdp(lease.Buffer, length, Icmpv6Type.NeighborSolicitation, IpAddress.Ipv6Any, tentative.SolicitedNode, linkAddress: null);
        _counters.Increment(StackCounter.NeighborSolicitationsSent);
    }

    /// <summary>Sends the NDP message built at the transport offset with hop limit 255 (RFC 4861 6.1, 7.1), straight to <paramref name="linkAddress"/> when given.</summary>
    void SendNdp(byte[] buffer, int length, Icmpv6Type type, IpAddress source, IpAddress destination, MacAddress? linkAddress)
    {
        Icmpv6Message.Finish(buffer.AsSpan(TransportOffset, length), type, 0, source, destination);
        _output.Send(buffer, TransportOffset, length, IpProtocol.Icmpv6, source, destination, _now, hopLimit: 255, linkAddress: linkAddress);
    }

    /// <summary>RFC 4861 7.1.1 validation, then 7.2.3 (answer for our addresses) or DAD (RFC 4862 5.4.3).</summary>
    void ReceiveNeighborSolicitation(Icmpv6Message message, byte hopLimit, IpAddress source, IpAddress destination)
    {
        if (hopLimit != 255 || message.Code != 0 || !NdpTargetMessage.TryParse(message.Body, out var solicitation))
        {
            _counters.Increment(StackCounter.DropNdpInvalid);
            return;
        }
        var target = solicitation.Target;
        MacAddress? sourceLinkAddress = NdpMessage.FindLinkAddress(solicitation.Options, NdpOptionType.SourceLinkLayerAddress);
        // From :: only for DAD: then to a solicited-node group and with no link-layer option.
        if (target.IsMulticast || (source.IsUnspecified && (!IsSolicitedNodeGroup(destination) || sourceLinkAddress is not null)))
        {
            _counters.Increment(StackCounter.DropNdpInvalid);
            return;
        }
        var ours = _interface.Find(target);
        if (ours is null)
        {
            _counters.Increment(StackCounter.DropIcmpIgnored);
            return;
        }
        if (ours.State == Ipv6AddressState.Tentative)
        {
            // RFC 4862 5.4.3: another node probing the same address means it is a duplicate; other solicitations
            // for a tentative address are ignored.
            if (source.IsUnspecified)
                OnDuplicateAddress(ours, "another node is probing it");
            return;
        }
        if (ours.State == Ipv6AddressState.Duplicate || source.IsUnspecified && IsOwnLoopedProbe())
            return;
        if (source.IsUnspecified)
        {
            // RFC 4861 7.2.4: a DAD probe for an address we hold is answered to all nodes.
            SendNeighborAdvertisement(target, IpAddress.AllNodes, solicited: false);
            return;
        }
        if (sourceLinkAddress is { } linkAddress)
            _neighbors.Learned(_ndp.Learn(source, linkAddress, _now, create: true, confirmed: false));
        SendNeighborAdvertisement(target, source, solicited: true);
    }

    // A TAP device never echoes our own frames back; a looped probe would carry our own MAC as the frame source.
    bool IsOwnLoopedProbe() => _frameSource == MacAddress;

    static bool IsSolicitedNodeGroup(IpAddress address) =>
        address.High == 0xFF02_0000_0000_0000 && (address.Low & 0xFFFF_FFFF_FF00_0000) == 0x0000_0001_FF00_0000;

    void SendNeighborAdvertisement(IpAddress target, IpAddress destination, bool solicited)
    {
        using var lease = _buffers.Rent();
        // R=0 (a host), S as asked, O=1 (RFC 4861 7.2.4: override, as the address is not anycast).
        int length = Icmpv6Message.HeaderLength + NdpMessage.WriteNeighborAdvertisement(lease.Buffer.AsSpan(TransportOffset + Icmpv6Message.HeaderLength),
            target, router: false, solicited, overrideFlag: true, OwnLinkAddress);
        SendNdp(lease.Buffer, length, Icmpv6Type.NeighborAdvertisement, target, destination, linkAddress: null);
        _counters.Increment(StackCounter.NeighborAdvertisementsSent);
    }

    /// <summary>RFC 4861 7.1.2 validation, then DAD (RFC 4862 5.4.4) or the cache update of 7.2.5.</summary>
    void ReceiveNeighborAdvertisement(Icmpv6Message message, byte hopLimit, IpAddress destination)
    {
        if (hopLimit != 255 || message.Code != 0 || !NdpTargetMessage.TryParse(message.Body, out var advertisement))
        {
            _counters.Increment(StackCounter.DropNdpInvalid);
            return;
        }
        bool solicited = advertisement.Solicited, overrideFlag = advertisement.Override;
        var target = advertisement.Target;
        if (target.IsMulticast || (destination.IsMulticast && solicited))
        {
            _counters.Increment(StackCounter.DropNdpInvalid);
            return;
        }
        if (_interface.Find(target) is { } ours)
        {
            if (ours.State == Ipv6AddressState.Tentative)
                OnDuplicateAddress(ours, "another node advertises it");
            else if (!IsOwnLoopedProbe() && _now >= _nextConflictEventAt)
            {
                // At most one such event per 10 s: a node repeating the advertisement cannot flood the log.
                _nextConflictEventAt = _now + 10_000_000;
                _host.Raise(new StackEventArgs(StackEventKind.AddressConflict,
                    $"IPv6 address {target} is also advertised by {_frameSource} (kept: it passed duplicate address detection)", target.ToIPAddress()));
            }
            return;
        }
        MacAddress? targetLinkAddress = NdpMessage.FindLinkAddress(advertisement.Options, NdpOptionType.TargetLinkLayerAddress);
        _neighbors.Learned(_ndp.Advertise(target, targetLinkAddress, solicited, overrideFlag, _now));
    }

    /// <summary>Our link address for NDP options: on a TAP; a TUN has none (RFC 4861 4.6.1: omitted without link addresses).</summary>
    MacAddress? OwnLinkAddress => _link.IsEthernet ? MacAddress : null;
}
