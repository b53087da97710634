using System.Net;
using Wirestack.Wire;

namespace Wirestack.Tests;

public sealed class SntpTests
{
    static readonly IPEndPoint Server = new(IPAddress.Parse("10.0.0.1"), 123);

    [Fact(DisplayName = "SNTP without a server, learned or given, and without a DNS server says what is missing instead of the resolver's 'try again'")]
    public async Task SaysWhatIsMissing()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = await StackPair.StartAsync("10.1.77", ct);
        await using var clock = new SntpClient(pair.Left);
        var failure = await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(() => clock.SynchronizeAsync(ct));
        Assert.Contains("no DNS server to resolve time.google.com", failure.Message);
    }

    [Fact(DisplayName = "RFC 5905 6: timestamps round-trip to the tick's precision")]
    public void TimestampRoundTrip()
    {
        var time = new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero).AddTicks(1234567);
        var stamp = NtpTimestamp.FromDateTime(time);
        Assert.InRange((stamp.ToDateTime(time.AddHours(3)) - time).Duration(), TimeSpan.Zero, TimeSpan.FromTicks(1));
    }

    [Fact(DisplayName = "RFC 5905 6 era wrap: differences and dates stay right across 2036-02-07 06:28:16 UTC")]
    public void EraWrap()
    {
        var wrap = new DateTimeOffset(1900, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(1L << 32);
        Assert.Equal(new DateTimeOffset(2036, 2, 7, 6, 28, 16, TimeSpan.Zero), wrap);
        var before = NtpTimestamp.FromDateTime(wrap.AddSeconds(-2));
        var after = NtpTimestamp.FromDateTime(wrap.AddSeconds(3));
        Assert.True(after.Value < before.Value);
        Assert.Equal(TimeSpan.FromSeconds(5), after - before);
        Assert.Equal(TimeSpan.FromSeconds(-5), before - after);
        Assert.Equal(wrap.AddSeconds(3), after.ToDateTime(wrap.AddSeconds(-10)));
    }

    [Fact(DisplayName = "RFC 4330 5: offset and round-trip delay from the four timestamps")]
    public void OffsetAndDelay()
    {
        var t0 = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var t1 = NtpTimestamp.FromDateTime(t0);
        var t2 = NtpTimestamp.FromDateTime(t0.AddMilliseconds(10_050));
        var t3 = NtpTimestamp.FromDateTime(t0.AddMilliseconds(10_060));
        var sample = SntpClient.Compute(t1, t2, t3, TimeSpan.FromMilliseconds(100), Server, 2);
        Assert.InRange(sample.Offset.TotalMilliseconds, 10_004.9, 10_005.1);
        Assert.InRange(sample.RoundTripDelay.TotalMilliseconds, 89.9, 90.1);
    }

    [Fact(DisplayName = "RFC 4330 5: replies must be server mode and echo our transmit time; kiss-o'-death and unsynchronised servers are refused")]
    public void Validation()
    {
        var t1 = NtpTimestamp.FromDateTime(DateTimeOffset.UtcNow);
        var now = NtpTimestamp.FromDateTime(DateTimeOffset.UtcNow);
        var reply = new byte[48];
        NtpPacket.WriteReply(reply, 2, t1, now, now);
        Assert.NotNull(SntpClient.Evaluate(reply, t1, TimeSpan.FromMilliseconds(1), Server));
        NtpPacket.WriteReply(reply, 2, new NtpTimestamp(t1.Value + 1), now, now);
        Assert.Null(SntpClient.Evaluate(reply, t1, TimeSpan.FromMilliseconds(1), Server));
        NtpPacket.WriteRequest(reply, t1);
        Assert.Null(SntpClient.Evaluate(reply, t1, TimeSpan.FromMilliseconds(1), Server));
        NtpPacket.WriteReply(reply, 0, t1, now, now, "RATE");
        Assert.Contains("RATE", Assert.Throws<InvalidDataException>(() => SntpClient.Evaluate(reply, t1, TimeSpan.Zero, Server)).Message);
        NtpPacket.WriteReply(reply, 2, t1, now, now, leap: 3);
        Assert.Throws<InvalidDataException>(() => SntpClient.Evaluate(reply, t1, TimeSpan.Zero, Server));
        Assert.Null(SntpClient.Evaluate(reply.AsSpan(0, 47), t1, TimeSpan.Zero, Server));
    }
}
