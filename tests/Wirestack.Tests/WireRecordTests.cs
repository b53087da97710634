using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>The records the engine builds messages from, written and read back, and their checks on hostile bytes.</summary>
public sealed class WireRecordTests
{
    static readonly IpAddress Target = IpAddress.Parse("fe80::1234");
    static readonly MacAddress Mac = MacAddress.Parse("02:00:01:02:03:77");

    [Fact(DisplayName = "RFC 4861 4.3, 4.4: NS and NA bodies round trip with their flags, target and link-layer option; a body shorter than 20 bytes or a zero-length option is refused")]
    public void NeighborMessagesRoundTrip()
    {
        var body = new byte[64];
        int length = NdpMessage.WriteNeighborAdvertisement(body, Target, router: false, solicited: true, overrideFlag: true, Mac);
        Assert.Equal(28, length);
        Assert.True(NdpTargetMessage.TryParse(body.AsSpan(0, length), out var advertisement));
        Assert.Equal((false, true, true), (advertisement.Router, advertisement.Solicited, advertisement.Override));
        Assert.Equal(Target, advertisement.Target);
        Assert.Equal(Mac, NdpMessage.FindLinkAddress(advertisement.Options, NdpOptionType.TargetLinkLayerAddress));
        Assert.Null(NdpMessage.FindLinkAddress(advertisement.Options, NdpOptionType.SourceLinkLayerAddress));

        // A DAD probe (RFC 4862 5.4.2) carries no link-layer option.
        Assert.Equal(20, NdpMessage.WriteNeighborSolicitation(body, Target, sourceLinkAddress: null));
        Assert.True(NdpTargetMessage.TryParse(body.AsSpan(0, 20), out var probe));
        Assert.Equal(Target, probe.Target);
        Assert.Equal(0, probe.Options.Length);

        Assert.False(NdpTargetMessage.TryParse(body.AsSpan(0, 19), out _));
        body[21] = 0;   // option length 0 (RFC 4861 7.1.1: invalid)
        Assert.False(NdpTargetMessage.TryParse(body.AsSpan(0, 28), out _));
        body[21] = 2;   // 16 bytes claimed, 8 present
        Assert.False(NdpTargetMessage.TryParse(body.AsSpan(0, 28), out _));
    }

    [Fact(DisplayName = "RFC 4861 4.1, 4.2: an RS carries the link-layer option only when asked; an RA's fixed fields and options read back")]
    public void RouterMessages()
    {
        var body = new byte[64];
        Assert.Equal(4, NdpMessage.WriteRouterSolicitation(body, sourceLinkAddress: null));
        Assert.Equal(12, NdpMessage.WriteRouterSolicitation(body, Mac));

        var ra = new byte[12 + 8 + 24];
        ra[0] = 64;
        ra[1] = 0xC0;
        ra[2] = 0x07; ra[3] = 0x08;   // 1800 s
        ra[7] = 100;                  // reachable 100 ms
        ra[11] = 200;                 // retransmit 200 ms
        ra[12] = NdpOptionType.Mtu; ra[13] = 1; ra[18] = 0x05; ra[19] = 0xDC;
        ra[20] = NdpOptionType.RecursiveDnsServer; ra[21] = 3; ra[27] = 60;
        IpAddress.Parse("2001:db8::53").WriteTo(ra.AsSpan(28));
        Assert.True(RouterAdvertisement.TryParse(ra, out var advertisement));
        Assert.Equal((64, 0xC0, 1800, 100u, 200u), (advertisement.CurrentHopLimit, advertisement.Flags, advertisement.RouterLifetime,
            advertisement.ReachableTime, advertisement.RetransTimer));
        var reader = new NdpOptionReader(advertisement.Options);
        Assert.True(reader.TryNext(out byte type, out var option) && type == NdpOptionType.Mtu);
        Assert.True(NdpMtuOption.TryRead(option, out uint mtu) && mtu == 1500);
        Assert.True(reader.TryNext(out type, out option) && type == NdpOptionType.RecursiveDnsServer);
        Assert.True(NdpDnsServerOption.TryParse(option, out var servers));
        Assert.Equal((60u, 1, IpAddress.Parse("2001:db8::53")), (servers.Lifetime, servers.Count, servers[0]));
        Assert.False(NdpDnsServerOption.TryParse(option[..20], out _));
        Assert.False(RouterAdvertisement.TryParse(ra.AsSpan(0, 11), out _));
    }

    [Fact(DisplayName = "RFC 3810 5.1, 5.2 and RFC 2710 3: MLD queries of both versions parse (their delay codes included); reports are written as records behind their header")]
    public void MldMessages()
    {
        var v1 = new byte[20];
        v1[0] = 0x27; v1[1] = 0x10;   // 10,000 ms
        Assert.True(MldMessage.TryParseQuery(v1, out var query1));
        Assert.True(query1.IsVersion1);
        Assert.Equal(10_000_000, query1.MaxResponseMicroseconds);
        Assert.True(query1.Group.IsUnspecified);

        var v2 = new byte[24];
        v2[0] = 0x80; v2[1] = 0x00;   // exponent form: mant 0, exp 0 -> 0x1000 << 3 = 32768 ms
        IpAddress.Parse("ff05::1234").WriteTo(v2.AsSpan(4));
        Assert.True(MldMessage.TryParseQuery(v2, out var query2));
        Assert.False(query2.IsVersion1);
        Assert.Equal(32_768_000, query2.MaxResponseMicroseconds);
        Assert.Equal(IpAddress.Parse("ff05::1234"), query2.Group);
        Assert.False(MldMessage.TryParseQuery(v2.AsSpan(0, 21), out _));

        var report = new byte[64];
        MldMessage.WriteRecord(report.AsSpan(4), 4, IpAddress.Parse("ff05::1"));
        MldMessage.WriteRecord(report.AsSpan(24), 3, IpAddress.Parse("ff05::2"));
        Assert.Equal(44, MldMessage.WriteVersion2ReportHeader(report, 2));
        Assert.Equal((0, 2, 4, 3), (report[1], report[3], report[4], report[24]));
        Assert.Equal(IpAddress.Parse("ff05::2"), IpAddress.Read(report.AsSpan(28)));

        var hopByHop = new byte[8];
        MldMessage.WriteHopByHop(hopByHop, IpProtocol.Icmpv6);
        // RFC 2711 2.1: option type 5, length 2, value 0 (MLD).
        Assert.Equal(new byte[] { 58, 0, 5, 2, 0, 0, 1, 0 }, hopByHop);
    }

    [Fact(DisplayName = "RFC 3376 4.2 and RFC 2236 2: IGMP reports are written with their records and checksum, and a query reads back")]
    public void IgmpMessages()
    {
        var message = new byte[32];
        var group = Ipv4Address.Parse("239.1.2.3");
        IgmpMessage.WriteRecord(message, 0, IgmpRecordType.ChangeToExcludeMode, group);
        IgmpMessage.WriteRecord(message, 1, IgmpRecordType.ModeIsExclude, Ipv4Address.Parse("239.1.2.4"));
        int length = IgmpMessage.WriteVersion3ReportHeader(message, 2);
        IgmpMessage.Finish(message.AsSpan(0, length));
        Assert.Equal(24, length);
        Assert.Equal(0, Checksum.Compute(message.AsSpan(0, length)));
        Assert.Equal((IgmpType.Version3Report, 2, IgmpRecordType.ChangeToExcludeMode), (message[0], message[7], message[8]));
        Assert.Equal(group, Ipv4Address.Read(message.AsSpan(12)));

        var leave = new byte[8];
        Assert.Equal(8, IgmpMessage.WriteVersion2(leave, IgmpType.LeaveGroup, group));
        IgmpMessage.Finish(leave);
        Assert.True(IgmpMessage.TryParse(leave, out var parsed));
        Assert.Equal(group, parsed.Group);
    }

    [Fact(DisplayName = "RFC 791 3.1: an IPv4 header with options is written whole, its IHL and checksum covering them")]
    public void Ipv4HeaderWithOptions()
    {
        var header = new byte[24];
        int length = new Ipv4Header(Ipv4Address.Parse("10.0.0.1"), Ipv4Address.Parse("224.0.0.22"), IpProtocol.Igmp, TimeToLive: 1, Identification: 1) { TypeOfService = 0xC0 }
            .Write(header, 32, IgmpMessage.RouterAlert);
        Assert.Equal(24, length);
        Assert.Equal(0x46, header[0]);
        Assert.Equal(0, Checksum.Compute(header));
        Assert.Equal(IgmpMessage.RouterAlert.ToArray(), header[20..]);
        Assert.Throws<ArgumentException>(() => new Ipv4Header(default, default, IpProtocol.Igmp, 1, 1).Write(new byte[28], 28, new byte[3]));
    }

    [Fact(DisplayName = "RFC 791 3.1 and RFC 9293 3.1: a parsed header's fields write back the same bytes (IPv4 with fragment fields and TOS, TCP with options and checksum)")]
    public void HeadersRoundTrip()
    {
        var ipv4 = Frames.Ipv4(Frames.PeerIp, Frames.StackIp, IpProtocol.Udp, new byte[16], identification: 0xBEEF, moreFragments: true, fragmentOffset: 1480, ttl: 3);
        ipv4[1] = 0x2E;
        ipv4[10] = ipv4[11] = 0;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(ipv4.AsSpan(10), Checksum.Compute(ipv4.AsSpan(0, 20)));
        Assert.True(Ipv4Packet.TryParse(ipv4, out var packet));
        var again = new byte[20];
        Assert.Equal(20, packet.Header.Write(again, ipv4.Length));
        Assert.Equal(ipv4[..20], again);

        var options = TcpOptions.None;
        options.MaximumSegmentSize = 1460;
        options.SackPermitted = true;
        var tcp = new byte[TcpSegment.MinimumHeaderLength + options.WireLength + 5];
        "hello"u8.CopyTo(tcp.AsSpan(tcp.Length - 5));
        int length = new TcpHeader(40000, 80, 0x01020304, 0x0A0B0C0D, TcpFlags.Syn | TcpFlags.Ack, 29200).Write(tcp, options, 5, Frames.PeerIp, Frames.StackIp);
        Assert.Equal(tcp.Length, length);
        var read = TcpOptions.None;
        Assert.True(TcpSegment.TryParse(tcp, out var segment) && segment.IsChecksumValid(Frames.PeerIp, Frames.StackIp) && segment.TryParseOptions(out read));
        Assert.Equal((ushort)1460, read.MaximumSegmentSize);
        var rewritten = tcp.ToArray();
        segment.Header.Write(rewritten, read, 5, Frames.PeerIp, Frames.StackIp);
        Assert.Equal(tcp, rewritten);
    }

    [Fact(DisplayName = "RFC 792 and RFC 4443 2.4 c: a quoted header is read as far as it goes; a quote shorter than its header, or with an IHL under 5, is refused")]
    public void QuotedPackets()
    {
        var ipv4 = Frames.Ipv4(Frames.StackIp, Frames.PeerIp, IpProtocol.Udp, new byte[] { 0x12, 0x34, 0x00, 0x35, 0, 0, 0, 0 }, fragmentOffset: 0);
        Assert.True(QuotedPacket.TryParse(ipv4.AsSpan(0, 28), out var quote));
        Assert.True(quote.IsIpv4);
        Assert.Equal(((IpAddress)Frames.StackIp, (IpAddress)Frames.PeerIp, IpProtocol.Udp, 20), (quote.Source, quote.Destination, quote.Protocol, quote.HeaderLength));
        Assert.True(TransportPorts.TryRead(quote.Payload, out ushort source, out ushort destination) && (source, destination) == (0x1234, 53));
        Assert.False(quote.IsLaterFragment);
        Assert.False(QuotedPacket.TryParse(ipv4.AsSpan(0, 19), out _));
        ipv4[0] = 0x44;
        Assert.False(QuotedPacket.TryParse(ipv4, out _));

        var ipv6 = new byte[48];
        Ipv6Packet.WriteHeader(ipv6, 8, IpProtocol.Tcp, 64, IpAddress.Parse("fd00::1"), IpAddress.Parse("fd00::2"));
        Assert.True(QuotedPacket.TryParse(ipv6, out var quote6));
        Assert.Equal((false, IpProtocol.Tcp, (byte)64, IpAddress.Parse("fd00::2")), (quote6.IsIpv4, quote6.Protocol, quote6.HopLimit, quote6.Destination));
        Assert.False(QuotedPacket.TryParse(ipv6.AsSpan(0, 39), out _));
        Assert.Equal(0, QuotedPacket.VersionOf([]));
        Assert.False(TcpSegment.TryReadQuoted(new byte[7], out _, out _, out _));
    }
}
