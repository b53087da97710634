using System.Text.Json.Serialization;

namespace Wirestack.Device.Dashboard;

/// <summary>/api/network: the interface, lease, servers, neighbors, TCP connections, counters and clock in one object.</summary>
internal sealed record NetworkSnapshot(
    string State,
    string Mac,
    int Mtu,
    string? Ipv4,
    string? MdnsName,
    int PrefixLength,
    string? Gateway,
    string[] DnsServers,
    string[] SntpServers,
    LeaseView? Lease,
    Ipv6AddressView[] Ipv6,
    string[] Ipv6Routers,
    // Neighbours of both families: ARP for IPv4, NDP for IPv6 (the name stays for compatibility).
    [property: JsonPropertyName("arp")] NeighborView[] Neighbors,
    TcpConnectionView[] Tcp,
    Dictionary<string, long> Counters,
    ClockView Time);

internal sealed record LeaseView(string Address, string Server, long DurationSeconds, long RemainingSeconds, string? Domain);

internal sealed record Ipv6AddressView(
    string Address, int PrefixLength, string State, string Origin, long? PreferredSeconds, long? ValidSeconds);

internal sealed record NeighborView(string Address, string Mac);

internal sealed record TcpConnectionView(
    string Local, string Remote, string State, double RttMs, long Cwnd, long Retransmits);

internal sealed record ClockView(bool Synchronized, long Now, double OffsetMs);

internal static class NetworkView
{
    public static async Task<NetworkSnapshot> SnapshotAsync(DashboardContext device, CancellationToken cancellationToken)
    {
        var stack = device.Stack;
        var lease = stack.Lease;
        return new NetworkSnapshot(
            State: stack.State.ToString(),
            Mac: stack.MacAddress.ToString(),
            Mtu: stack.Mtu,
            Ipv4: stack.Ipv4Address?.ToString(),
            MdnsName: stack.MdnsHostName,
            PrefixLength: stack.Ipv4PrefixLength,
            Gateway: stack.Gateway?.ToString(),
            DnsServers: [.. stack.DnsServers.Select(a => a.ToString())],
            SntpServers: [.. stack.NtpServers.Select(a => a.ToString())],
            Lease: lease is null ? null : new LeaseView(
                lease.Address.ToString(),
                lease.Server.ToString(),
                (long)lease.Duration.TotalSeconds,
                (long)lease.Remaining.TotalSeconds,
                lease.DomainName),
            Ipv6: [.. stack.Ipv6Addresses.Select(a => new Ipv6AddressView(
                a.Address.ToString(),
                a.PrefixLength,
                a.State.ToString().ToLowerInvariant(),
                a.Origin.ToString().ToLowerInvariant(),
                a.PreferredLifetime is { } preferred ? (long)preferred.TotalSeconds : null,
                a.ValidLifetime is { } valid ? (long)valid.TotalSeconds : null))],
            Ipv6Routers: [.. stack.Ipv6Routers.Select(a => a.ToString())],
            Neighbors: [.. (await stack.GetNeighborsAsync(cancellationToken)).Select(n => new NeighborView(n.Address.ToString(), n.LinkAddress.ToString()))],
            Tcp: [.. (await stack.GetTcpConnectionsAsync(cancellationToken)).Select(c => new TcpConnectionView(
                c.Local.ToString(),
                c.Remote.ToString(),
                c.Info.State.ToString(),
                c.Info.SmoothedRtt.TotalMilliseconds,
                c.Info.CongestionWindow,
                c.Info.TotalRetransmittedSegments))],
            Counters: stack.GetCounters().Where(c => c.Value != 0).ToDictionary(c => c.Key.ToString(), c => c.Value),
            Time: new ClockView(
                device.Clock.IsSynchronized,
                device.Clock.GetUtcNow().ToUnixTimeMilliseconds(),
                device.Clock.Offset.TotalMilliseconds));
    }
}
