namespace Wirestack.IntegrationTests;

public sealed class PingTests
{
    [Theory(DisplayName = "RFC 792 over TAP, with and without the virtio-net header: the kernel's ping gets intact replies for 0, 56, 1472 and 8000 bytes (fragmented both ways)")]
    [InlineData(0, true)]
    [InlineData(56, true)]
    [InlineData(1472, true)]
    [InlineData(8000, true)]
    [InlineData(56, false)]
    [InlineData(8000, false)]
    public async Task KernelPingIsAnswered(int size, bool offloads)
    {
        Prerequisites.Require("ping");
        await using var tap = await TapStack.StartAsync(offloads: offloads);
        // -p fills the payload with a pattern that ping checks in every reply ("wrong data byte" otherwise).
        var result = await tap.Namespace.CheckAsync($"ping -c 3 -i 0.2 -W 2 -s {size} -p a55a0ff0 {TapStack.StackAddress}");
        Assert.Contains("3 received", result.Output);
        Assert.DoesNotContain("wrong data", result.All);
        Assert.DoesNotContain("truncated", result.All);
        if (size > 1472)
        {
            Assert.True(tap.Stack.GetCounter(StackCounter.Ipv4DatagramsReassembled) >= 3);
            Assert.True(tap.Stack.GetCounter(StackCounter.Ipv4FragmentsSent) >= 18);
        }
    }

    [Fact(DisplayName = "RFC 826 over TAP: arping from the kernel side is answered with the stack's MAC")]
    public async Task ArpingIsAnswered()
    {
        Prerequisites.Require("arping");
        await using var tap = await TapStack.StartAsync();
        var result = await tap.Namespace.CheckAsync($"arping -c 3 -w 5 -I tap0 {TapStack.StackAddress}");
        Assert.Contains("Received 3 response", result.Output);
        Assert.Contains("02:00:01:02:03:77", result.Output, StringComparison.OrdinalIgnoreCase);
    }
}
