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
}
