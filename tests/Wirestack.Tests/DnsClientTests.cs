using System.Net;
using System.Net.Sockets;
using Wirestack.Dns;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>The engine's DNS client alone, against a scripted server on the far end of the link, on the virtual clock.</summary>
public sealed class DnsClientTests
{
    static readonly Ipv4Address MdnsGroup = Ipv4Address.Parse("224.0.0.251");

    static DnsQuerySettings Settings(int attempts = 2) => new([Frames.PeerIp], 2_000_000, attempts, 1_000_000);

    sealed record Query(ushort SourcePort, Ipv4Address Destination, ushort DestinationPort, DnsMessage Message)
    {
        public ushort Type => Message.Questions[0].Type;
    }

    /// <summary>The DNS queries the engine sent since the last call.</summary>
    static List<Query> Queries(EngineHarness h) =>
        [.. h.Drain().Select(frame =>
        {
            if (!EthernetFrame.TryParse(frame, out var eth) || eth.EtherType != EtherType.Ipv4 || !Ipv4Packet.TryParse(eth.Payload, out var ip)
                || ip.Protocol != IpProtocol.Udp || !UdpDatagram.TryParse(ip.Payload, out var udp) || !DnsMessage.TryParse(udp.Payload, out var message))
                return null;
            return new Query(udp.SourcePort, ip.Destination, udp.DestinationPort, message);
        }).OfType<Query>()];

    static byte[] Answer(Query query, int code = 0, Ipv4Address? from = null, ushort fromPort = 53, ushort? id = null,
        params (string Name, ushort Type, uint Ttl, byte[] Data)[] answers)
    {
        var buffer = new byte[512];
        Assert.True(DnsQuery.TryWrite(buffer, id ?? query.Message.Id, query.Message.Questions[0].Name, query.Type, out int length));
        var response = DnsMessageTests.Response(buffer[..length], code, answers);
        var source = from ?? Frames.PeerIp;
        return Frames.Ethernet(Frames.StackMac, Frames.PeerMac, EtherType.Ipv4,
            Frames.Ipv4(source, Frames.StackIp, IpProtocol.Udp, Frames.UdpMessage(source, Frames.StackIp, fromPort, query.SourcePort, response)));
    }

    sealed class Outcome
    {
        public (IPAddress[] Addresses, SocketError Error)? Result;
        public void Take(IPAddress[] addresses, SocketError error) => Result = (addresses, error);
    }

    [Fact(DisplayName = "RFC 1035 7.2 on the engine clock: a silent server is asked again after the timeout, from a new port with a new ID (RFC 5452 9.2), and after the last round the answer is TryAgain with every port given back")]
    public void TimeoutsAndRoundsRunOnTheEngineClock()
    {
        using var h = new EngineHarness();
        var outcome = new Outcome();
        h.Engine.Dns.Resolve("example.com", Settings(), outcome.Take);
        var first = Queries(h);
        Assert.Equal([DnsType.A, DnsType.Aaaa], first.Select(q => q.Type).Order());
        Assert.All(first, q => Assert.Equal((Frames.PeerIp, (ushort)53), (q.Destination, q.DestinationPort)));
        h.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.Empty(Queries(h));
        h.Advance(TimeSpan.FromMilliseconds(1));
        var second = Queries(h);
        Assert.Equal(2, second.Count);
        Assert.All(second, q => Assert.DoesNotContain(first, f => f.SourcePort == q.SourcePort));
        Assert.Null(outcome.Result);
        h.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(SocketError.TryAgain, outcome.Result?.Error);
        Assert.Equal(0, h.Engine.Dns.WorkInFlight);
        Assert.Empty(h.Engine.Udp.Bindings);
        Assert.Equal(long.MaxValue, h.Engine.Dns.NextDeadline);
    }

    [Fact(DisplayName = "RFC 1035 7.4 and RFC 2308 5: an answer is cached until its TTL passes on the engine clock, a NODATA answer for 60 s, and only what expired is asked again")]
    public void CacheExpiresOnTheEngineClock()
    {
        using var h = new EngineHarness();
        var outcome = new Outcome();
        h.Engine.Dns.Resolve("example.com", Settings(), outcome.Take);
        foreach (var query in Queries(h))
            h.Inject(query.Type == DnsType.A ? Answer(query, answers: ("example.com", DnsType.A, 30, [10, 9, 9, 9])) : Answer(query));
        Assert.Equal([IPAddress.Parse("10.9.9.9")], outcome.Result?.Addresses);

        h.Advance(TimeSpan.FromSeconds(29));
        outcome.Result = null;
        h.Engine.Dns.Resolve("example.com", Settings(), outcome.Take);
        Assert.Equal([IPAddress.Parse("10.9.9.9")], outcome.Result?.Addresses);
        Assert.Empty(Queries(h));

        h.Advance(TimeSpan.FromSeconds(2));
        outcome.Result = null;
        h.Engine.Dns.Resolve("example.com", Settings(), outcome.Take);
        var asked = Queries(h);
        Assert.Equal([DnsType.A], asked.Select(q => q.Type));
        h.Inject(Answer(asked[0], answers: ("example.com", DnsType.A, 30, [10, 9, 9, 8])));
        Assert.Equal([IPAddress.Parse("10.9.9.8")], outcome.Result?.Addresses);
    }

    [Fact(DisplayName = "RFC 8305 3 on the engine clock: with one family's answer in, the other is waited for 50 ms and no longer; its late answer still fills the cache")]
    public void ResolutionDelay()
    {
        using var h = new EngineHarness();
        var outcome = new Outcome();
        h.Engine.Dns.Resolve("example.com", Settings(), outcome.Take);
        var queries = Queries(h);
        var a = queries.Single(q => q.Type == DnsType.A);
        var aaaa = queries.Single(q => q.Type == DnsType.Aaaa);
        h.Inject(Answer(a, answers: ("example.com", DnsType.A, 300, [10, 9, 9, 9])));
        h.Advance(TimeSpan.FromMilliseconds(49));
        Assert.Null(outcome.Result);
        h.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal([IPAddress.Parse("10.9.9.9")], outcome.Result?.Addresses);

        h.Inject(Answer(aaaa, answers: ("example.com", DnsType.Aaaa, 300, IPAddress.Parse("2001:db8::9").GetAddressBytes())));
        outcome.Result = null;
        h.Engine.Dns.Resolve("example.com", Settings(), outcome.Take);
        Assert.Equal([IPAddress.Parse("10.9.9.9"), IPAddress.Parse("2001:db8::9")], outcome.Result?.Addresses);
        Assert.Empty(Queries(h));
    }

    [Fact(DisplayName = "RFC 5452 9.1 spoofed answers: a response from another address, another port or with another ID is ignored; the server's own answer is taken")]
    public void SpoofedAnswersAreIgnored()
    {
        using var h = new EngineHarness();
        var outcome = new Outcome();
        h.Engine.Dns.Resolve("example.com", Settings(attempts: 1), outcome.Take);
        var queries = Queries(h);
        var a = queries.Single(q => q.Type == DnsType.A);
        (string, ushort, uint, byte[]) forged = ("example.com", DnsType.A, 300, [6, 6, 6, 6]);
        h.Inject(Answer(a, from: Ipv4Address.Parse("192.168.0.66"), answers: forged));
        h.Inject(Answer(a, fromPort: 5353, answers: forged));
        h.Inject(Answer(a, id: (ushort)(a.Message.Id + 1), answers: forged));
        foreach (var aaaa in queries.Where(q => q.Type == DnsType.Aaaa))
            h.Inject(Answer(aaaa));
        Assert.Null(outcome.Result);
        h.Inject(Answer(a, answers: ("example.com", DnsType.A, 300, [10, 9, 9, 9])));
        Assert.Equal([IPAddress.Parse("10.9.9.9")], outcome.Result?.Addresses);
    }

    [Fact(DisplayName = "RFC 1035 4.1.1: NXDOMAIN ends the question at once (HostNotFound), where a server failure passes it on")]
    public void NameErrorEndsIt()
    {
        using var h = new EngineHarness();
        var outcome = new Outcome();
        h.Engine.Dns.Resolve("nowhere.example", Settings(), outcome.Take);
        var queries = Queries(h);
        h.Inject(Answer(queries[0], code: 2));
        var retried = Queries(h);
        Assert.Equal(queries[0].Type, Assert.Single(retried).Type);
        h.Inject(Answer(retried[0], code: 3));
        h.Inject(Answer(queries[1], code: 3));
        Assert.Equal(SocketError.HostNotFound, outcome.Result?.Error);
        Assert.Empty(h.Engine.Udp.Bindings);
    }

    [Fact(DisplayName = "Flood of lookups (an application resolving thousands of names at once): at most 256 pieces of work and ports are held, the rest fail at once with TryAgain, and all is given back after the timeouts")]
    public void WorkInFlightIsBounded()
    {
        using var h = new EngineHarness();
        var outcomes = Enumerable.Range(0, 300).Select(_ => new Outcome()).ToList();
        for (int i = 0; i < outcomes.Count; i++)
            h.Engine.Dns.Resolve($"host{i}.example", Settings(attempts: 1), outcomes[i].Take);
        Assert.InRange(h.Engine.Dns.WorkInFlight, 200, DnsClient.MaxWork);
        Assert.InRange(h.Engine.Udp.Bindings.Count(), 1, DnsClient.MaxWork);
        Assert.Contains(outcomes, o => o.Result?.Error == SocketError.TryAgain);
        h.Drain();
        h.Advance(TimeSpan.FromSeconds(3));
        Assert.All(outcomes, o => Assert.Equal(SocketError.TryAgain, o.Result?.Error));
        Assert.Equal(0, h.Engine.Dns.WorkInFlight);
        Assert.Empty(h.Engine.Udp.Bindings);
    }

    [Fact(DisplayName = "RFC 6762 5.1 on the engine clock: a .local name is asked of the link's group from an ephemeral port, again halfway through the wait, and is not found when nobody answers; an answer from off the link does not count (11)")]
    public void LocalNamesAskTheLink()
    {
        using var h = new EngineHarness();
        var outcome = new Outcome();
        h.Engine.Dns.Resolve("printer.local", Settings(), outcome.Take);
        var first = Queries(h);
        Assert.All(first, q => Assert.Equal((MdnsGroup, (ushort)5353), (q.Destination, q.DestinationPort)));
        Assert.All(first, q => Assert.NotEqual(5353, q.SourcePort));
        var a = first.Single(q => q.Type == DnsType.A);
        h.Inject(Answer(a, from: Ipv4Address.Parse("10.1.1.1"), fromPort: 5353, answers: ("printer.local", DnsType.A, 120, [10, 1, 1, 1])));
        h.Advance(TimeSpan.FromMilliseconds(499));
        Assert.Empty(Queries(h));
        h.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, Queries(h).Count);
        Assert.Null(outcome.Result);
        h.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(SocketError.HostNotFound, outcome.Result?.Error);
        Assert.Equal(0, h.Engine.Dns.WorkInFlight);
    }
}
