using System.Net;

namespace Wirestack;

/// <summary>A DHCP server on the stack's interface, for when the device is the gateway of its own segment.</summary>
public sealed record DhcpServerSettings
{
    /// <summary>First address of the pool.</summary>
    public required IPAddress PoolStart { get; init; }

    /// <summary>Last address of the pool.</summary>
    public required IPAddress PoolEnd { get; init; }

    /// <summary>Lease time granted.</summary>
    public TimeSpan LeaseTime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Router option; null offers the stack's own address.</summary>
    public IPAddress? Router { get; init; }

    /// <summary>DNS servers offered (option 6).</summary>
    public IReadOnlyList<IPAddress> DnsServers { get; init; } = [];

    /// <summary>NTP servers offered (option 42).</summary>
    public IReadOnlyList<IPAddress> NtpServers { get; init; } = [];

    /// <summary>Fixed addresses by MAC address (they may lie outside the pool, inside the subnet).</summary>
    public IReadOnlyDictionary<Wire.MacAddress, IPAddress> Reservations { get; init; } = new Dictionary<Wire.MacAddress, IPAddress>();

    /// <summary>Parses "first-last", e.g. "192.168.0.50-192.168.0.99".</summary>
    public static DhcpServerSettings ParsePool(string pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        var parts = pool.Split('-');
        if (parts.Length != 2 || !Wire.Ipv4Address.TryParse(parts[0], out var first) || !Wire.Ipv4Address.TryParse(parts[1], out var last) || last.Value < first.Value)
            throw new FormatException($"'{pool}' is not a pool (expected FIRST-LAST, e.g. 192.168.0.50-192.168.0.99).");
        if (last.Value - first.Value > 65535)
            throw new FormatException($"Pool '{pool}' is larger than 65536 addresses.");
        return new DhcpServerSettings { PoolStart = first.ToIPAddress(), PoolEnd = last.ToIPAddress() };
    }
}
