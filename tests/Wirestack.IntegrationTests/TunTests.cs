using Wirestack.Devices;

namespace Wirestack.IntegrationTests;

public sealed class TunTests
{
    [Fact(DisplayName = "TUN: bare IP packets, no ARP: the kernel's ping (fragmented too) is answered")]
    public async Task PingOverTun()
    {
        Prerequisites.Require("ping");
        await using var ns = await TestNamespace.CreateAsync();
        using var tun = TunDevice.Open("tun0", new TunTapOptions { NetworkNamespace = ns.Name });
        tun.ConfigureHostSide(System.Net.IPAddress.Parse("10.20.0.1"), 24);
        await using var stack = await NetworkStack.StartAsync(tun, new StackOptions { Ipv4 = Ipv4Settings.Static("10.20.0.2/24") }, TestContext.Current.CancellationToken);
        await stack.WaitUntilReadyAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        var small = await ns.CheckAsync("ping -c 2 -i 0.2 -W 2 10.20.0.2");
        Assert.Contains("2 received", small.Output);
        var large = await ns.CheckAsync("ping -c 2 -i 0.2 -W 2 -s 4000 -p 5a 10.20.0.2");
        Assert.Contains("2 received", large.Output);
        Assert.Equal(0, stack.GetCounter(StackCounter.ArpRequestsSent));
    }
}
