namespace Wirestack.IntegrationTests;

/// <summary>The programs in samples/, built with the solution, run as a user would run them, over TAP.</summary>
public sealed class SampleTests
{
    static string Sample(string name) => Path.Combine(Wirestack.Testing.RepositoryRoot.Path, "samples", name, "bin", "Release", "net10.0", name + ".dll");

    internal static async Task<TestNamespace> NamespaceWithTapAsync()
    {
        var ns = await TestNamespace.CreateAsync();
        await ns.CheckAsync("ip tuntap add dev tap0 mode tap && ip addr add 192.168.0.1/24 dev tap0 && ip link set tap0 up");
        return ns;
    }

    internal static ProgramProcess Run(TestNamespace ns, string sample, string arguments) =>
        ProgramProcess.StartCommand($"ip netns exec {ns.Name} dotnet {Sample(sample)} {arguments}");

    [Fact(DisplayName = "Sample Echo: UDP and TCP echo on port 7 answer nc from the host side, and SIGTERM stops it")]
    public async Task Echo()
    {
        Prerequisites.Require("nc");
        await using var ns = await NamespaceWithTapAsync();
        await using var echo = Run(ns, "Echo", "tap0 192.168.0.2/24");
        await echo.WaitForLogAsync("Echo on", TimeSpan.FromSeconds(30));
        Assert.Equal("over udp", (await ns.CheckAsync("echo 'over udp' | nc -u -w 2 192.168.0.2 7")).Output.Trim());
        Assert.Equal("over tcp", (await ns.CheckAsync("echo 'over tcp' | nc -N -w 5 192.168.0.2 7")).Output.Trim());
        Assert.Equal(0, await echo.StopAsync());
        await echo.WaitForLogAsync("Stopped", TimeSpan.FromSeconds(5));
    }

    [Fact(DisplayName = "Sample MinimalApiHttps: the generic host runs the stack as a hosted service, Kestrel answers over HTTP and HTTPS, and SIGTERM stops it cleanly")]
    public async Task MinimalApiHttps()
    {
        Prerequisites.Require("curl");
        await using var ns = await NamespaceWithTapAsync();
        await using var app = Run(ns, "MinimalApiHttps", "--Wirestack:Interface=tap0 --Wirestack:Address=192.168.0.2/24");
        await app.WaitForLogAsync("Application started", TimeSpan.FromSeconds(30));
        Assert.Equal("Hello, https, from Wirestack", (await ns.CheckAsync("curl -s -f -k -m 10 https://192.168.0.2/hello/https")).Output.Trim());
        Assert.Contains("\"state\":\"Ready\"", (await ns.CheckAsync("curl -s -f -m 10 http://192.168.0.2/stack")).Output);
        Assert.Equal(0, await app.StopAsync());
        await app.WaitForLogAsync("Application is shutting down", TimeSpan.FromSeconds(5));
        Assert.DoesNotContain(app.Log, line => line.Contains("fail:", StringComparison.Ordinal) || line.Contains("Unhandled", StringComparison.Ordinal));
    }

    [Fact(DisplayName = "Sample HttpClientFetch: an HttpClient fetches a page from a server on the host side through the stack")]
    public async Task HttpClientFetch()
    {
        Prerequisites.Require("busybox");
        await using var ns = await NamespaceWithTapAsync();
        string site = Directory.CreateTempSubdirectory("wirestack-site").FullName;
        try
        {
            string page = "fetched through Wirestack " + Guid.NewGuid();
            await File.WriteAllTextAsync(Path.Combine(site, "index.html"), page, TestContext.Current.CancellationToken);
            await using var server = ProgramProcess.StartCommand($"ip netns exec {ns.Name} busybox httpd -f -p 192.168.0.1:8080 -h {site}");
            // Wait until httpd listens (a fixed delay lost the race on a loaded CI machine).
            await ns.CheckAsync("for i in $(seq 200); do ss -ltn | grep -q '192.168.0.1:8080 ' && exit 0; sleep 0.05; done; exit 1");
            var fetch = await ns.ExecAsync($"dotnet {Sample("HttpClientFetch")} tap0 192.168.0.2/24 192.168.0.1 http://192.168.0.1:8080/index.html", TimeSpan.FromSeconds(60));
            Assert.True(fetch.ExitCode == 0, fetch.All);
            Assert.Equal(page, fetch.Output.TrimEnd('\n'));
        }
        finally
        {
            Directory.Delete(site, recursive: true);
        }
    }

    [Fact(DisplayName = "Issue 23, sample FlowPolicy: a namespace's flows through a .NET policy on the forwarding API: an allowed web server answers and its flow is counted in bytes each way, a denied one is administratively prohibited at the client, UDP to an allowed address is carried")]
    public async Task FlowPolicy()
    {
        await using var t = await TunnelTopology.CreateAsync();
        await using var policy = ProgramProcess.StartCommand($"ip netns exec {t.Client.Name} dotnet {Sample("FlowPolicy")} tun0 0x77 {TunnelTopology.Web2}/32");
        await policy.WaitForLogAsync("Routing tun0 through the policy", TimeSpan.FromSeconds(30));
        await t.Client.CheckAsync("ip route add default dev tun0");
        await t.WaitForListenerAsync(80);
        await t.WaitForListenerAsync(7, "u");

        Assert.Equal(TunnelTopology.Body, (await t.Client.CheckAsync($"curl -sS -m 10 http://{TunnelTopology.Web1}/")).Output.Trim());
        await policy.WaitForLogAsync($"-> {TunnelTopology.Web1}:80 allowed", TimeSpan.FromSeconds(10));
        var counted = policy.Log.Single(line => line.Contains($"-> {TunnelTopology.Web1}:80 allowed", StringComparison.Ordinal));
        var bytes = System.Text.RegularExpressions.Regex.Match(counted, "([0-9]+) bytes up, ([0-9]+) bytes down");
        Assert.True(bytes.Success && long.Parse(bytes.Groups[1].Value) > 50 && long.Parse(bytes.Groups[2].Value) > TunnelTopology.Body.Length, counted);

        var denied = await t.Client.ExecAsync($"curl -sS -m 10 http://{TunnelTopology.Web2}/");
        Assert.Equal(7, denied.ExitCode); // "couldn't connect": the ICMP prohibited, at once rather than a timeout
        await policy.WaitForLogAsync($"-> {TunnelTopology.Web2}:80 denied", TimeSpan.FromSeconds(10));

        var echo = await t.Client.ExecAsync($"echo through-policy | socat -t 3 - UDP4:{TunnelTopology.Web1}:7", TimeSpan.FromSeconds(10));
        Assert.Equal("through-policy", echo.Output.Trim());
        Assert.Equal(0, await policy.StopAsync());
        await policy.WaitForLogAsync("Stopped", TimeSpan.FromSeconds(10));
    }

    [Fact(DisplayName = "Sample ManyDevices: eight stacks in one process, one TAP each on a bridge, each answers ping and its own TCP greeting")]
    public async Task ManyDevices()
    {
        Prerequisites.Require("ping", "nc");
        const int Count = 8;
        await using var ns = await TestNamespace.CreateAsync();
        await ns.CheckAsync("ip link add br0 type bridge && ip addr add 10.10.0.1/24 dev br0 && ip link set br0 up");
        for (int i = 0; i < Count; i++)
            await ns.CheckAsync($"ip tuntap add dev ws{i} mode tap && ip link set ws{i} master br0 up");
        await using var devices = Run(ns, "ManyDevices", $"{Count} 10.10.0.");
        await devices.WaitForLogAsync($"{Count} stacks ready", TimeSpan.FromSeconds(60));
        for (int i = 0; i < Count; i++)
        {
            await ns.CheckAsync($"ping -c 1 -W 5 10.10.0.{10 + i}");
            Assert.Equal($"device {i}", (await ns.CheckAsync($"nc -w 5 10.10.0.{10 + i} 7 < /dev/null")).Output.Trim());
        }
        Assert.Equal(0, await devices.StopAsync());
        await devices.WaitForLogAsync("Stopped", TimeSpan.FromSeconds(5));
    }
}
