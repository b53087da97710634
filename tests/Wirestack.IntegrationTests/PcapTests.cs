using Wirestack.Devices;

namespace Wirestack.IntegrationTests;

public sealed class PcapTests
{
    [Fact(DisplayName = "The pcap decorator writes a capture tshark reads, with the ARP and ICMP exchange in it, owner-only (0600), replacing a planted link rather than following it")]
    public async Task TsharkReadsCapture()
    {
        Prerequisites.Require("ping", "tshark");
        string path = Path.Combine(Path.GetTempPath(), $"wirestack-{Guid.NewGuid():N}.pcap");
        string victim = path + ".victim";
        await File.WriteAllTextAsync(victim, "keep me", TestContext.Current.CancellationToken);
        File.CreateSymbolicLink(path, victim);
        try
        {
            await using (var tap = await TapStack.StartAsync(device => new PcapDevice(device, path)))
            {
                await tap.Namespace.CheckAsync($"ping -c 2 -i 0.2 -s 3000 {TapStack.StackAddress}");
            }
            var result = await ProcessRunner.RunAsync("tshark", ["-r", path], TimeSpan.FromSeconds(60));
            Assert.True(result.ExitCode == 0, result.All);
            Assert.Contains("ARP", result.Output);
            Assert.Contains("Echo (ping) request", result.Output);
            Assert.Contains("Echo (ping) reply", result.Output);
            Assert.Contains("Fragmented IP protocol", result.Output);
            if (OperatingSystem.IsLinux())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Equal("keep me", await File.ReadAllTextAsync(victim, TestContext.Current.CancellationToken));
        }
        finally
        {
            File.Delete(path);
            File.Delete(victim);
        }
    }

    [Fact(DisplayName = "Device capabilities over TAP: a pcap-wrapped TAP keeps its offloads both ways (64 KiB segments counted in and out, 16 MiB each way intact) and the capture holds them as they crossed")]
    public async Task WrappedTapKeepsOffloads()
    {
        Prerequisites.Require("socat", "sha256sum");
        string path = Path.Combine(Path.GetTempPath(), $"wirestack-{Guid.NewGuid():N}.pcap");
        try
        {
            var data = new byte[16 << 20];
            new Random(11).NextBytes(data);
            string file = Path.Combine(Path.GetTempPath(), $"wirestack-{Guid.NewGuid():N}.data");
            await File.WriteAllBytesAsync(file, data, TestContext.Current.CancellationToken);
            string expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data));
            try
            {
                await using (var tap = await TapStack.StartAsync(device => new PcapDevice(device, path)))
                {
                    // In: the kernel sends to a Wirestack server.
                    await using (var listener = await tap.Stack.ListenTcpAsync(5011))
                    {
                        var client = tap.Namespace.ExecAsync($"socat -u FILE:{file} TCP:{TapStack.StackAddress}:5011", TimeSpan.FromMinutes(1));
                        await using var connection = await listener.AcceptAsync(TestContext.Current.CancellationToken);
                        var (total, received) = await TapStack.ReadToEndHashedAsync(connection, 1 << 20, TestContext.Current.CancellationToken);
                        Assert.True((await client).ExitCode == 0);
                        Assert.Equal(data.Length, total);
                        Assert.Equal(expected, Convert.ToHexStringLower(received));
                    }
                    // Out: a Wirestack client sends to the kernel.
                    var server = tap.Namespace.ExecAsync($"timeout 50 socat -u TCP-LISTEN:5012,bind={TapStack.KernelAddress},reuseaddr - | sha256sum | cut -c1-64",
                        TimeSpan.FromMinutes(1));
                    await using (var connection = await tap.ConnectWhenListeningAsync(5012, TestContext.Current.CancellationToken))
                    {
                        await connection.WriteAsync(data, TestContext.Current.CancellationToken);
                        connection.ShutdownSend();
                        var result = await server;
                        Assert.True(result.ExitCode == 0, result.All);
                        Assert.Equal(expected, result.Output.Trim());
                    }
                    long superFramesIn = tap.Stack.GetCounter(StackCounter.GsoFramesReceived);
                    long superFramesOut = tap.Stack.GetCounter(StackCounter.GsoFramesSent);
                    Assert.True(superFramesIn > 10, $"{superFramesIn} super-frames received");
                    Assert.True(superFramesOut > 10, $"{superFramesOut} long segments sent");
                }
                var capture = await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken);
                int longRecords = 0;
                for (int at = 24; at + 16 <= capture.Length;)
                {
                    int captured = BitConverter.ToInt32(capture, at + 8);
                    if (BitConverter.ToInt32(capture, at + 12) > 1514)
                        longRecords++;
                    at += 16 + captured;
                }
                Assert.True(longRecords > 20, $"{longRecords} records longer than an Ethernet frame");
            }
            finally
            {
                File.Delete(file);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
