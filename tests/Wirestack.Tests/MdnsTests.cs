using System.Buffers.Binary;
using System.Net;
using Wirestack.Mdns;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>The mDNS responder (RFC 6762) in the engine, on the virtual clock, over IPv4.</summary>
public sealed class MdnsTests
{
    static readonly Ipv4Address Group = Ipv4Address.Parse("224.0.0.251");
    static readonly MacAddress GroupMac = MacAddress.Parse("01:00:5e:00:00:fb");
    static readonly byte[] OurAddress = [192, 168, 0, 2];

    sealed record Message(Ipv4Address Source, Ipv4Address Destination, ushort DestinationPort, byte Ttl, DnsMessage Packet);

    static readonly MdnsService Web = new()
    {
        InstanceName = "Wirestack dashboard",
        ServiceType = "_http._tcp",
        Port = 80,
        Txt = new Dictionary<string, string> { ["path"] = "/" },
    };

    static EngineHarness Responder(string name = "wirestack", params MdnsService[] services) =>
        new(EngineHarness.DefaultOptions() with { Mdns = new MdnsSettings { HostName = name, Services = services } });

    /// <summary>The mDNS messages the stack sent (from port 5353).</summary>
    static List<Message> Sent(EngineHarness h) =>
        [.. h.Drain().Select(frame =>
        {
            if (!EthernetFrame.TryParse(frame, out var eth) || eth.EtherType != EtherType.Ipv4 || !Ipv4Packet.TryParse(eth.Payload, out var ip)
                || ip.Protocol != IpProtocol.Udp || !UdpDatagram.TryParse(ip.Payload, out var udp) || udp.SourcePort != 5353)
                return null;
            Assert.True(DnsMessage.TryParse(udp.Payload, out var packet));
            return new Message(ip.Source, ip.Destination, udp.DestinationPort, ip.TimeToLive, packet);
        }).OfType<Message>()];

    /// <summary>A message from a peer on the link (to the group unless <paramref name="to"/> says otherwise).</summary>
    static byte[] From(ReadOnlySpan<byte> message, ushort sourcePort = 5353, Ipv4Address? source = null, Ipv4Address? to = null)
    {
        var from = source ?? Frames.PeerIp;
        var destination = to ?? Group;
        var mac = destination == Group ? GroupMac : Frames.StackMac;
        return Frames.Ethernet(mac, Frames.PeerMac, EtherType.Ipv4,
            Frames.Ipv4(from, destination, IpProtocol.Udp, Frames.UdpMessage(from, destination, sourcePort, 5353, message), ttl: 255));
    }

    static byte[] Query(string name, ushort type, bool unicastResponse = false, ushort id = 0, params (string Name, ushort Type, uint Ttl, byte[] Data)[] known)
    {
        var buffer = new byte[1500];
        var writer = new DnsWriter(buffer);
        writer.Question(DnsName.Encode(name), type, unicastResponse);
        foreach (var (n, t, ttl, data) in known)
            writer.Record(DnsName.Encode(n), t, cacheFlush: false, ttl, data);
        return writer.Finish(id, 0).ToArray();
    }

    static byte[] Response(string name, ushort type, byte[] data, uint ttl = 120)
    {
        var buffer = new byte[1500];
        var writer = new DnsWriter(buffer);
        writer.Record(DnsName.Encode(name), type, cacheFlush: true, ttl, data);
        return writer.Finish(0, 0x8400).ToArray();
    }

    /// <summary>Runs past probing and announcing; the name is claimed.</summary>
    static EngineHarness Claimed(string name = "wirestack", params MdnsService[] services)
    {
        var h = Responder(name, services);
        h.Step(TimeSpan.FromSeconds(3));
        h.Drain();
        return h;
    }

    [Fact(DisplayName = "RFC 6762 8.1 and 8.3: three probes 250 ms apart (the first within 250 ms, asking QU, our A record in authority), then two announcements 1 s apart with cache-flush and TTL 120")]
    public void ProbesThenAnnounces()
    {
        using var h = Responder();
        var timeline = new List<(long At, Message Message)>();
        for (int i = 0; i < 40; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(50));
            timeline.AddRange(Sent(h).Select(m => (h.Now, m)));
        }
        var probes = timeline.Where(t => !t.Message.Packet.IsResponse).ToList();
        Assert.Equal(3, probes.Count);
        Assert.True(probes[0].At <= 300_000);
        Assert.Equal(250_000, probes[1].At - probes[0].At);
        Assert.Equal(250_000, probes[2].At - probes[1].At);
        var probe = probes[0].Message;
        Assert.Equal(Group, probe.Destination);
        Assert.Equal(255, probe.Ttl);   // RFC 6762 11
        Assert.Equal(new DnsQuestion("wirestack.local", DnsType.Any, UnicastResponse: true), Assert.Single(probe.Packet.Questions));
        Assert.False(probes[1].Message.Packet.Questions[0].UnicastResponse);
        var proposed = Assert.Single(probe.Packet.Authorities);
        Assert.Equal(OurAddress, proposed.Data);

        var announcements = timeline.Where(t => t.Message.Packet.IsResponse).ToList();
        Assert.Equal(2, announcements.Count);
        Assert.True(announcements[0].At - probes[2].At is >= 250_000 and <= 300_000);
        Assert.Equal(1_000_000, announcements[1].At - announcements[0].At);
        var records = announcements[0].Message.Packet.Answers;
        Assert.Contains(records, r => r is { Name: "wirestack.local", Type: DnsType.A, CacheFlush: true, TimeToLive: 120 } && r.Data.SequenceEqual(OurAddress));
        var reverse = Assert.Single(records, r => r.Type == DnsType.Ptr);
        Assert.Equal("2.0.168.192.in-addr.arpa", reverse.Name);
        Assert.Equal(DnsName.Encode("wirestack.local"), reverse.Data);
        Assert.Equal("wirestack.local", h.Engine.Mdns!.FullName);
        Assert.Contains(h.TakeEvents(), e => e.Kind == StackEventKind.MdnsHostNameClaimed);
    }

    [Fact(DisplayName = "RFC 6762 9: a response claiming the name during probing means a conflict: the next name (wirestack-2.local) is probed and announced, and an event says so")]
    public void ConflictRenames()
    {
        using var h = Responder();
        h.Advance(TimeSpan.FromMilliseconds(300));
        Assert.NotEmpty(Sent(h));
        h.Inject(From(Response("wirestack.local", DnsType.A, [192, 168, 0, 99])));
        Assert.Equal("wirestack-2.local", h.Engine.Mdns!.FullName);
        Assert.Equal(1, h.Count(StackCounter.MdnsConflicts));
        Assert.Contains(h.TakeEvents(), e => e.Kind == StackEventKind.MdnsHostNameConflict && e.Message.Contains("wirestack.local is taken"));
        h.Step(TimeSpan.FromSeconds(3));
        var sent = Sent(h);
        Assert.Equal(3, sent.Count(m => !m.Packet.IsResponse && m.Packet.Questions[0].Name == "wirestack-2.local"));
        Assert.Contains(sent, m => m.Packet.IsResponse && m.Packet.Answers.Any(r => r.Name == "wirestack-2.local"));

        // After the name is ours, a host claiming it with other data is a conflict too: probing again (9).
        h.Inject(From(Response("wirestack-2.local", DnsType.A, [192, 168, 0, 98])));
        Assert.Equal(MdnsState.Probing, h.Engine.Mdns.State);
        // Our own record repeated by another cache is no conflict.
        using var other = Claimed();
        other.Inject(From(Response("wirestack.local", DnsType.A, OurAddress)));
        Assert.Equal(MdnsState.Ready, other.Engine.Mdns!.State);
    }

    [Fact(DisplayName = "Rename attack: conflicts forced on a 63-byte host name and instance name keep each a valid label (the name is cut to make room for the number) and the responder keeps going")]
    public void RenamesFitTheLabel()
    {
        string longName = new('h', 63);
        var service = Web with { InstanceName = new string('é', 31) + "x" };   // 63 bytes of UTF-8
        using var h = Responder(longName, service);
        for (int round = 0; round < 12; round++)
        {
            h.Advance(TimeSpan.FromMilliseconds(300));
            var mdns = h.Engine.Mdns!;
            h.Inject(From(Response(mdns.FullName, DnsType.A, [192, 168, 0, 99])));
            var srv = new byte[6 + DnsName.Encode("elsewhere.local").Length];
            DnsName.Encode("elsewhere.local").CopyTo(srv, 6);
            h.Inject(From(Response(mdns.Services[0].FullName, DnsType.Srv, srv)));
        }
        var responder = h.Engine.Mdns!;
        Assert.EndsWith("-13.local", responder.FullName);
        Assert.Equal(63, responder.HostName.Length);
        Assert.Equal(63, System.Text.Encoding.UTF8.GetByteCount(responder.Services[0].Instance));
        Assert.EndsWith(" (13)", responder.Services[0].Instance);
        h.Step(TimeSpan.FromSeconds(20));
        Assert.Equal(MdnsState.Ready, responder.State);
    }

    [Fact(DisplayName = "RFC 6762 8.2: a simultaneous probe for the same name whose records sort later wins: this host waits 1 s and probes again")]
    public void SimultaneousProbeTieBreak()
    {
        using var h = Responder();
        h.Advance(TimeSpan.FromMilliseconds(260));
        Sent(h);
        var buffer = new byte[512];
        var writer = new DnsWriter(buffer);
        writer.Question(DnsName.Encode("wirestack.local"), DnsType.Any, true);
        writer.Current = DnsWriter.Section.Authority;
        writer.Record(DnsName.Encode("wirestack.local"), DnsType.A, false, 120, [192, 168, 0, 200]);   // later than ours
        h.Inject(From(writer.Finish(0, 0)));
        h.Step(TimeSpan.FromMilliseconds(900));
        Assert.Empty(Sent(h));
        h.Step(TimeSpan.FromSeconds(3));
        Assert.Equal("wirestack.local", h.Engine.Mdns!.FullName);
        Assert.Contains(Sent(h), m => m.Packet.IsResponse);
    }

    [Fact(DisplayName = "RFC 6762 6: a query is answered by multicast with our A record (and nothing while probing); the same record is multicast at most once a second; reverse PTR queries are answered")]
    public void AnswersAndRateLimits()
    {
        using var h = Claimed();
        h.Step(TimeSpan.FromSeconds(2));
        h.Inject(From(Query("WireStack.local", DnsType.A)));
        var answer = Assert.Single(Sent(h));
        Assert.Equal(Group, answer.Destination);
        Assert.Equal(5353, answer.DestinationPort);
        var record = Assert.Single(answer.Packet.Answers);
        Assert.Equal(OurAddress, record.Data);
        Assert.True(answer.Packet.IsResponse);
        h.Inject(From(Query("wirestack.local", DnsType.A)));
        Assert.Empty(Sent(h));
        Assert.Equal(1, h.Count(StackCounter.DropMdnsRateLimited));
        h.Step(TimeSpan.FromSeconds(1));
        h.Inject(From(Query("wirestack.local", DnsType.A)));
        Assert.Single(Sent(h));
        h.Inject(From(Query("2.0.168.192.in-addr.arpa", DnsType.Ptr)));
        Assert.Equal(DnsName.Encode("wirestack.local"), Assert.Single(Assert.Single(Sent(h)).Packet.Answers).Data);
        h.Inject(From(Query("other.local", DnsType.A)));
        Assert.Empty(Sent(h));

        using var probing = Responder();
        probing.Advance(TimeSpan.FromMilliseconds(300));
        Sent(probing);
        probing.Inject(From(Query("wirestack.local", DnsType.A)));
        Assert.Empty(Sent(probing));
    }

    [Fact(DisplayName = "RFC 6762 7.1: known-answer suppression: a query that already holds our record with at least half its TTL gets no answer; with less it does")]
    public void KnownAnswerSuppression()
    {
        using var h = Claimed();
        h.Step(TimeSpan.FromSeconds(2));
        h.Inject(From(Query("wirestack.local", DnsType.A, known: ("wirestack.local", DnsType.A, 60, OurAddress))));
        Assert.Empty(Sent(h));
        h.Inject(From(Query("wirestack.local", DnsType.A, known: ("wirestack.local", DnsType.A, 59, OurAddress))));
        Assert.Single(Sent(h));
    }

    [Fact(DisplayName = "RFC 6762 5.4 and 6.7: a QU question gets a unicast answer to 5353; a legacy query from another port gets its ID and question back, TTL 10, no cache-flush, by unicast")]
    public void UnicastAnswers()
    {
        using var h = Claimed();
        h.Inject(From(Query("wirestack.local", DnsType.A, unicastResponse: true)));
        h.Step(TimeSpan.FromSeconds(40));   // a quarter of the TTL since the last multicast
        Sent(h);
        h.Inject(From(Query("wirestack.local", DnsType.A, unicastResponse: true)));
        var unicast = Assert.Single(Sent(h));
        Assert.Equal(Frames.PeerIp, unicast.Destination);
        Assert.Equal(5353, unicast.DestinationPort);

        h.Inject(From(Query("wirestack.local", DnsType.A, id: 0x1234), sourcePort: 40000, to: Frames.StackIp));
        var legacy = Assert.Single(Sent(h));
        Assert.Equal(Frames.PeerIp, legacy.Destination);
        Assert.Equal(40000, legacy.DestinationPort);
        Assert.Equal(0x1234, legacy.Packet.Id);
        Assert.Equal("wirestack.local", Assert.Single(legacy.Packet.Questions).Name);
        var record = Assert.Single(legacy.Packet.Answers);
        Assert.Equal(10u, record.TimeToLive);
        Assert.False(record.CacheFlush);
    }

    [Fact(DisplayName = "RFC 6762 10.1: at shutdown the responder says goodbye: every record with TTL 0")]
    public void GoodbyeOnShutdown()
    {
        using var h = Claimed();
        h.Engine.Shutdown();
        var goodbye = Assert.Single(Sent(h));
        Assert.True(goodbye.Packet.IsResponse);
        Assert.All(goodbye.Packet.Answers, r => Assert.Equal(0u, r.TimeToLive));
        Assert.Contains(goodbye.Packet.Answers, r => r.Type == DnsType.A);
    }

    [Fact(DisplayName = "Hostile mDNS: compression loops, forward pointers, truncated records, oversized counts, a nonzero opcode and off-link sources are counted and dropped; a query flood gets one multicast answer a second and bounded unicast answers")]
    public void HostilePacketsDropped()
    {
        using var h = Claimed();
        h.Step(TimeSpan.FromSeconds(2));
        byte[] loop = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1];                     // a name pointing at itself
        byte[] forward = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 14, 0, 0, 1, 0, 1];               // a pointer forwards
        var truncated = Query("wirestack.local", DnsType.A, known: ("wirestack.local", DnsType.A, 120, OurAddress))[..^3];
        var counts = Query("wirestack.local", DnsType.A);
        BinaryPrimitives.WriteUInt16BigEndian(counts.AsSpan(6), 5000);
        var opcode = Query("wirestack.local", DnsType.A);
        opcode[2] = 0x28;   // opcode 5 (update)
        foreach (var bad in new[] { loop, forward, truncated, counts, opcode })
            h.Inject(From(bad));
        Assert.Equal(5, h.Count(StackCounter.DropMdnsMalformed));
        h.Inject(From(Query("wirestack.local", DnsType.A), source: Ipv4Address.Parse("10.9.9.9")));
        Assert.Equal(1, h.Count(StackCounter.DropMdnsOffLink));
        Assert.Empty(Sent(h));

        for (int i = 0; i < 1000; i++)
            h.Inject(From(Query("wirestack.local", DnsType.A)));
        Assert.Single(Sent(h));
        for (int i = 0; i < 1000; i++)
            h.Inject(From(Query("wirestack.local", DnsType.A, id: (ushort)i), sourcePort: 40000, to: Frames.StackIp));
        Assert.InRange(Sent(h).Count, 1, 25);
    }

    [Fact(DisplayName = "RFC 6763 4, 9 and 12.1: a PTR query for _http._tcp.local gets the instance, with its SRV (port, host), TXT and the host's address as additional records; the service-type enumeration lists _http._tcp.local")]
    public void DnsSdAnswers()
    {
        using var h = Claimed("wirestack", Web);
        h.Step(TimeSpan.FromSeconds(2));
        h.Inject(From(Query("_http._tcp.local", DnsType.Ptr)));
        var answer = Assert.Single(Sent(h)).Packet;
        var ptr = Assert.Single(answer.Answers);
        Assert.False(ptr.CacheFlush);   // shared record
        Assert.Equal(4500u, ptr.TimeToLive);
        Assert.Equal(DnsName.Encode("Wirestack dashboard._http._tcp.local"), ptr.Data);
        var srv = Assert.Single(answer.Additionals, r => r.Type == DnsType.Srv);
        Assert.Equal("Wirestack dashboard._http._tcp.local", srv.Name);
        Assert.Equal(80, BinaryPrimitives.ReadUInt16BigEndian(srv.Data.AsSpan(4)));
        Assert.Equal(DnsName.Encode("wirestack.local"), srv.Data[6..]);
        Assert.True(srv.CacheFlush);
        var txt = Assert.Single(answer.Additionals, r => r.Type == DnsType.Txt);
        Assert.Equal([6, .. "path=/"u8.ToArray()], txt.Data);
        Assert.Contains(answer.Additionals, r => r.Type == DnsType.A && r.Data.SequenceEqual(OurAddress));

        h.Inject(From(Query("_services._dns-sd._udp.local", DnsType.Ptr)));
        Assert.Equal(DnsName.Encode("_http._tcp.local"), Assert.Single(Assert.Single(Sent(h)).Packet.Answers).Data);
        h.Step(TimeSpan.FromSeconds(1));
        h.Inject(From(Query("Wirestack dashboard._http._tcp.local", DnsType.Srv)));
        Assert.Equal(DnsType.Srv, Assert.Single(Assert.Single(Sent(h)).Packet.Answers).Type);
    }

    [Fact(DisplayName = "RFC 6762 8.1 and 9 for DNS-SD: the service instance name is probed with the host name; one another host holds becomes 'Name (2)'")]
    public void ServiceInstanceConflict()
    {
        using var h = Responder("wirestack", Web);
        h.Advance(TimeSpan.FromMilliseconds(300));
        var probe = Assert.Single(Sent(h)).Packet;
        Assert.Equal(["wirestack.local", "Wirestack dashboard._http._tcp.local"], probe.Questions.Select(q => q.Name));
        Assert.Contains(probe.Authorities, r => r.Type == DnsType.Srv);
        var other = new byte[6 + DnsName.Encode("elsewhere.local").Length];
        DnsName.Encode("elsewhere.local").CopyTo(other, 6);
        h.Inject(From(Response("Wirestack dashboard._http._tcp.local", DnsType.Srv, other)));
        Assert.Equal("Wirestack dashboard (2)", Assert.Single(h.Engine.Mdns!.Services).Instance);
        Assert.Equal("wirestack.local", h.Engine.Mdns.FullName);
        h.Step(TimeSpan.FromSeconds(3));
        Assert.Contains(Sent(h), m => m.Packet.IsResponse && m.Packet.Answers.Any(r => r.Name == "Wirestack dashboard (2)._http._tcp.local"));
        Assert.Contains(h.TakeEvents(), e => e.Kind == StackEventKind.MdnsHostNameClaimed && e.Message.Contains("'Wirestack dashboard (2)'"));
    }

    sealed class RecordingTransport : IMdnsTransport
    {
        public List<(DnsMessage Packet, IpAddress To)> Sent { get; } = [];

        public void Send(ReadOnlySpan<byte> message, IpAddress destination, ushort port)
        {
            Assert.True(DnsMessage.TryParse(message, out var packet));
            Sent.Add((packet, destination));
        }
    }

    [Fact(DisplayName = "RFC 6762 8.4 and 10.1: when an address goes, its records get a goodbye (TTL 0) and the rest is announced again; a new address is announced; probes and announcements go to both groups")]
    public void AddressChangesAnnounced()
    {
        var transport = new RecordingTransport();
        var responder = new MdnsResponder("wirestack", [], new Random(1), transport, _ => true, new StackCounters());
        IpAddress v4 = Frames.StackIp, v6 = IpAddress.Parse("fe80::2"), global = IpAddress.Parse("2001:db8::2");
        responder.Start([v4, v6], 0);
        for (long now = 0; now < 3_000_000; now += 50_000)
            responder.Run(now);
        Assert.Equal(MdnsState.Ready, responder.State);
        Assert.Contains(transport.Sent, s => s.To == MdnsResponder.Ipv4Group);
        Assert.Contains(transport.Sent, s => s.To == MdnsResponder.Ipv6Group);
        transport.Sent.Clear();

        responder.SetAddresses([v4, global], 3_000_000);
        var goodbye = transport.Sent[0].Packet;
        Assert.All(goodbye.Answers, r => Assert.Equal(0u, r.TimeToLive));
        Assert.Contains(goodbye.Answers, r => r.Type == DnsType.Aaaa && r.Data.SequenceEqual(IPAddress.Parse("fe80::2").GetAddressBytes()));
        Assert.DoesNotContain(goodbye.Answers, r => r.Type == DnsType.A);
        responder.Run(3_000_000);
        var announcement = transport.Sent.Last().Packet;
        Assert.Contains(announcement.Answers, r => r.Type == DnsType.Aaaa && r.TimeToLive == 120 && r.Data.SequenceEqual(IPAddress.Parse("2001:db8::2").GetAddressBytes()));
        Assert.Contains(announcement.Answers, r => r.Type == DnsType.A && r.TimeToLive == 120);
    }
}
