using System.Net;
using System.Security.Cryptography;
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

    [Fact(DisplayName = "TUN with the virtio-net header: TCP both ways (32 MiB each, SHA-256 intact) crosses as 64 KiB segments with partial checksums, each way counted")]
    public async Task TcpOverTunWithOffloads()
    {
        Prerequisites.Require("socat", "sha256sum");
        var ct = TestContext.Current.CancellationToken;
        await using var ns = await TestNamespace.CreateAsync();
        using var tun = TunDevice.Open("tun0", new TunTapOptions { NetworkNamespace = ns.Name });
        tun.ConfigureHostSide(IPAddress.Parse("10.21.0.1"), 24);
        await using var stack = await NetworkStack.StartAsync(tun, new StackOptions { Ipv4 = Ipv4Settings.Static("10.21.0.2/24") }, ct);
        await stack.WaitUntilReadyAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        var data = new byte[32 << 20];
        new Random(4).NextBytes(data);
        string directory = Directory.CreateTempSubdirectory("wirestack-tun").FullName;
        try
        {
            string file = Path.Combine(directory, "data");
            await File.WriteAllBytesAsync(file, data, ct);
            await using (var listener = await stack.ListenTcpAsync(5001))
            {
                var sender = ns.ExecAsync($"socat -u FILE:{file} TCP:10.21.0.2:5001", TimeSpan.FromSeconds(60));
                await using var inbound = await listener.AcceptAsync(ct);
                var (total, received) = await TapStack.ReadToEndHashedAsync(inbound, 1 << 20, ct);
                Assert.True((await sender).ExitCode == 0);
                Assert.Equal(data.Length, total);
                Assert.Equal(SHA256.HashData(data), received);
            }
            var server = ns.ExecAsync("timeout 60 socat -u TCP-LISTEN:5002,bind=10.21.0.1,reuseaddr - | sha256sum | cut -c1-64", TimeSpan.FromSeconds(70));
            await using (var outbound = await TapStack.ConnectWhenListeningAsync(stack, new IPEndPoint(IPAddress.Parse("10.21.0.1"), 5002), ct))
            {
                await outbound.WriteAsync(data, ct);
                outbound.ShutdownSend();
                Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), (await server).Output.Trim());
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
        Assert.True(stack.GetCounter(StackCounter.GsoFramesReceived) > 100, $"{stack.GetCounter(StackCounter.GsoFramesReceived)} long segments received");
        Assert.True(stack.GetCounter(StackCounter.GsoFramesSent) > 100, $"{stack.GetCounter(StackCounter.GsoFramesSent)} long segments sent");
        Assert.Equal(0, stack.GetCounter(StackCounter.DropOffloadInvalid) + stack.GetCounter(StackCounter.DropDeviceRefused));
    }
}
