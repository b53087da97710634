namespace Wirestack.Device.Dashboard;

/// <summary>/api/network: the interface, lease, servers, neighbors, TCP connections, counters and clock in one object.</summary>
internal static class NetworkView
{
    public static object Snapshot(DashboardContext device)
    {
        var stack = device.Stack;
        var lease = stack.Lease;
        return new
        {
            state = stack.State.ToString(),
            mac = stack.MacAddress.ToString(),
            mtu = stack.Mtu,
            ipv4 = stack.Ipv4Address?.ToString(),
            mdns_name = stack.MdnsHostName,
            prefix_length = stack.Ipv4PrefixLength,
            gateway = stack.Gateway?.ToString(),
            dns_servers = stack.DnsServers.Select(a => a.ToString()),
            sntp_servers = stack.NtpServers.Select(a => a.ToString()),
            lease = lease is null ? null : new
            {
                address = lease.Address.ToString(),
                server = lease.Server.ToString(),
                duration_seconds = (long)lease.Duration.TotalSeconds,
                remaining_seconds = (long)lease.Remaining.TotalSeconds,
                domain = lease.DomainName,
            },
            ipv6 = stack.Ipv6Addresses.Select(a => new
            {
                address = a.Address.ToString(),
                prefix_length = a.PrefixLength,
                state = a.State.ToString().ToLowerInvariant(),
                origin = a.Origin.ToString().ToLowerInvariant(),
                preferred_seconds = a.PreferredLifetime is { } preferred ? (long?)preferred.TotalSeconds : null,
                valid_seconds = a.ValidLifetime is { } valid ? (long?)valid.TotalSeconds : null,
            }),
            ipv6_routers = stack.Ipv6Routers.Select(a => a.ToString()),
            // Neighbours of both families: ARP for IPv4, NDP for IPv6 (the name stays for compatibility).
            arp = stack.GetNeighbors().Select(n => new { address = n.Address.ToString(), mac = n.LinkAddress.ToString() }),
            tcp = stack.GetTcpConnections().Select(c => new
            {
                local = c.Local.ToString(),
                remote = c.Remote.ToString(),
                state = c.Info.State.ToString(),
                rtt_ms = c.Info.SmoothedRtt.TotalMilliseconds,
                cwnd = c.Info.CongestionWindow,
                retransmits = c.Info.TotalRetransmittedSegments,
            }),
            counters = stack.GetCounters().Where(c => c.Value != 0).ToDictionary(c => c.Key.ToString(), c => c.Value),
            time = new
            {
                synchronized = device.Clock.IsSynchronized,
                now = device.Clock.GetUtcNow().ToUnixTimeMilliseconds(),
                offset_ms = device.Clock.Offset.TotalMilliseconds,
            },
        };
    }
}
