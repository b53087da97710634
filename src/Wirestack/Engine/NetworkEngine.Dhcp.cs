using System.Net.Sockets;
using Wirestack.Dhcp;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Engine;

// The DHCP client's seam into the engine: sending, applying and removing a lease, ARP probes, interface events.
internal sealed partial class NetworkEngine : IDhcpHost, IDhcpServerHost
{
    DhcpServer? _dhcpServer;

    public DhcpServer? DhcpServer => _dhcpServer;

    Network.Ipv4Interface IDhcpServerHost.Interface => _interface;
    long IDhcpServerHost.Now => _now;
    MacAddress? IDhcpServerHost.FrameSource => _device.Medium == Devices.LinkMedium.Ip ? null : _frameSource;
    StackCounters IDhcpServerHost.Counters => Counters;

    void StartDhcpServer()
    {
        if (_options.DhcpServer is null || _dhcpServer is not null)
            return;
        _dhcpServer = new DhcpServer(this, _options.DhcpServer);
        _dhcpServer.Start(_udp.Bind(67, _dhcpServer));
    }

    DhcpClient? _dhcp;
    UdpBinding? _dhcpBinding;
    IReadOnlyList<Ipv4Address> _dnsServers = [];
    IReadOnlyList<Ipv4Address> _ntpServers = [];
    readonly Queue<StackEventArgs> _events = new();

    public DhcpClient? Dhcp => _dhcp;

    /// <summary>DNS servers: from the lease, else the static configuration.</summary>
    public IReadOnlyList<Ipv4Address> DnsServers => _dnsServers;

    /// <summary>NTP servers learned from DHCP (option 42).</summary>
    public IReadOnlyList<Ipv4Address> NtpServers => _ntpServers;

    public bool TryTakeEvent(out StackEventArgs stackEvent) => _events.TryDequeue(out stackEvent!);

    SocketError IDhcpHost.SendUdp(UdpBinding binding, IpAddress destination, ushort port, ReadOnlySpan<byte> payload) =>
        _udp.Send(binding, destination, port, payload);

    SocketError IDhcpServerHost.SendUdp(UdpBinding binding, IpAddress destination, ushort port, ReadOnlySpan<byte> payload) =>
        _udp.Send(binding, destination, port, payload);

    long IDhcpHost.Now => _now;
    Random IDhcpHost.Random => _random;

    void StartDhcp()
    {
        if (_dhcp is null)
        {
            _dhcp = new DhcpClient(this, _options.Ipv4.Dhcp!);
            _services.Add(_dhcp);
        }
        _dhcpBinding ??= _udp.Bind(68, _dhcp);
        if (_dhcp.State == DhcpClient.ClientState.Stopped)
            _dhcp.Start(_dhcpBinding);
    }

    /// <summary>Changes whenever the addressing a host snapshot shows changes (address, lease, DNS and NTP servers).</summary>
    public int ConfigurationVersion => _interface.Version + _leaseVersion + (Ipv6?.Version ?? 0);

    int _leaseVersion;

    void IDhcpHost.ApplyLease(DhcpLease lease, bool renewal)
    {
        _leaseVersion++;
        _dnsServers = lease.DnsServers;
        _ntpServers = lease.NtpServers;
        if (renewal && _interface.Address == lease.Address)
            return;
        _interface.Configure(lease.Address, lease.PrefixLength, lease.Gateway);
        SetState(StackState.Configuring);
        _ipv4.Announce();
    }

    void IDhcpHost.RemoveLease()
    {
        _leaseVersion++;
        _interface.Clear();
        _dnsServers = StaticDnsServers();
        _ntpServers = [];
        // The address is gone: connections using it cannot continue.
        _tcp.FailConnections(SocketError.NetworkDown);
        SetState(StackState.Configuring);
    }

    void IDhcpHost.SendArpProbe(Ipv4Address address)
    {
        // RFC 5227 2.1.1: sender protocol address zero, target the address being probed.
        _ipv4.SendProbe(address);
    }

    void IDhcpHost.Raise(StackEventKind kind, string message, Ipv4Address? address) =>
        _events.Enqueue(new StackEventArgs(kind, message, address?.ToIPAddress()));

    IReadOnlyList<Ipv4Address> StaticDnsServers() => _options.Ipv4.DnsServers.Select(Ipv4Address.FromIPAddress).ToArray();
}
