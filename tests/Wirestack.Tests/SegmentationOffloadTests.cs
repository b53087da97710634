using System.Buffers.Binary;
using Wirestack.Devices;
using Wirestack.Transport.Tcp;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>
/// Send offloads: TCP segments leave with partial checksums and up to 64 KiB long for the device (or the host's
/// kernel) to finish, and are finished in software where the receiver cannot take them.
/// </summary>
public sealed class SegmentationOffloadTests
{
    const uint PeerIss = 1_000_000;
    const int Mss = 1460;

    /// <summary>A frame holding one TCP segment with a partial checksum, as the engine builds it for an offloading device.</summary>
    static byte[] LongSegment(bool ipv6, byte[] payload, TcpFlags flags, ushort identification, out IpAddress source, out IpAddress destination,
        out int transportStart, out int headersLength)
    {
        source = ipv6 ? IpAddress.Parse("fd00::2") : Frames.StackIp;
        destination = ipv6 ? IpAddress.Parse("fd00::1") : Frames.PeerIp;
        int network = ipv6 ? Ipv6Packet.HeaderLength : Ipv4Packet.MinimumHeaderLength;
        var options = TcpPeer.Timestamps(77, 66);
        int tcpHeader = TcpSegment.MinimumHeaderLength + options.WireLength;
        transportStart = EthernetFrame.HeaderLength + network;
        headersLength = transportStart + tcpHeader;
        var frame = new byte[headersLength + payload.Length];
        EthernetFrame.WriteHeader(frame, Frames.PeerMac, Frames.StackMac, ipv6 ? EtherType.Ipv6 : EtherType.Ipv4);
        var ip = frame.AsSpan(EthernetFrame.HeaderLength);
        if (ipv6)
            Ipv6Packet.WriteHeader(ip, tcpHeader + payload.Length, IpProtocol.Tcp, 64, source, destination);
        else
            new Ipv4Header(source.Ipv4, destination.Ipv4, IpProtocol.Tcp, 64, identification).Write(ip, network + tcpHeader + payload.Length);
        payload.CopyTo(frame, headersLength);
        new TcpHeader(80, 40000, 5000, 9000, flags, 1000).Write(frame.AsSpan(transportStart), options, payload.Length, source, destination, partialChecksum: true);
        return frame;
    }

    static List<byte[]> Finish(byte[] frame, VirtioNetHeader header, out int result)
    {
        var output = new List<byte[]>();
        result = SoftwareOffloads.Finish(frame, header, EthernetFrame.HeaderLength, new byte[VirtioNetHeader.FrameBufferLength], piece =>
        {
            output.Add(piece.ToArray());
            return true;
        });
        return output;
    }

    [Theory(DisplayName = "TCP segmentation offload in software (as Linux's GSO): a 60,000-byte segment becomes MSS pieces with their own lengths, sequence numbers, IPv4 identifications and checksums; FIN and PSH on the last only, CWR on the first only")]
    [InlineData(false)]
    [InlineData(true)]
    public void SoftwareSegmentation(bool ipv6)
    {
        const int Size = 1448;
        var payload = Frames.RandomBytes(60_000, 5);
        var frame = LongSegment(ipv6, payload, TcpFlags.Ack | TcpFlags.Psh | TcpFlags.Fin | TcpFlags.Cwr, 300, out var source, out var destination,
            out int transportStart, out int headersLength);
        var header = VirtioNetHeader.TcpSegmentation(ipv6, transportStart - EthernetFrame.HeaderLength, headersLength - EthernetFrame.HeaderLength, Size)
            .BehindLinkHeader(EthernetFrame.HeaderLength);
        var pieces = Finish(frame, header, out int result);

        Assert.Equal((payload.Length + Size - 1) / Size, result);
        Assert.Equal(result, pieces.Count);
        var joined = new List<byte>();
        for (int i = 0; i < pieces.Count; i++)
        {
            Assert.True(EthernetFrame.TryParse(pieces[i], out var ethernet));
            Span<byte> transport;
            if (ipv6)
            {
                Assert.True(Ipv6Packet.TryParse(ethernet.Payload, out var packet));
                transport = packet.Payload;
            }
            else
            {
                Assert.True(Ipv4Packet.TryParse(ethernet.Payload, out var packet));
                Assert.True(packet.IsHeaderChecksumValid);
                Assert.Equal(300 + i, packet.Identification);
                transport = packet.Payload;
            }
            Assert.True(TcpSegment.TryParse(transport, out var segment));
            Assert.True(segment.IsChecksumValid(source, destination));
            Assert.Equal(5000u + (uint)(i * Size), segment.SequenceNumber);
            Assert.Equal(i < pieces.Count - 1 ? Size : payload.Length % Size, segment.Payload.Length);
            bool last = i == pieces.Count - 1;
            Assert.Equal(last, (segment.Flags & TcpFlags.Fin) != 0);
            Assert.Equal(last, (segment.Flags & TcpFlags.Psh) != 0);
            Assert.Equal(i == 0, (segment.Flags & TcpFlags.Cwr) != 0);
            Assert.True(segment.TryParseOptions(out var options) && options.HasTimestamps && options.TimestampValue == 77);
            joined.AddRange(segment.Payload.ToArray());
        }
        Assert.Equal(payload, joined.ToArray());
    }

    [Fact(DisplayName = "Checksum offload in software (RFC 1071 over RFC 9293 3.1's pseudo-header): a partial checksum is completed on a copy; the stack's frame is left as it was")]
    public void SoftwareChecksum()
    {
        var frame = LongSegment(false, Frames.RandomBytes(1000, 6), TcpFlags.Ack, 1, out var source, out var destination, out int transportStart, out _);
        var original = frame.ToArray();
        var piece = Assert.Single(Finish(frame, VirtioNetHeader.PartialChecksum(transportStart, TcpSegment.ChecksumOffset), out int result));
        Assert.Equal(1, result);
        Assert.True(TcpSegment.TryParse(piece.AsSpan(transportStart), out var segment));
        Assert.True(segment.IsChecksumValid(source, destination));
        Assert.Equal(original, frame);
        Assert.True(TcpSegment.TryParse(frame.AsSpan(transportStart), out var partial));
        Assert.False(partial.IsChecksumValid(source, destination));
    }

    [Theory(DisplayName = "Software offloads refuse a header that does not match its frame (wrong family, segment size 0, checksum elsewhere than TCP's or past the frame, segmentation without a partial checksum): nothing is sent")]
    [InlineData(4, 1448, 16, true)]
    [InlineData(1, 0, 16, true)]
    [InlineData(1, 1448, 6, true)]
    [InlineData(1, 1448, 4000, true)]
    [InlineData(1, 1448, 16, false)]
    public void MismatchedHeadersAreRefused(int gso, int size, int checksumOffset, bool needsChecksum)
    {
        var frame = LongSegment(false, Frames.RandomBytes(3000, 7), TcpFlags.Ack, 1, out _, out _, out int transportStart, out int headersLength);
        var header = new VirtioNetHeader(needsChecksum ? VirtioNetHeader.NeedsChecksum : (byte)0, (GsoType)gso, false, (ushort)headersLength,
            (ushort)size, (ushort)transportStart, (ushort)checksumOffset);
        Assert.Empty(Finish(frame, header, out int result));
        Assert.Equal(-1, result);
    }

    [Fact(DisplayName = "Send offloads: new data leaves as one long segment cut to the MSS on the way (a peer without offloads gets MSS-sized segments with valid checksums); TCP counts the pieces")]
    public void PeerWithoutOffloadsGetsMssSegments()
    {
        var (h, peer, listener, stackIss) = TcpFixtures.Established(offloads: true);
        using var _ = h;
        var connection = listener.Accepted[0].Connection!;
        long segmentsBefore = h.Count(StackCounter.TcpSegmentsSent);
        var data = Frames.RandomBytes(20 * Mss, 8);
        connection.Write(data);
        connection.OnApplicationWrite();
        var segments = peer.Received();
        // The initial window (RFC 6928: ten segments), sent as one frame of ten pieces.
        Assert.Equal(10, segments.Count);
        Assert.Equal(1, h.Count(StackCounter.GsoFramesSent));
        Assert.Equal(10, h.Count(StackCounter.TcpSegmentsSent) - segmentsBefore);
        for (int i = 0; i < segments.Count; i++)
        {
            Assert.Equal(stackIss + 1 + (uint)(i * Mss), segments[i].Seq);
            Assert.Equal(data.AsSpan(i * Mss, Mss).ToArray(), segments[i].Payload);
        }
    }

    [Theory(DisplayName = "RFC 896 with segmentation offload: a long segment's short tail is held while a small segment is unacknowledged, exactly as MSS-sized sending holds it")]
    [InlineData(false)]
    [InlineData(true)]
    public void LongSegmentTailFollowsNagle(bool offloads)
    {
        var (h, peer, listener, stackIss) = TcpFixtures.Established(offloads: offloads);
        using var _ = h;
        var connection = listener.Accepted[0].Connection!;
        connection.Write(new byte[10]);
        connection.OnApplicationWrite();
        Assert.Single(peer.Received());
        connection.Write(new byte[2 * Mss + 700]);
        connection.OnApplicationWrite();
        var full = peer.Received();
        Assert.Equal(2, full.Count);
        Assert.All(full, segment => Assert.Equal(Mss, segment.Payload.Length));
        // Minshall's refinement: once the small segment is acknowledged the tail goes, full ones still in flight.
        peer.Send(PeerIss + 1, stackIss + 11, TcpFlags.Ack);
        var tail = Assert.Single(peer.Received());
        Assert.Equal(700, tail.Payload.Length);
        Assert.Equal(stackIss + 11 + 2 * Mss, tail.Seq);
    }

    [Fact(DisplayName = "Send offloads behind address resolution: a segment queued until ARP answers (RFC 826, RFC 1122 2.3.2.2) keeps what the device must finish, and arrives with a valid checksum")]
    public void QueuedSegmentKeepsItsOffload()
    {
        using var h = new EngineHarness(learnPeer: false, offloads: true);
        var peer = new TcpPeer(h);
        long requests = h.Count(StackCounter.ArpRequestsSent);
        h.Engine.Tcp.Connect(Frames.PeerIp, 80, new RecordingConnection());
        // Drain answers the ARP request, which releases the queued SYN; Received checks its checksum.
        var syn = Assert.Single(peer.Received());
        Assert.True(syn.Has(TcpFlags.Syn));
        Assert.Equal(requests + 1, h.Count(StackCounter.ArpRequestsSent));
    }

    [Fact(DisplayName = "RFC 1122 4.2.3.2 with receive offloads: a segment longer than the MSS (a host's coalesced super-frame) is ACKed at once, as the segments it stands for would be; one shorter waits for the delayed-ACK timer")]
    public void LongSegmentIsAckedAtOnce()
    {
        var (h, peer, _, stackIss) = TcpFixtures.Established(offloads: true);
        using var __ = h;
        peer.Send(PeerIss + 1, stackIss + 1, TcpFlags.Ack, new byte[1000]);
        Assert.Empty(peer.Received());
        peer.Send(PeerIss + 1001, stackIss + 1, TcpFlags.Ack, new byte[3 * Mss]);
        Assert.Equal(PeerIss + 1001 + 3 * Mss, Assert.Single(peer.Received()).Ack);
        // Just over one MSS stands for two segments on the wire: at once too.
        peer.Send(PeerIss + 1001 + 3 * Mss, stackIss + 1, TcpFlags.Ack, new byte[Mss + 100]);
        Assert.Equal(PeerIss + 1001 + 4 * Mss + 100, Assert.Single(peer.Received()).Ack);
        Assert.Equal(0, h.Count(StackCounter.DropOffloadInvalid));
    }

    [Fact(DisplayName = "Send and receive offloads between two stacks: 4 MiB each way pass as 64 KiB segments (sent and received counted alike) and arrive byte-exact")]
    public void TwoStacksExchangeLongSegments()
    {
        using var net = new TwoEngines(offloads: true);
        ExchangeLongSegments(net, 4 << 20);
    }

    [Fact(DisplayName = "Device capabilities pass through decorators: a pcap-wrapped device keeps its offloads both ways, and the capture holds the 64 KiB segments as they crossed")]
    public void PcapKeepsOffloads()
    {
        var capture = new MemoryStream();
        using var net = new TwoEngines(offloads: true, decorateA: inner => new PcapDevice(inner, capture));
        ExchangeLongSegments(net, 1 << 20);
        Assert.True(net.A.ReceiveOffloadsEnabled);
        var lengths = PcapRecordLengths(capture.ToArray());
        long longRecords = lengths.Count(length => length > 1514);
        Assert.Equal(net.A.Counters[StackCounter.GsoFramesSent] + net.A.Counters[StackCounter.GsoFramesReceived], longRecords);
        Assert.Equal(net.A.Counters[StackCounter.FramesSent] + net.A.Counters[StackCounter.FramesReceived], lengths.Count);
    }

    static List<int> PcapRecordLengths(byte[] file)
    {
        var lengths = new List<int>();
        for (int at = 24; at + 16 <= file.Length;)
        {
            int captured = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(at + 8));
            lengths.Add(BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(at + 12)));
            at += 16 + captured;
        }
        return lengths;
    }

    static void ExchangeLongSegments(TwoEngines net, int bytes)
    {
        var listener = new RecordingListener();
        net.B.Tcp.Listen(80, 16, listener);
        var client = new RecordingConnection();
        Assert.True(net.RunUntil(() => net.A.State == StackState.Ready && net.B.State == StackState.Ready, TimeSpan.FromSeconds(10)));
        var connection = net.A.Tcp.Connect(TwoEngines.AddressB, 80, client);
        client.Connection = connection;
        Assert.True(net.RunUntil(() => listener.Accepted.Count == 1, TimeSpan.FromSeconds(10)));
        var server = listener.Accepted[0];
        var up = Frames.RandomBytes(bytes, 9);
        var down = Frames.RandomBytes(bytes, 10);
        var upFeeder = new Feeder(connection, up);
        var downFeeder = new Feeder(server.Connection!, down);
        Assert.True(net.RunUntil(() =>
        {
            upFeeder.Pump();
            downFeeder.Pump();
            return server.Received.Length == up.Length && client.Received.Length == down.Length;
        }, TimeSpan.FromSeconds(60)));
        Assert.Equal(up, server.Received.ToArray());
        Assert.Equal(down, client.Received.ToArray());
        Assert.True(net.A.Counters[StackCounter.GsoFramesSent] > bytes / 80_000, $"{net.A.Counters[StackCounter.GsoFramesSent]} long segments");
        Assert.Equal(net.A.Counters[StackCounter.GsoFramesSent], net.B.Counters[StackCounter.GsoFramesReceived]);
        Assert.Equal(net.B.Counters[StackCounter.GsoFramesSent], net.A.Counters[StackCounter.GsoFramesReceived]);
        Assert.Equal(0, net.A.Counters[StackCounter.DropOffloadInvalid] + net.B.Counters[StackCounter.DropOffloadInvalid]);
        Assert.Equal(0, net.A.Counters[StackCounter.TcpSegmentsRetransmitted]);
    }
}
