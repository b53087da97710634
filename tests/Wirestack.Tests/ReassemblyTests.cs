using Wirestack.Wire;

namespace Wirestack.Tests;

public sealed class ReassemblyTests
{
    const ushort Port = 7000;

    static (EngineHarness Harness, RecordingReceiver Receiver) Listen(StackOptions? options = null)
    {
        var h = new EngineHarness(options);
        var receiver = new RecordingReceiver();
        h.Engine.Udp.Bind(Port, receiver);
        return (h, receiver);
    }

    static byte[] Datagram(int size, int seed) => Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 5555, Port, Frames.RandomBytes(size, seed));

    [Fact(DisplayName = "RFC 791 3.2: fragments arriving out of order are reassembled")]
    public void OutOfOrder()
    {
        var (h, receiver) = Listen();
        using var _ = h;
        var datagram = Datagram(8000, 1);
        var fragments = Frames.Fragments(IpProtocol.Udp, datagram, 1480, 10);
        fragments.Reverse();
        foreach (var f in fragments)
            h.Inject(f);
        var got = Assert.Single(receiver.Datagrams);
        Assert.Equal(datagram[8..], got.Payload);
        Assert.Equal(0, h.Engine.Counters[StackCounter.DropFragmentOverlap]);
    }

    [Fact(DisplayName = "RFC 791 3.2: exact duplicate fragments are ignored and the datagram delivered once")]
    public void Duplicates()
    {
        var (h, receiver) = Listen();
        using var _ = h;
        var datagram = Datagram(3000, 2);
        var fragments = Frames.Fragments(IpProtocol.Udp, datagram, 1008, 11);
        Assert.Equal(3, fragments.Count);
        h.Inject(fragments[0]);
        h.Inject(fragments[0]);
        h.Inject(fragments[1]);
        h.Inject(fragments[1]);
        h.Inject(fragments[2]);
        h.Inject(fragments[2]);
        Assert.Single(receiver.Datagrams);
        Assert.Equal(datagram[8..], receiver.Datagrams[0].Payload);
        Assert.Equal(2, h.Engine.Counters[StackCounter.DropFragmentDuplicate]);
    }

    [Fact(DisplayName = "RFC 5722 policy for IPv4: an overlapping fragment discards the whole datagram (teardrop)")]
    public void OverlapDiscards()
    {
        var (h, receiver) = Listen();
        using var _ = h;
        var datagram = Datagram(2000, 3);
        h.Inject(Frames.Fragment(IpProtocol.Udp, datagram.AsSpan(0, 1000), 0, more: true, 12));
        // Teardrop: a second fragment starting inside the first.
        h.Inject(Frames.Fragment(IpProtocol.Udp, datagram.AsSpan(800, 1208), 800, more: false, 12));
        Assert.Equal(1, h.Engine.Counters[StackCounter.DropFragmentOverlap]);
        h.Inject(Frames.Fragment(IpProtocol.Udp, datagram.AsSpan(1000), 1000, more: false, 12));
        Assert.Empty(receiver.Datagrams);
    }

    [Fact(DisplayName = "RFC 791 3.2: fragments past 65,535 bytes (ping of death) are dropped")]
    public void OversizedDropped()
    {
        var (h, receiver) = Listen();
        using var _ = h;
        h.Inject(Frames.Fragment(IpProtocol.Udp, new byte[1480], 65528 - 8, more: false, 13));
        Assert.Equal(1, h.Engine.Counters[StackCounter.DropFragmentMalformed]);
        Assert.Empty(receiver.Datagrams);
    }

    [Fact(DisplayName = "RFC 791 3.2: a non-final fragment whose length is not a multiple of 8 is dropped")]
    public void UnalignedDropped()
    {
        var (h, _) = Listen();
        using var __ = h;
        h.Inject(Frames.Fragment(IpProtocol.Udp, new byte[1001], 0, more: true, 14));
        Assert.Equal(1, h.Engine.Counters[StackCounter.DropFragmentMalformed]);
    }

    [Fact(DisplayName = "RFC 792 time exceeded code 1: reassembly timeout discards the datagram and reports it to the sender")]
    public void TimeoutSendsTimeExceeded()
    {
        var options = EngineHarness.DefaultOptions() with { ReassemblyTimeout = TimeSpan.FromSeconds(30) };
        var (h, receiver) = Listen(options);
        using var _ = h;
        var datagram = Datagram(3000, 4);
        h.Inject(Frames.Fragment(IpProtocol.Udp, datagram.AsSpan(0, 1480), 0, more: true, 15));
        h.Advance(TimeSpan.FromSeconds(29));
        Assert.Empty(h.Drain());
        h.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, h.Engine.Counters[StackCounter.DropReassemblyTimeout]);
        var frame = Assert.Single(h.Drain());
        Assert.True(EthernetFrame.TryParse(frame, out var eth));
        Assert.True(Ipv4Packet.TryParse(eth.Payload, out var ip));
        Assert.True(Icmpv4Message.TryParse(ip.Payload, out var icmp));
        Assert.Equal(Icmpv4Type.TimeExceeded, icmp.Type);
        Assert.Equal(1, icmp.Code);
        Assert.True(icmp.IsChecksumValid);
        // The late fragment starts a new partial datagram rather than completing the discarded one.
        h.Inject(Frames.Fragment(IpProtocol.Udp, datagram.AsSpan(1480), 1480, more: false, 15));
        Assert.Empty(receiver.Datagrams);
    }

    [Fact(DisplayName = "RFC 1122 3.2.2: no Time Exceeded about a timed-out datagram that was itself an ICMP error")]
    public void NoTimeExceededAboutIcmpError()
    {
        var (h, _) = Listen();
        using var __ = h;
        var error = new byte[1600];
        Icmpv4Message.WriteHeader(error, Icmpv4Type.DestinationUnreachable, 3, 0);
        h.Inject(Frames.Fragment(IpProtocol.Icmp, error.AsSpan(0, 1480), 0, more: true, 16));
        h.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(1, h.Engine.Counters[StackCounter.DropReassemblyTimeout]);
        Assert.Empty(h.Drain());
    }

    [Fact(DisplayName = "Reassembly is bounded: past the datagram limit the oldest partial datagram is evicted")]
    public void BoundedDatagrams()
    {
        var options = EngineHarness.DefaultOptions() with { ReassemblyMaxDatagrams = 4 };
        var (h, receiver) = Listen(options);
        using var _ = h;
        for (ushort id = 100; id < 110; id++)
            h.Inject(Frames.Fragment(IpProtocol.Udp, new byte[1480], 0, more: true, id));
        Assert.Equal(6, h.Engine.Counters[StackCounter.DropReassemblyLimit]);
        // The newest datagrams are still held and can complete.
        var datagram = Datagram(1480 + 100, 5);
        h.Inject(Frames.Fragment(IpProtocol.Udp, datagram.AsSpan(0, 1480), 0, more: true, 200));
        h.Inject(Frames.Fragment(IpProtocol.Udp, datagram.AsSpan(1480), 1480, more: false, 200));
        Assert.Single(receiver.Datagrams);
    }

    [Fact(DisplayName = "Reassembly is bounded in bytes held")]
    public void BoundedBytes()
    {
        var options = EngineHarness.DefaultOptions() with { ReassemblyMaxBytes = 256 * 1024, ReassemblyMaxDatagrams = 1000 };
        var (h, _) = Listen(options);
        using var __ = h;
        // Each partial datagram announces data near the 64 KiB end, forcing a large buffer.
        for (ushort id = 1; id < 40; id++)
            h.Inject(Frames.Fragment(IpProtocol.Udp, new byte[1480], 60000, more: true, id));
        Assert.True(h.Engine.Counters[StackCounter.DropReassemblyLimit] > 0);
    }
}
