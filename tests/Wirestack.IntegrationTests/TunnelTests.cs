using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Wirestack.IntegrationTests;

public sealed class TunnelTests
{
    const string DanteConfig = """
        logoutput: stderr
        internal: 10.99.0.1 port = 1081
        external: i0
        clientmethod: none
        socksmethod: none
        user.privileged: root
        user.unprivileged: nobody
        client pass { from: 0/0 to: 0/0 }
        socks pass { from: 0/0 to: 0/0 command: connect udpassociate udpreply }
        """;

    static async Task AssertWebAsync(TunnelTopology t, params string[] urls)
    {
        foreach (var url in urls)
            Assert.Equal(TunnelTopology.Body, (await t.Client.CheckAsync($"curl -sS -m 10 {url}")).Output.Trim());
    }

    static async Task AssertUdpEchoAsync(TunnelTopology t, string socatAddress, string text)
    {
        var result = await t.Client.ExecAsync($"echo {text} | socat -t 3 - {socatAddress}", TimeSpan.FromSeconds(10));
        Assert.True(result.Output.Trim() == text, $"UDP echo through the tunnel to {socatAddress}: '{result.All}'");
    }

    /// <summary>Scrapes the tunnel's /metrics (in the client namespace) until <paramref name="pattern"/> matches, for up to 5 s.</summary>
    static async Task MetricsMatchAsync(TunnelTopology t, string pattern)
    {
        string metrics = "";
        for (int i = 0; i < 50; i++)
        {
            metrics = (await t.Client.CheckAsync("curl -sS -m 10 http://127.0.0.1:9100/metrics")).Output;
            if (System.Text.RegularExpressions.Regex.IsMatch(metrics, pattern))
                return;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        Assert.Matches(pattern, metrics);
    }

    /// <summary>curl's exit code and how long it took to fail.</summary>
    static async Task<(int ExitCode, TimeSpan Elapsed, string Error)> FailingConnectAsync(TunnelTopology t, string url)
    {
        var clock = Stopwatch.StartNew();
        var result = await t.Client.ExecAsync($"curl -sS -m 20 {url}", TimeSpan.FromSeconds(30));
        return (result.ExitCode, clock.Elapsed, result.Error);
    }

    [Fact(DisplayName = "Issue 23, wirestack-tunnel direct: a client routed into the TUN reaches web servers at several addresses over IPv4 and IPv6, UDP echo both families, and ping gets the destinations' own replies and errors; started as root it runs as nobody with capabilities on its socket thread only")]
    public async Task DirectCarriesEveryFlow()
    {
        await using var t = await TunnelTopology.CreateAsync();
        await t.StartTunnelAsync("--metrics", "127.0.0.1:9100");
        await t.WaitForListenerAsync(80);
        await t.WaitForListenerAsync(7, "u");
        await AssertWebAsync(t, $"http://{TunnelTopology.Web1}/", $"http://{TunnelTopology.Web2}/", $"http://[{TunnelTopology.Web6}]/");
        await AssertUdpEchoAsync(t, $"UDP4:{TunnelTopology.Web1}:7", "udp-over-ipv4");
        await AssertUdpEchoAsync(t, $"UDP6:[{TunnelTopology.Web6}]:7", "udp-over-ipv6");
        Assert.Contains("3 received", (await t.Client.CheckAsync($"ping -c 3 -i 0.2 -W 2 {TunnelTopology.Web2}")).Output);
        Assert.Contains("2 received", (await t.Client.CheckAsync($"ping -6 -c 2 -i 0.2 -W 2 {TunnelTopology.Web6}")).Output);
        // The internet has no route to this address: its router's "net unreachable" reaches the client as such.
        var unreachable = await t.Client.ExecAsync($"ping -c 1 -W 3 {TunnelTopology.Unreachable}");
        Assert.Contains("Unreachable", unreachable.Output);

        // The flows, bytes and the stack's own counters, scraped in the client's namespace.
        var metrics = (await t.Client.CheckAsync("curl -sS -m 10 http://127.0.0.1:9100/metrics")).Output;
        Assert.Matches("wirestack_tunnel_flows_total\\{[^}]*network_transport=\"tcp\"[^}]*\\} [3-9]", metrics);
        Assert.Matches("wirestack_tunnel_io_bytes_total\\{[^}]*network_transport=\"udp\"", metrics);
        Assert.Contains("wirestack_forward_requests_total", metrics);
        AssertLeastPrivilege(t.Tunnel!.Id);
    }

    /// <summary>
    /// Started as root with --mark and ping: the process is nobody, and of its threads only the one that makes
    /// sockets holds anything, CAP_NET_ADMIN and CAP_NET_RAW (bits 12 and 13), in no set it could pass on.
    /// </summary>
    static void AssertLeastPrivilege(int pid)
    {
        var threads = Directory.GetDirectories($"/proc/{pid}/task").Select(task => File.ReadAllLines(Path.Combine(task, "status"))
            .Select(l => l.Split(':', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1].Trim())).ToList();
        Assert.All(threads, status => Assert.All(status["Uid"].Split('\t'), id => Assert.Equal("65534", id)));
        Assert.All(threads, status => Assert.Equal("0000000000000000", status["CapInh"]));
        Assert.All(threads, status => Assert.Equal("0000000000000000", status["CapAmb"]));
        var holding = Assert.Single(threads, status => status["CapEff"] != "0000000000000000");
        Assert.Equal("0000000000003000", holding["CapEff"]);
        Assert.Equal("0000000000003000", holding["CapPrm"]);
        Assert.All(threads.Where(status => status != holding), status => Assert.Equal("0000000000000000", status["CapPrm"]));
    }

    [Fact(DisplayName = "Issue 23, wirestack-tunnel: a refused upstream is 'connection refused' at the client at once (RST), an unreachable one an ICMP error well before any timeout, and an excluded prefix is administratively prohibited")]
    public async Task FailuresReachTheClientAsTheDestinationAnswered()
    {
        await using var t = await TunnelTopology.CreateAsync();
        await t.StartTunnelAsync("--exclude", "203.0.113.11/32");
        await t.WaitForListenerAsync(80);
        var refused = await FailingConnectAsync(t, $"http://{TunnelTopology.Web1}:81/");
        Assert.Equal(7, refused.ExitCode);
        Assert.True(refused.Elapsed < TimeSpan.FromSeconds(2), $"refused after {refused.Elapsed}: {refused.Error}");
        var unreachable = await FailingConnectAsync(t, $"http://{TunnelTopology.Unreachable}/");
        Assert.Equal(7, unreachable.ExitCode);
        Assert.True(unreachable.Elapsed < TimeSpan.FromSeconds(5), $"unreachable after {unreachable.Elapsed}: {unreachable.Error}");
        var excluded = await FailingConnectAsync(t, $"http://{TunnelTopology.Web2}/");
        Assert.Equal(7, excluded.ExitCode);
        Assert.True(excluded.Elapsed < TimeSpan.FromSeconds(2), $"excluded after {excluded.Elapsed}: {excluded.Error}");
        // ICMP code 13, which iputils' ping calls "Packet filtered".
        Assert.Contains("Packet filtered", (await t.Client.ExecAsync($"ping -c 1 -W 2 {TunnelTopology.Web2}")).Output);
        await AssertWebAsync(t, $"http://{TunnelTopology.Web1}/");
    }

    [Fact(DisplayName = "Issue 23, wirestack-tunnel through SOCKS5 with RFC 1929 username and password (microsocks): both families, a refused port is refused (RFC 1928 reply 5), and a proxy killed mid-transfer resets the flow while the tunnel serves new ones once it is back")]
    public async Task Socks5CarriesTcpAndSurvivesTheProxy()
    {
        Prerequisites.Require("microsocks");
        await using var t = await TunnelTopology.CreateAsync();
        const string Proxy = "microsocks -i 10.99.0.1 -p 1080 -u tunnel -P secret";
        _ = t.Internet.ExecAsync($"timeout 60 {Proxy}", TimeSpan.FromSeconds(65));
        _ = t.Internet.ExecAsync($"timeout 60 socat TCP4-LISTEN:9000,bind={TunnelTopology.Web1},reuseaddr,fork SYSTEM:'cat /dev/zero'", TimeSpan.FromSeconds(65));
        await t.WaitForListenerAsync(1080);
        await t.WaitForListenerAsync(9000);
        await t.StartTunnelAsync("--proxy", "socks5://tunnel:secret@10.99.0.1:1080");
        await t.WaitForListenerAsync(80);
        await AssertWebAsync(t, $"http://{TunnelTopology.Web1}/", $"http://[{TunnelTopology.Web6}]/");
        var refused = await FailingConnectAsync(t, $"http://{TunnelTopology.Web1}:81/");
        Assert.Equal(7, refused.ExitCode);

        var transfer = t.Client.ExecAsync($"timeout 20 socat -u TCP4:{TunnelTopology.Web1}:9000 /dev/null; echo exit=$?", TimeSpan.FromSeconds(25));
        await Task.Delay(1000, TestContext.Current.CancellationToken);
        await t.Internet.StopProcessesAsync("microsocks");
        var clock = Stopwatch.StartNew();
        var ended = await transfer;
        Assert.DoesNotContain("exit=124", ended.Output);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the transfer outlived its proxy by {clock.Elapsed}: {ended.All}");

        _ = t.Internet.ExecAsync($"timeout 30 {Proxy}", TimeSpan.FromSeconds(35));
        await t.WaitForListenerAsync(1080);
        await AssertWebAsync(t, $"http://{TunnelTopology.Web2}/");
    }

    [Fact(DisplayName = "Issue 23, wirestack-tunnel through SOCKS5 UDP ASSOCIATE (RFC 1928 7, dante): UDP echo over IPv4 and IPv6 crosses the proxy's relay both ways, beside TCP")]
    public async Task Socks5CarriesUdp()
    {
        Prerequisites.Require("danted");
        await using var t = await TunnelTopology.CreateAsync();
        string config = Path.Combine(Path.GetTempPath(), $"wirestack-danted-{Guid.NewGuid():N}.conf");
        await File.WriteAllTextAsync(config, DanteConfig, TestContext.Current.CancellationToken);
        try
        {
            _ = t.Internet.ExecAsync($"timeout 60 danted -f {config}", TimeSpan.FromSeconds(65));
            await t.WaitForListenerAsync(1081);
            await t.StartTunnelAsync("--proxy", "socks5://10.99.0.1:1081");
            await t.WaitForListenerAsync(7, "u");
            await AssertUdpEchoAsync(t, $"UDP4:{TunnelTopology.Web1}:7", "udp-through-socks");
            await AssertUdpEchoAsync(t, $"UDP6:[{TunnelTopology.Web6}]:7", "udp6-through-socks");
            await AssertWebAsync(t, $"http://{TunnelTopology.Web2}/");
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact(DisplayName = "Issue 23, wirestack-tunnel through an HTTP CONNECT proxy (RFC 9110 9.3.6, tinyproxy): TCP both families; a refused port is refused; UDP, which it cannot carry, costs one failed session per client port, not an attempt per datagram")]
    public async Task HttpConnectCarriesTcp()
    {
        Prerequisites.Require("tinyproxy");
        await using var t = await TunnelTopology.CreateAsync();
        string config = Path.Combine(Path.GetTempPath(), $"wirestack-tinyproxy-{Guid.NewGuid():N}.conf");
        await File.WriteAllTextAsync(config, "Port 8888\nListen 10.99.0.1\nTimeout 30\nAllow 10.99.0.0/24\nConnectPort 80\nConnectPort 81\nMaxClients 20\n",
            TestContext.Current.CancellationToken);
        try
        {
            _ = t.Internet.ExecAsync($"timeout 60 tinyproxy -d -c {config}", TimeSpan.FromSeconds(65));
            await t.WaitForListenerAsync(8888);
            await t.StartTunnelAsync("--proxy", "http://10.99.0.1:8888", "--metrics", "127.0.0.1:9100");
            await t.WaitForListenerAsync(80);
            await AssertWebAsync(t, $"http://{TunnelTopology.Web1}/", $"http://[{TunnelTopology.Web6}]/");
            var refused = await FailingConnectAsync(t, $"http://{TunnelTopology.Web1}:81/");
            Assert.Equal(7, refused.ExitCode);

            // An HTTP proxy carries no UDP: one client port's datagrams (all five, the first too) are one failed
            // session that drops them, not a new attempt each.
            await t.Client.ExecAsync($"for i in 1 2 3 4 5; do echo x; sleep 0.1; done | socat -u - UDP4:{TunnelTopology.Web1}:7,sourceport=40777", TimeSpan.FromSeconds(10));
            await MetricsMatchAsync(t, "wirestack_tunnel_dropped_total\\{[^}]*network_transport=\"udp\"[^}]*\\} 5\\b");
            await MetricsMatchAsync(t, "wirestack_tunnel_failures_total\\{[^}]*network_transport=\"udp\"[^}]*\\} 1\\b");
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact(DisplayName = "wirestack-tunnel: wrong arguments are one clear line and exit code 2, a proxy without a port is named, and no TUN permission is a clear error")]
    public async Task BadArgumentsAreClear()
    {
        await using var ns = await TestNamespace.CreateAsync();
        foreach (var (arguments, expected) in new[]
        {
            ("--proxy socks5://10.0.0.1", "--proxy"),
            ("--proxy ftp://10.0.0.1:21", "--proxy"),
            ("--include 10.0.0.1/8", "--include"),
            ("--mark zero", "--mark"),
            ("--device a/b", "--device"),
        })
        {
            var result = await ns.ExecAsync($"dotnet {Path.Combine(AppContext.BaseDirectory, "wirestack-tunnel.dll")} {arguments}");
            Assert.Equal(2, result.ExitCode);
            Assert.StartsWith($"wirestack-tunnel: {expected}", result.Error.Trim());
        }
        Prerequisites.Require("setpriv");
        var unprivileged = await ns.ExecAsync(
            $"HOME=/tmp DOTNET_CLI_HOME=/tmp setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all dotnet {Path.Combine(AppContext.BaseDirectory, "wirestack-tunnel.dll")} --device tun7",
            TimeSpan.FromSeconds(60));
        Assert.Equal(1, unprivileged.ExitCode);
        Assert.Contains("CAP_NET_ADMIN", unprivileged.All);
        var noSuchInterface = await ns.ExecAsync($"dotnet {Path.Combine(AppContext.BaseDirectory, "wirestack-tunnel.dll")} --device tun7 --interface nosuch0",
            TimeSpan.FromSeconds(60));
        Assert.Equal(1, noSuchInterface.ExitCode);
        Assert.Contains("--interface", noSuchInterface.All);
    }

    [Fact(DisplayName = "Issue 23, wirestack-tunnel under a SYN flood to random destinations (hping3, 20,000 SYNs, bounded): waiting handshakes stay within their bounds, the tunnel keeps serving, and a real client's flows complete during and after it")]
    public async Task SynFloodToRandomDestinations()
    {
        Prerequisites.Require("hping3");
        await using var t = await TunnelTopology.CreateAsync();
        await t.StartTunnelAsync("--verbosity", "2", "--metrics", "127.0.0.1:9100");
        await t.WaitForListenerAsync(80);
        // 10.77.0.0/16 exists nowhere: each flow's upstream attempt ends in the internet router's "net unreachable".
        var flood = t.Client.ExecAsync("timeout 20 hping3 -q -S -p 80 --rand-dest 10.77.x.x -I tun0 -i u50 -c 20000 2>&1; true", TimeSpan.FromSeconds(25));
        for (int i = 0; i < 3; i++)
        {
            await AssertWebAsync(t, $"http://{TunnelTopology.Web1}/");
            await Task.Delay(300, TestContext.Current.CancellationToken);
        }
        await flood;
        await AssertWebAsync(t, $"http://{TunnelTopology.Web2}/", $"http://[{TunnelTopology.Web6}]/");
        var metrics = (await t.Client.CheckAsync("curl -sS -m 10 http://127.0.0.1:9100/metrics")).Output;
        var offered = System.Text.RegularExpressions.Regex.Match(metrics, "wirestack_forward_requests_total\\{[^}]*network_transport=\"tcp\"[^}]*wirestack_forward_retry=\"false\"[^}]*\\} (\\d+)");
        Assert.True(offered.Success, metrics);
        Assert.True(long.Parse(offered.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 1000, $"flows offered: {offered.Value}");
    }

    [Fact(DisplayName = "Issue 23, wirestack-tunnel at scale: 10,000 concurrent forwarded TCP flows open and stay open, a sample carries a byte each way; the tunnel's memory per idle flow is reported and bounded")]
    public async Task TenThousandConcurrentFlows()
    {
        const int Flows = 10_000, Warmup = 256;
        var ct = TestContext.Current.CancellationToken;
        await using var t = await TunnelTopology.CreateAsync();
        // The server's side of each flow waits in the listener's accept queue, complete but never accepted: the
        // kernel holds it, so this process needs descriptors for the clients only.
        await t.Internet.CheckAsync($"sysctl -qw net.core.somaxconn={2 * Flows}");
        var server = new IPEndPoint(IPAddress.Parse(TunnelTopology.Web1), 9300);
        using var listener = KernelSockets.Listen(t.Internet, server, backlog: 2 * Flows);
        await t.StartTunnelAsync("--verbosity", "2");
        var clients = new List<Socket>();
        try
        {
            // A first batch, so that what is measured is the flows, not the first ones' code and pools.
            await ConnectAsync(t, server, clients, Warmup, ct);
            await Task.Delay(1000, ct);
            long before = ResidentBytes(t.Tunnel!.Id);
            await ConnectAsync(t, server, clients, Flows - Warmup, ct);
            await Task.Delay(2000, ct);
            long after = ResidentBytes(t.Tunnel.Id);
            double perFlow = (after - before) / (double)(Flows - Warmup);
            string report = $"wirestack-tunnel: {Flows} idle forwarded flows, resident {before / 1048576.0:F1} -> {after / 1048576.0:F1} MiB, {perFlow / 1024:F1} KiB per flow";
            TestContext.Current.TestOutputHelper?.WriteLine(report);
            Assert.True(perFlow < 16 * 1024, report);
            Assert.True(ProcessIsAlive(t.Tunnel.Id));

            // The first batch connected before any other flow began, so it is the head of the accept queue: each of
            // those flows carries a byte up and one back.
            var firstBatch = clients.Take(Warmup).ToList();
            foreach (var client in firstBatch)
                await client.SendAsync(new byte[] { 42 }, ct);
            using var sample = CancellationTokenSource.CreateLinkedTokenSource(ct);
            sample.CancelAfter(TimeSpan.FromSeconds(30));
            for (int i = 0; i < Warmup; i++)
            {
                using var connection = await listener.AcceptAsync(sample.Token);
                var one = new byte[1];
                Assert.Equal(1, await connection.ReceiveAsync(one, sample.Token));
                Assert.Equal(42, one[0]);
                await connection.SendAsync(one, sample.Token);
            }
            foreach (var client in firstBatch)
            {
                var one = new byte[1];
                Assert.Equal(1, await client.ReceiveAsync(one, sample.Token));
            }
        }
        finally
        {
            foreach (var client in clients)
                client.Dispose();
        }
    }

    static bool ProcessIsAlive(int pid) => Directory.Exists($"/proc/{pid}");

    /// <summary>Connects <paramref name="count"/> kernel clients in the client namespace through the tunnel, 256 at a time.</summary>
    static async Task ConnectAsync(TunnelTopology t, IPEndPoint server, List<Socket> clients, int count, CancellationToken ct)
    {
        for (int done = 0; done < count; done += 256)
        {
            var batch = Enumerable.Range(0, Math.Min(256, count - done)).Select(_ => KernelSockets.NewStreamSocket(t.Client)).ToList();
            clients.AddRange(batch);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            await Task.WhenAll(batch.Select(socket => socket.ConnectAsync(server, timeout.Token).AsTask()));
        }
    }

    static long ResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }
}
