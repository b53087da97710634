using Wirestack.Mdns;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Engine;

// The mDNS responder (RFC 6762) on UDP port 5353 of both families, fed the interface's addresses as they change.
internal sealed partial class NetworkEngine
{
    MdnsResponder? _mdns;
    UdpBinding? _mdnsBinding;
    int _mdnsIpv4Version = -1, _mdnsIpv6Version = -1;
    readonly List<IpAddress> _mdnsAddresses = [];

    /// <summary>The responder, when <see cref="StackOptions.Mdns"/> is set.</summary>
    public MdnsResponder? Mdns => _mdns;

    /// <summary>Port 5353 for the responder: what arrives goes to it, what it sends leaves with TTL 255 (RFC 6762 11).</summary>
    sealed class MdnsPort(NetworkEngine engine) : IUdpReceiver, IMdnsTransport
    {
        public bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress remoteAddress, ushort remotePort, IpAddress localAddress)
        {
            engine._mdns!.Receive(payload, remoteAddress, remotePort, engine._now);
            return true;
        }

        public void DeliverError(System.Net.Sockets.SocketError error, IpAddress remoteAddress, ushort remotePort)
        {
        }

        public void Send(ReadOnlySpan<byte> message, IpAddress destination, ushort port) =>
            engine._udp.Send(engine._mdnsBinding!, destination, port, message);
    }

    void CreateMdns()
    {
        if (_options.Mdns is not { } settings)
            return;
        var port = new MdnsPort(this);
        _mdnsBinding = _udp.Bind(MdnsResponder.Port, port);
        _mdnsBinding.MulticastTimeToLive = 255;
        _mdnsBinding.MulticastLoopback = false;
        _udp.JoinGroup(_mdnsBinding, MdnsResponder.Ipv4Group);
        if (_ipv6 is not null)
            _udp.JoinGroup(_mdnsBinding, MdnsResponder.Ipv6Group);
        _mdns = new MdnsResponder(settings.HostName, settings.Services, _random, port, IsOnLinkSource, Counters);
        _services.Add(_mdns);
    }

    /// <summary>RFC 6762 11: a source on this link (the IPv4 subnet or 169.254/16; IPv6 link-local or an on-link prefix).</summary>
    bool IsOnLinkSource(IpAddress source) =>
        source.IsIpv4
            ? _interface.IsOnLink(source.Ipv4) || (source.Ipv4.Value & 0xFFFF_0000) == 0xA9FE_0000
            : source.IsLinkLocal || (Ipv6?.IsOnLink(source) ?? false);

    /// <summary>Starts the responder once the interface has an address, and tells it when the addresses change.</summary>
    void UpdateMdnsAddresses()
    {
        if (_mdns is null)
            return;
        int ipv4Version = _interface.Version, ipv6Version = Ipv6?.Version ?? 0;
        bool changed = ipv4Version != _mdnsIpv4Version || ipv6Version != _mdnsIpv6Version;
        if (changed)
        {
            (_mdnsIpv4Version, _mdnsIpv6Version) = (ipv4Version, ipv6Version);
            _mdnsAddresses.Clear();
            if (_interface.IsConfigured)
                _mdnsAddresses.Add(_interface.Address);
            foreach (var address in Ipv6?.Addresses ?? [])
            {
                if (address.IsAssigned)
                    _mdnsAddresses.Add(address.Address);
            }
        }
        if (State != StackState.Down && _mdnsAddresses.Count > 0)
        {
            if (_mdns.State == MdnsState.Stopped)
                _mdns.Start([.. _mdnsAddresses], _now);
            else if (changed)
                _mdns.SetAddresses([.. _mdnsAddresses], _now);
        }
    }

    void TakeMdnsEvents()
    {
        while (_mdns is not null && _mdns.TryTakeEvent(out var e))
            _events.Enqueue(new StackEventArgs(e.Kind, e.Message));
    }

    /// <summary>The link went down or the stack stops: goodbye while the link may still carry it.</summary>
    void StopMdns()
    {
        if (_mdns is { State: not MdnsState.Stopped })
            _mdns.Stop(_now);
    }
}
