using System.Net;
using Wirestack.Wire;

namespace Wirestack.Device;

/// <summary>What the command line asked for, validated.</summary>
internal sealed record DeviceSettings
{
    public string InterfaceName { get; init; } = "tap0";
    public MacAddress MacAddress { get; init; } = MacAddress.Parse("02:00:01:02:03:77");
    public (IPAddress Address, int PrefixLength)? Address { get; init; }
    public IPAddress? Gateway { get; init; }
    public IReadOnlyList<IPAddress> DnsServers { get; init; } = [];
    public (IPAddress Address, int PrefixLength)? HostAddress { get; init; }
    public (IPAddress Address, int PrefixLength)? HostAddress6 { get; init; }
    public bool Ipv6 { get; init; } = true;
    public bool Mdns { get; init; } = true;
    /// <summary>Open the TAP with the virtio-net header, so the host can hand over 64 KiB segments.</summary>
    public bool Offloads { get; init; } = true;
    /// <summary>The longest the stack's thread looks for more traffic before it sleeps (<see cref="StackOptions.BusyPoll"/>).</summary>
    public TimeSpan BusyPoll { get; init; } = StackOptions.DefaultBusyPoll;
    public string? UsersFile { get; init; }
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];
    public IReadOnlyList<(IPAddress Address, int PrefixLength)> Ipv6Addresses { get; init; } = [];
    public IPAddress? Ipv6Gateway { get; init; }
    public string? PcapPath { get; init; }
    public int Verbosity { get; init; } = 2;
    public bool TestServices { get; init; }
    public string HostName { get; init; } = "wirestack";
    public string? SntpServer { get; init; }
    public DhcpServerSettings? DhcpServer { get; init; }
    public int HttpPort { get; init; } = 80;
    public int HttpsPort { get; init; } = 443;
    public string? CertificatePath { get; init; }
    public string? CertificateKeyPath { get; init; }
    public IReadOnlyList<(string Name, string Password)> Users { get; init; } = [];
    public string? WebRoot { get; init; }
    /// <summary>Null: the platform's place (<see cref="Platform.DataDirectory.Default"/>).</summary>
    public string? DataDirectory { get; init; }
    /// <summary>Null: nobody when started as root.</summary>
    public string? RunAs { get; init; }
    public bool HttpsOnly { get; init; }
    public TimeSpan SessionIdle { get; init; } = TimeSpan.FromMinutes(30);
    public TimeSpan SessionLifetime { get; init; } = TimeSpan.FromHours(12);
    public IPAddress? KernelListen { get; init; }
}
