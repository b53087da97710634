using System.Net;
using System.Net.Sockets;
using Wirestack.Dns;
using Wirestack.Network;
using Wirestack.Sntp;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Engine;

// The services' seam into the engine: ports of their own on the engine's clock; for the DNS client the addressing
// it asks with and the stack's TCP streams for truncated answers; for SNTP the servers learned.
internal sealed partial class NetworkEngine : IDnsHost, ISntpHost
{
    DnsClient? _dns;

    /// <summary>The DNS client (unicast and <c>.local</c>) and its cache.</summary>
    public DnsClient Dns => _dns ??= CreateDns();

    /// <summary>Set by the stack: asks a server over TCP for an answer that was truncated (<see cref="IDnsHost.ExchangeOverTcp"/>).</summary>
    public Action<IpAddress, byte[], long, Action<byte[]?>>? DnsOverTcp { get; set; }

    DnsClient CreateDns()
    {
        var client = new DnsClient(this);
        _services.Add(client);
        return client;
    }

    long IServiceHost.Now => _now;

    UdpBinding IServiceHost.Bind(IUdpReceiver receiver) => _udp.Bind(0, receiver);

    void IServiceHost.Unbind(UdpBinding binding) => _udp.Unbind(binding);

    SocketError IServiceHost.Send(UdpBinding binding, IpAddress destination, ushort port, ReadOnlySpan<byte> payload) =>
        _udp.Send(binding, destination, port, payload);

    /// <summary>Runs <paramref name="service"/> on the engine's clock from now on (idempotent).</summary>
    public void AddService(IEngineService service) => _services.Add(service);

    public void RemoveService(IEngineService service) => _services.Remove(service);

    IReadOnlyList<IpAddress> IDnsHost.DnsServers => [.. _dnsServers.Select(a => (IpAddress)a), .. Ipv6DnsServers];

    bool IDnsHost.HasIpv4Address => _interface.IsConfigured;

    bool IDnsHost.HasIpv6Address => Ipv6 is { } ipv6 && ipv6.Addresses.Any(a => a.IsAssigned);

    bool IDnsHost.PrefersIpv6 => Ipv6 is { } ipv6 && ipv6.Addresses.Any(a => a.State == Ipv6AddressState.Preferred && !a.Address.IsLinkLocal);

    bool IDnsHost.IsOnLinkSource(IpAddress source) => IsOnLinkSource(source);

    string? IDnsHost.OwnHostName => _mdns?.FullName is { Length: > 0 } name ? name : null;

    IPAddress[] IDnsHost.OwnAddresses(ushort type) => type == DnsType.A
        ? _interface.IsConfigured ? [_interface.Address.ToIPAddress()] : []
        : [.. (Ipv6?.Addresses ?? []).Where(a => a.IsAssigned).Select(a => a.Address.ToIPAddress())];

    void IDnsHost.ExchangeOverTcp(IpAddress server, byte[] query, long timeoutMicroseconds, Action<byte[]?> done)
    {
        if (DnsOverTcp is { } exchange)
            exchange(server, query, timeoutMicroseconds, done);
        else
            done(null);
    }

    IReadOnlyList<IpAddress> ISntpHost.NtpServers => [.. _ntpServers.Select(a => (IpAddress)a), .. Ipv6NtpServers];

    bool ISntpHost.HasDnsServers => _dnsServers.Count > 0 || Ipv6DnsServers.Any();
}
