using Wirestack.Devices;
using Wirestack.Hosting;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>How long the event loop keeps looking for traffic before it sleeps: learnt from the gaps between bursts.</summary>
public sealed class BusyPollWindowTests
{
    [Fact(DisplayName = "Busy poll: an idle stack never looks; after traffic it looks the short floor, then sleeps")]
    public void FloorAfterTraffic()
    {
        var window = new BusyPollWindow(2000);
        Assert.False(window.KeepsLooking(0));
        window.Activity(1_000);
        Assert.True(window.KeepsLooking(1_000 + BusyPollWindow.FloorMicroseconds - 1));
        Assert.False(window.KeepsLooking(1_000 + BusyPollWindow.FloorMicroseconds));
    }

    [Fact(DisplayName = "Busy poll: traffic that comes back within the ceiling (a ping every millisecond) is caught awake from its second gap on")]
    public void PeriodicTrafficIsCaught()
    {
        var window = new BusyPollWindow(2000);
        long now = 0;
        window.Activity(now);
        Assert.False(window.KeepsLooking(now + 1_000)); // the first gap is missed: the loop slept
        int caught = 0;
        for (int i = 0; i < 100; i++)
        {
            long next = now + 1_000 + (i % 3 - 1) * 50; // 950 to 1,050 µs apart
            if (window.KeepsLooking(next - 1))
                caught++;
            window.Activity(now = next);
        }
        Assert.Equal(99, caught);
        Assert.InRange(window.WindowMicroseconds, 1_000, 2_000);
    }

    [Fact(DisplayName = "Busy poll: the window never passes the ceiling, and a ceiling of zero never looks")]
    public void Ceiling()
    {
        var window = new BusyPollWindow(500);
        window.Activity(0);
        window.Activity(450);
        Assert.Equal(500, window.WindowMicroseconds);
        var never = new BusyPollWindow(0);
        never.Activity(0);
        never.Activity(1);
        Assert.False(never.KeepsLooking(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BusyPollWindow(-1));
    }

    [Fact(DisplayName = "Busy poll: sparse traffic shrinks the window back to the floor, but one late wake-up does not")]
    public void SparseTrafficShrinks()
    {
        var window = new BusyPollWindow(2000);
        long now = 0;
        window.Activity(now);
        window.Activity(now += 1_000);
        long learnt = window.WindowMicroseconds;
        // A wake-up that came late makes one gap look long: the window stays (shrinking would miss the next one too).
        window.Activity(now += 3_500);
        window.Activity(now += 1_000);
        Assert.Equal(learnt, window.WindowMicroseconds);
        // Gaps past the ceiling in a row: the traffic is sparse, and the window halves back to the floor.
        for (int i = 0; i < BusyPollWindow.LongGapsBeforeShrinking - 1; i++)
            window.Activity(now += 10_000);
        Assert.Equal(learnt, window.WindowMicroseconds);
        for (int i = 0; i < 10; i++)
            window.Activity(now += 10_000);
        Assert.Equal(BusyPollWindow.FloorMicroseconds, window.WindowMicroseconds);
    }

    [Fact(DisplayName = "Busy poll attack: frames that only pass by (broadcast chatter, a flood not for the stack) never widen the window; traffic the stack answers does")]
    public async Task OnlyAnsweredTrafficKeepsTheStackLooking()
    {
        var (a, b) = InMemoryLink.CreatePair();
        using var _ = a;
        using var __ = b;
        await using var stack = await NetworkStack.StartAsync(a, new StackOptions { Ipv4 = Ipv4Settings.Static("10.1.9.2/24"), Ipv6 = Ipv6Settings.Disabled() },
            TestContext.Current.CancellationToken);
        await stack.WaitUntilReadyAsync(TestContext.Current.CancellationToken);
        var peerMac = MacAddress.Parse("02:00:00:00:09:01");
        var peerIp = Ipv4Address.Parse("10.1.9.1");
        var chatter = Frames.Arp(ArpOperation.Request, peerMac, peerIp, MacAddress.Zero, Ipv4Address.Parse("10.1.9.77"));
        var question = Frames.Arp(ArpOperation.Request, peerMac, peerIp, MacAddress.Zero, Ipv4Address.Parse("10.1.9.2"));
        var buffer = new byte[2048];
        long widest = 0;
        for (int i = 0; i < 200; i++)
        {
            Assert.True(b.TrySend(chatter, 0));
            Thread.Sleep(1); // a millisecond apart: well within the ceiling
            widest = Math.Max(widest, stack.BusyPollWindowMicroseconds);
        }
        Assert.Equal(BusyPollWindow.FloorMicroseconds, widest);
        for (int i = 0; i < 200 && widest <= BusyPollWindow.FloorMicroseconds; i++)
        {
            Assert.True(b.TrySend(question, 0));
            Thread.Sleep(1);
            while (b.TryReceive(buffer, 0, out int _)) { }
            widest = Math.Max(widest, stack.BusyPollWindowMicroseconds);
        }
        Assert.True(widest > BusyPollWindow.FloorMicroseconds, "answered traffic a millisecond apart did not widen the window");
    }
}
