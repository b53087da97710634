using System.Buffers.Binary;
using Wirestack.Sntp;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>The engine's SNTP client alone, against a scripted server on the far end of the link, on the virtual clock.</summary>
public sealed class SntpSessionTests
{
    sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    static readonly DateTimeOffset LocalTime = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    sealed class Recorder
    {
        public List<SntpSample> Samples { get; } = [];
        public List<Exception> Failures { get; } = [];
        public SntpSession Session { get; }

        public Recorder(EngineHarness h, long periodSeconds = 3600)
        {
            Session = new SntpSession(new SntpSettings(Frames.PeerIp.ToString(), periodSeconds * 1_000_000, 3_000_000, new FixedClock(LocalTime)),
                Samples.Add, Failures.Add);
            h.Engine.AddService(Session.Attach(h.Engine));
        }
    }

    /// <summary>The SNTP requests sent since the last call: their source ports and transmit timestamps.</summary>
    static List<(ushort Port, NtpTimestamp T1)> Requests(EngineHarness h) =>
        [.. h.Drain().Select(frame =>
        {
            if (!EthernetFrame.TryParse(frame, out var eth) || !Ipv4Packet.TryParse(eth.Payload, out var ip) || ip.Protocol != IpProtocol.Udp
                || !UdpDatagram.TryParse(ip.Payload, out var udp) || udp.DestinationPort != 123 || ip.Destination != Frames.PeerIp)
                return ((ushort, NtpTimestamp)?)null;
            return (udp.SourcePort, new NtpTimestamp(BinaryPrimitives.ReadUInt64BigEndian(udp.Payload[40..])));
        }).OfType<(ushort, NtpTimestamp)>()];

    static byte[] Reply(ushort toPort, NtpTimestamp origin, TimeSpan serverAhead, TimeSpan atServer, Ipv4Address? from = null, ushort fromPort = 123)
    {
        var reply = new byte[NtpPacket.Length];
        var serverTime = NtpTimestamp.FromDateTime(LocalTime + serverAhead + atServer);
        NtpPacket.WriteReply(reply, 2, origin, serverTime, serverTime);
        var source = from ?? Frames.PeerIp;
        return Frames.Ethernet(Frames.StackMac, Frames.PeerMac, EtherType.Ipv4,
            Frames.Ipv4(source, Frames.StackIp, IpProtocol.Udp, Frames.UdpMessage(source, Frames.StackIp, fromPort, toPort, reply)));
    }

    [Fact(DisplayName = "RFC 4330 5 on the engine clock: the round trip is measured by the engine's clock and the offset follows from it; replies from another address or port do not count")]
    public void OffsetAndRoundTripOnTheEngineClock()
    {
        using var h = new EngineHarness();
        var recorder = new Recorder(h);
        (SntpSample? Sample, Exception? Error)? outcome = null;
        recorder.Session.Synchronize((sample, error) => outcome = (sample, error));
        var (port, t1) = Assert.Single(Requests(h));
        h.Advance(TimeSpan.FromMilliseconds(40));
        // The server runs 5 s ahead; the request reached it 20 ms after it left.
        h.Inject(Reply(port, t1, TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(20), from: Ipv4Address.Parse("192.168.0.9")));
        h.Inject(Reply(port, t1, TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(20), fromPort: 124));
        Assert.Null(outcome);
        h.Inject(Reply(port, t1, TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(20)));
        var sample = Assert.IsType<SntpSample>(outcome?.Sample);
        Assert.InRange(sample.Offset.TotalMilliseconds, 4999, 5001);
        Assert.InRange(sample.RoundTripDelay.TotalMilliseconds, 39.9, 40.1);
        Assert.Equal(sample, Assert.Single(recorder.Samples));
        Assert.Empty(h.Engine.Udp.Bindings);
    }

    [Fact(DisplayName = "RFC 4330 10 on the engine clock: started, it asks at once, times out after 3 s, backs off 15 s then 30 s, and once answered waits the period")]
    public void ScheduleAndBackoff()
    {
        using var h = new EngineHarness();
        var recorder = new Recorder(h, periodSeconds: 600);
        recorder.Session.Start();
        h.Advance(TimeSpan.Zero);
        Assert.Single(Requests(h));
        h.Advance(TimeSpan.FromSeconds(3));
        Assert.IsType<TimeoutException>(Assert.Single(recorder.Failures));
        h.Advance(TimeSpan.FromSeconds(14.9));
        Assert.Empty(Requests(h));
        h.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Single(Requests(h));
        h.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(2, recorder.Failures.Count);
        h.Advance(TimeSpan.FromSeconds(29.9));
        Assert.Empty(Requests(h));
        h.Advance(TimeSpan.FromSeconds(0.1));
        var (port, t1) = Assert.Single(Requests(h));
        h.Inject(Reply(port, t1, TimeSpan.Zero, TimeSpan.Zero));
        Assert.Single(recorder.Samples);
        h.Advance(TimeSpan.FromSeconds(599));
        Assert.Empty(Requests(h));
        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Single(Requests(h));
    }

    [Fact(DisplayName = "RFC 4330 8 kiss-o'-death: a reply with stratum 0 fails the measurement with the server's code, and the port is given back")]
    public void KissOfDeath()
    {
        using var h = new EngineHarness();
        var recorder = new Recorder(h);
        (SntpSample? Sample, Exception? Error)? outcome = null;
        recorder.Session.Synchronize((sample, error) => outcome = (sample, error));
        var (port, t1) = Assert.Single(Requests(h));
        var reply = new byte[NtpPacket.Length];
        var now = NtpTimestamp.FromDateTime(LocalTime);
        NtpPacket.WriteReply(reply, 0, t1, now, now, "RATE");
        h.Inject(Frames.Ethernet(Frames.StackMac, Frames.PeerMac, EtherType.Ipv4,
            Frames.Ipv4(Frames.PeerIp, Frames.StackIp, IpProtocol.Udp, Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 123, port, reply))));
        Assert.Contains("RATE", Assert.IsType<InvalidDataException>(outcome?.Error).Message);
        Assert.Empty(h.Engine.Udp.Bindings);
    }
}
