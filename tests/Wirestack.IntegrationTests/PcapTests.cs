using Wirestack.Devices;

namespace Wirestack.IntegrationTests;

public sealed class PcapTests
{
    [Fact(DisplayName = "The pcap decorator writes a capture tshark reads, with the ARP and ICMP exchange in it")]
    public async Task TsharkReadsCapture()
    {
        Prerequisites.Require("ping", "tshark");
        string path = Path.Combine(Path.GetTempPath(), $"wirestack-{Guid.NewGuid():N}.pcap");
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
        }
        finally
        {
            File.Delete(path);
        }
    }
}
