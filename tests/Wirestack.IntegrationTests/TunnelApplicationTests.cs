using System.Text.Json;
using System.Text.RegularExpressions;

namespace Wirestack.IntegrationTests;

/// <summary>
/// What applications behind wirestack-tunnel (direct mode) do: bulk TCP both ways and UDP at a rate (iperf3), name
/// resolution through whatever resolver they are configured with, and a game's or WebRTC's UDP pattern where a peer
/// the client never sent to reaches its mapped port.
/// </summary>
public sealed class TunnelApplicationTests
{
    static readonly TimeSpan Long = TimeSpan.FromSeconds(40);

    /// <summary>Runs iperf3 in the client against <paramref name="server"/> and returns its JSON report's end section.</summary>
    static async Task<JsonElement> IperfAsync(TunnelTopology t, string server, string options)
    {
        var result = await t.Client.ExecAsync($"iperf3 -c {server} -t 2 -J {options}", Long);
        Assert.True(result.ExitCode == 0, $"iperf3 -c {server} {options} exited {result.ExitCode}:\n{result.All}");
        var report = JsonDocument.Parse(result.Output).RootElement;
        Assert.False(report.TryGetProperty("error", out var error), $"iperf3 -c {server} {options}: {error}");
        return report.GetProperty("end");
    }

    [Fact(DisplayName = "Issue 23, wirestack-tunnel direct: iperf3 TCP carries bulk data client to server and back (-R) over IPv4 and IPv6, and iperf3 UDP at 50 Mbit/s arrives with its datagrams counted")]
    public async Task IperfThroughTheTunnel()
    {
        Prerequisites.Require("iperf3");
        await using var t = await TunnelTopology.CreateAsync();
        // Bound to their addresses, so that UDP replies come from the address the client sent to (a wildcard server
        // answers from its route's source, which no NAT, the kernel's included, maps back to the client's flow).
        foreach (var server in new[] { TunnelTopology.Web1, TunnelTopology.Web6 })
            _ = t.Internet.ExecAsync($"timeout 60 iperf3 -s -p 5201 -B {server}", TimeSpan.FromSeconds(65));
        await t.WaitForListenerAsync(5201);
        await t.StartTunnelAsync();

        foreach (var (server, options) in new[] { (TunnelTopology.Web1, ""), (TunnelTopology.Web1, "-R"), (TunnelTopology.Web6, ""), (TunnelTopology.Web6, "-R") })
        {
            var end = await IperfAsync(t, server, options);
            double received = end.GetProperty("sum_received").GetProperty("bytes").GetDouble();
            // Two seconds on a loaded CI machine: a megabyte proves bulk flow both ways without timing anything.
            Assert.True(received > 1_000_000, $"iperf3 {server} {options}: {received} bytes received");
        }

        var udp = (await IperfAsync(t, TunnelTopology.Web1, "-u -b 50M")).GetProperty("sum");
        long packets = udp.GetProperty("packets").GetInt64(), lost = udp.GetProperty("lost_packets").GetInt64();
        Assert.True(packets > 1000 && lost * 2 < packets, $"iperf3 UDP: {packets} datagrams, {lost} lost");
    }

    [Fact(DisplayName = "Issue 23, wirestack-tunnel direct: DNS queries to any resolver are answered, over UDP and TCP, to IPv4 and IPv6 resolvers at different addresses")]
    public async Task DnsToAnyResolver()
    {
        Prerequisites.Require("dnsmasq", "dig");
        await using var t = await TunnelTopology.CreateAsync();
        _ = t.Internet.ExecAsync("timeout 60 dnsmasq -k --no-resolv --no-hosts --bind-interfaces --pid-file= --user=root"
            + $" --listen-address={TunnelTopology.Web1},{TunnelTopology.Web2},{TunnelTopology.Web6}"
            + " --address=/game.test/203.0.113.10 --address=/game.test/2001:db8:5::10", TimeSpan.FromSeconds(65));
        await t.WaitForListenerAsync(53, "u");
        await t.StartTunnelAsync();

        foreach (var (resolver, query) in new[]
        {
            (TunnelTopology.Web1, "game.test A"),
            (TunnelTopology.Web2, "game.test A"),
            (TunnelTopology.Web1, "+tcp game.test A"),
            (TunnelTopology.Web6, "game.test AAAA"),
            (TunnelTopology.Web6, "+tcp game.test AAAA"),
        })
        {
            var answer = await t.Client.CheckAsync($"dig +short +time=3 +tries=2 @{resolver} {query}");
            Assert.True(answer.Output.Trim() is "203.0.113.10" or "2001:db8:5::10", $"dig @{resolver} {query}: '{answer.All}'");
        }
    }

    [Fact(DisplayName = "Issue 23, wirestack-tunnel --dns (DNS hijack): queries to a resolver address that does not exist are answered by the configured resolver, over UDP and TCP, from the address the client asked")]
    public async Task DnsGoesToTheConfiguredResolver()
    {
        Prerequisites.Require("dnsmasq", "dig");
        await using var t = await TunnelTopology.CreateAsync();
        _ = t.Internet.ExecAsync("timeout 60 dnsmasq -k --no-resolv --no-hosts --bind-interfaces --pid-file= --user=root"
            + $" --listen-address={TunnelTopology.Web1} --address=/game.test/203.0.113.10", TimeSpan.FromSeconds(65));
        await t.WaitForListenerAsync(53, "u");
        await t.StartTunnelAsync("--dns", TunnelTopology.Web1);

        // The internet has no route to this address: only the redirect can answer. dig checks that the answer
        // comes from the server it asked.
        const string Nowhere = TunnelTopology.Unreachable;
        Assert.Equal("203.0.113.10", (await t.Client.CheckAsync($"dig +short +time=3 +tries=2 @{Nowhere} game.test A")).Output.Trim());
        Assert.Equal("203.0.113.10", (await t.Client.CheckAsync($"dig +short +tcp +time=3 +tries=2 @{Nowhere} game.test A")).Output.Trim());
        Assert.Equal("203.0.113.10", (await t.Client.CheckAsync($"dig +short +time=3 +tries=2 @2001:db8:9::53 game.test A")).Output.Trim());
    }

    [Fact(DisplayName = "Issue 23, wirestack-tunnel direct, RFC 4787 REQ-1 and REQ-8: a client's UDP port keeps one mapping whatever it sends to (endpoint-independent mapping), and a peer it never sent to reaches it through that mapping (endpoint-independent filtering), as a game or WebRTC peer does")]
    public async Task UdpMappingIsEndpointIndependent()
    {
        await using var t = await TunnelTopology.CreateAsync();
        // Two "rendezvous servers" that answer with the address they saw the datagram come from.
        foreach (var server in new[] { TunnelTopology.Web1, TunnelTopology.Web2 })
        {
            _ = t.Internet.ExecAsync($"timeout 60 socat UDP4-RECVFROM:9000,bind={server},fork SYSTEM:'echo mapped=$SOCAT_PEERADDR/$SOCAT_PEERPORT'",
                TimeSpan.FromSeconds(65));
        }
        await t.WaitForListenerAsync(9000, "u");
        await t.StartTunnelAsync();

        const string ClientPort = "40000";
        var first = await t.Client.CheckAsync($"echo hello | socat -t 5 -T 5 UDP4-DATAGRAM:{TunnelTopology.Web2}:9000,bind=:{ClientPort} STDIO");
        string mapped = Regex.Match(first.Output, "mapped=([0-9.]+/[0-9]+)").Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(mapped), $"no mapping reported: '{first.All}'");

        // The same client port to another server (and waiting for whoever writes next), in the background.
        string output = Path.Combine(Path.GetTempPath(), $"wirestack-udp-{Guid.NewGuid():N}.txt");
        try
        {
            var client = t.Client.ExecAsync($"(echo hello; sleep 30) | timeout 32 socat UDP4-DATAGRAM:{TunnelTopology.Web1}:9000,bind=:{ClientPort} STDIO > {output}",
                TimeSpan.FromSeconds(40));
            string seen = await WaitForAsync(output, "mapped=");
            Assert.Contains($"mapped={mapped}", seen);

            // A third peer, at an address and port the client never sent to, writes to the mapping.
            var (address, port) = (mapped[..mapped.IndexOf('/')], mapped[(mapped.IndexOf('/') + 1)..]);
            await t.Internet.CheckAsync($"echo from-a-stranger | socat - UDP4-SENDTO:{address}:{port},bind={TunnelTopology.Gateway}:5555");
            Assert.Contains("from-a-stranger", await WaitForAsync(output, "from-a-stranger"));
            // Both ends of the pipe: socat, and what keeps its input open.
            await t.Client.StopProcessesAsync("UDP4-DATAGRAM");
            await t.Client.StopProcessesAsync("sleep 30");
            await client;
        }
        finally
        {
            File.Delete(output);
        }
    }

    /// <summary>The file's text once it contains <paramref name="text"/> (up to 20 s: other tests load the machine).</summary>
    static async Task<string> WaitForAsync(string path, string text)
    {
        string content = "";
        for (int i = 0; i < 200; i++)
        {
            content = File.Exists(path) ? await File.ReadAllTextAsync(path, TestContext.Current.CancellationToken) : "";
            if (content.Contains(text, StringComparison.Ordinal))
                break;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        return content;
    }
}
