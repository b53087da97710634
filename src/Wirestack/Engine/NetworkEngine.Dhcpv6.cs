using System.Net.Sockets;
using Wirestack.Dhcp;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Engine;

// The DHCPv6 client's seam into the engine: leased addresses go through DAD like any other, servers it learns
// join the addressing snapshot, and routers' M and O flags start it.
internal sealed partial class NetworkEngine : IDhcpv6Host
{
    Dhcpv6Client? _dhcpv6;
    IReadOnlyList<IpAddress> _dhcpv6DnsServers = [];
    IReadOnlyList<IpAddress> _dhcpv6NtpServers = [];
    IReadOnlyList<string> _dhcpv6Domains = [];

    public Dhcpv6Client? Dhcpv6 => _dhcpv6;

    /// <summary>DNS servers from DHCPv6 and from router advertisements (RFC 8106).</summary>
    public IEnumerable<IpAddress> Ipv6DnsServers => Ipv6 is not { } ipv6 ? [] : _dhcpv6DnsServers.Concat(ipv6.DnsServers.Items.Select(s => s.Item)).Distinct();

    /// <summary>DNS search domains: from the DHCP lease, DHCPv6 (option 24) and router advertisements (DNSSL).</summary>
    public IEnumerable<string> SearchDomains =>
        (_dhcp?.Lease?.DomainName is { } leased ? [leased] : Array.Empty<string>())
            .Concat(_dhcpv6Domains)
            .Concat(Ipv6?.SearchDomains.Items.Select(d => d.Item) ?? [])
            .Distinct(StringComparer.OrdinalIgnoreCase);

    /// <summary>SNTP servers from DHCPv6 (RFC 4075).</summary>
    public IReadOnlyList<IpAddress> Ipv6NtpServers => _dhcpv6NtpServers;

    long IDhcpv6Host.Now => _now;
    Random IDhcpv6Host.Random => _random;

    void IIpv6Host.OnStarted()
    {
        if (!_options.Ipv6.Dhcpv6 || _dhcpv6 is not null)
            return;
        _dhcpv6 = new Dhcpv6Client(this);
        _services.Add(_dhcpv6);
        _dhcpv6.Bind(_udp.Bind(Dhcpv6Client.ClientPort, _dhcpv6));
    }

    /// <summary>RFC 4861 4.2: M asks for addresses by DHCPv6, O (without M) for other configuration only.</summary>
    void IIpv6Host.OnRouterFlags(byte flags)
    {
        if (_dhcpv6 is null)
            return;
        if ((flags & 0x80) != 0)
            _dhcpv6.StartStateful();
        else if ((flags & 0x40) != 0)
            _dhcpv6.StartStateless();
    }

    // DHCPv6 runs only with IPv6 on: the layer is there.
    bool IDhcpv6Host.SetLeasedAddress(IpAddress address, long preferredUntil, long validUntil) =>
        _ipv6!.SetLeasedAddress(address, preferredUntil, validUntil);

    void IDhcpv6Host.RemoveLeasedAddress(IpAddress address) => _ipv6!.RemoveLeasedAddress(address);

    void IDhcpv6Host.ApplyServers(IReadOnlyList<IpAddress> dnsServers, IReadOnlyList<IpAddress> sntpServers, IReadOnlyList<string> domains)
    {
        _dhcpv6DnsServers = dnsServers;
        _dhcpv6NtpServers = sntpServers;
        _dhcpv6Domains = domains;
        _ipv6!.Interface.Touch();
    }

    SocketError IDhcpv6Host.SendUdp(UdpBinding binding, IpAddress destination, ushort port, ReadOnlySpan<byte> payload) =>
        _udp.Send(binding, destination, port, payload);

    void IIpv6Host.OnStopped()
    {
        _dhcpv6?.Stop();
        _dhcpv6DnsServers = _dhcpv6NtpServers = [];
    }

    void IIpv6Host.OnDuplicateLease(IpAddress address) => _dhcpv6?.OnDuplicate(address);

    void IIpv6Host.Raise(StackEventArgs stackEvent) => _events.Enqueue(stackEvent);

    void IDhcpv6Host.Raise(StackEventKind kind, string message, IpAddress? address) =>
        _events.Enqueue(new StackEventArgs(kind, message, address?.ToIPAddress()));
}
