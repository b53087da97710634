namespace Wirestack.IntegrationTests;

/// <summary>
/// wirestack-tunnel between two namespaces this test creates: a client whose default routes (both families) go into
/// the tunnel's TUN, and an "internet" behind a veth pair with servers at several addresses of its own. The tunnel's
/// own sockets carry firewall mark 0x77, which a policy-routing rule sends out of the veth (the README's recipe).
/// </summary>
internal sealed class TunnelTopology : IAsyncDisposable
{
    public const string Web1 = "203.0.113.10", Web2 = "203.0.113.11", Web6 = "2001:db8:5::10";
    public const string Unreachable = "203.0.113.99", Gateway = "10.99.0.1";

    readonly string _www;

    TunnelTopology(TestNamespace client, TestNamespace internet, string www) => (Client, Internet, _www) = (client, internet, www);

    public TestNamespace Client { get; }
    public TestNamespace Internet { get; }
    public ProgramProcess? Tunnel { get; private set; }

    /// <summary>The body every web server of the internet answers with.</summary>
    public const string Body = "hello from the internet";

    public static async Task<TunnelTopology> CreateAsync()
    {
        Prerequisites.Require("ip", "busybox", "socat", "curl", "ping");
        var client = await TestNamespace.CreateAsync();
        var internet = await TestNamespace.CreateAsync();
        string www = Directory.CreateTempSubdirectory("wirestack-tunnel-www").FullName;
        var topology = new TunnelTopology(client, internet, www);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(www, "index.html"), Body);
            await client.CheckAsync($"ip link add c0 type veth peer name i0 netns {internet.Name}");
            await client.CheckAsync("ip addr add 10.99.0.2/24 dev c0 && ip addr add fd99::2/64 dev c0 nodad && ip link set c0 up");
            await internet.CheckAsync($"ip addr add {Gateway}/24 dev i0 && ip addr add fd99::1/64 dev i0 nodad && ip link set i0 up");
            // A router, not a host: a packet it has no route for is answered with ICMP "net unreachable".
            await internet.CheckAsync("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1");
            await internet.CheckAsync($"ip addr add {Web1}/32 dev lo && ip addr add {Web2}/32 dev lo && ip addr add {Web6}/128 dev lo");
            await client.CheckAsync("ip rule add fwmark 0x77 lookup 100 && ip route add default via 10.99.0.1 dev c0 table 100"
                + " && ip -6 rule add fwmark 0x77 lookup 100 && ip -6 route add default via fd99::1 dev c0 table 100");
            foreach (var address in new[] { Web1, Web2, $"[{Web6}]" })
            {
                _ = internet.ExecAsync($"timeout 120 busybox httpd -f -p {address}:80 -h {www}", TimeSpan.FromSeconds(125));
                string family = address.StartsWith('[') ? "UDP6" : "UDP4";
                _ = internet.ExecAsync($"timeout 120 socat {family}-RECVFROM:7,bind={address},fork EXEC:cat", TimeSpan.FromSeconds(125));
            }
            return topology;
        }
        catch
        {
            await topology.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the tunnel in the client namespace and routes the client's traffic (both families) into it.</summary>
    public async Task StartTunnelAsync(params string[] arguments)
    {
        string[] verbosity = arguments.Contains("--verbosity") ? [] : ["--verbosity", "3"];
        Tunnel = ProgramProcess.StartTunnel(Client, ["--device", "tun0", "--host-address", "198.18.0.1/15", "--host-address6", "fdfe:dcba:9876::1/64",
            "--mark", "0x77", .. verbosity, .. arguments]);
        await Tunnel.WaitForLogAsync("forwarding every flow", TimeSpan.FromSeconds(30));
        await Client.CheckAsync("ip route add default dev tun0 && ip -6 route add default dev tun0");
    }

    /// <summary>Waits until something listens on <paramref name="port"/> in the internet (a server started in the background).</summary>
    public async Task WaitForListenerAsync(int port, string protocol = "t")
    {
        for (int i = 0; i < 100; i++)
        {
            if ((await Internet.ExecAsync($"ss -H -ln{protocol} 'sport = :{port}'")).Output.Trim().Length > 0)
                return;
            await Task.Delay(50);
        }
        Assert.Fail($"nothing listens on port {port} in the internet namespace");
    }

    public async ValueTask DisposeAsync()
    {
        if (Tunnel is not null)
            await Tunnel.DisposeAsync();
        await Client.DisposeAsync();
        await Internet.DisposeAsync();
        Directory.Delete(_www, recursive: true);
    }
}
