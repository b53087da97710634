using System.Net;
using Microsoft.Extensions.Logging;

namespace Wirestack.Tunnel;

/// <summary>How the upstream is reached: the host's sockets, or a proxy with optional credentials.</summary>
internal enum UpstreamKind
{
    Direct,
    Socks5,
    HttpConnect,
}

/// <summary>The tunnel's settings, as the command line gives them.</summary>
internal sealed record TunnelSettings
{
    public string Device { get; init; } = "tun0";
    public UpstreamKind Upstream { get; init; } = UpstreamKind.Direct;
    public IPEndPoint? Proxy { get; init; }
    public NetworkCredential? ProxyCredential { get; init; }
    public string? BindInterface { get; init; }
    public int? Mark { get; init; }
    public IReadOnlyList<IPNetwork> Include { get; init; } = [];
    public IReadOnlyList<IPNetwork> Exclude { get; init; } = [];
    public (IPAddress Address, int PrefixLength) Address { get; init; } = (IPAddress.Parse("198.18.0.2"), 15);
    public (IPAddress Address, int PrefixLength) Address6 { get; init; } = (IPAddress.Parse("fdfe:dcba:9876::2"), 64);
    public (IPAddress Address, int PrefixLength)? HostAddress { get; init; }
    public (IPAddress Address, int PrefixLength)? HostAddress6 { get; init; }
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan UdpTimeout { get; init; } = TimeSpan.FromMinutes(2);
    public bool Offloads { get; init; } = true;
    public TimeSpan BusyPoll { get; init; } = TimeSpan.FromMilliseconds(2);
    public IPEndPoint? Metrics { get; init; }
    public IPEndPoint? Dns { get; init; }
    public string? RunAs { get; init; }
    public LogLevel LogLevel { get; init; } = LogLevel.Information;
}
