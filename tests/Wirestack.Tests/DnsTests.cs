using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Wirestack.Devices;
using Wirestack.Wire;

namespace Wirestack.Tests;

public sealed class DnsMessageTests
{
    static byte[] Name(string name)
    {
        var bytes = new List<byte>();
        foreach (var label in name.Split('.'))
        {
            bytes.Add((byte)label.Length);
            bytes.AddRange(Encoding.ASCII.GetBytes(label));
        }
        bytes.Add(0);
        return bytes.ToArray();
    }

    [Fact(DisplayName = "RFC 1035 4.1.4: compressed names decode; a query round-trips")]
    public void CompressionAndQuery()
    {
        var query = new byte[512];
        Assert.True(DnsQuery.TryWrite(query, 0x1234, "www.example.com", DnsType.A, out int length));
        Assert.True(DnsMessage.TryParse(query.AsSpan(0, length), DnsReadLimits.Unicast, out var message));
        Assert.Equal(0x1234, message.Id);
        Assert.Equal(0x0100, message.Flags);   // a query, recursion desired
        var question = Assert.Single(message.Questions);
        Assert.Equal(("www.example.com", DnsType.A), (question.Name, question.Type));
        Assert.Empty(message.Answers);
        // A pointer back to offset 12 plus a prefix label.
        byte[] bytes = [.. query[..length], 3, (byte)'f', (byte)'o', (byte)'o', 0xC0, 12];
        int offset = length;
        Assert.True(DnsName.TryRead(bytes, ref offset, out var name, printableAscii: true));
        Assert.Equal("foo.www.example.com", name);
        Assert.Equal(bytes.Length, offset);
    }

    [Fact(DisplayName = "RFC 6762 18 and RFC 1035 4.1: the reader takes at most its limit of records a section (64 for mDNS, 512 for a unicast answer) and refuses the whole message past it")]
    public void RecordsPerSectionAreBounded()
    {
        static byte[] WithAnswers(int count)
        {
            var buffer = new byte[12 + count * 17];
            var writer = new DnsWriter(buffer);
            var name = DnsName.Encode("a");
            for (int i = 0; i < count; i++)
                writer.Record(name, DnsType.A, cacheFlush: false, 60, [10, 0, 0, 1]);
            return writer.Finish(1, 0x8400).ToArray();
        }
        Assert.True(DnsMessage.TryParse(WithAnswers(64), DnsReadLimits.Multicast, out var mdns) && mdns.Answers.Count == 64);
        Assert.False(DnsMessage.TryParse(WithAnswers(65), DnsReadLimits.Multicast, out _));
        Assert.True(DnsMessage.TryParse(WithAnswers(512), DnsReadLimits.Unicast, out var unicast) && unicast.Answers.Count == 512);
        Assert.False(DnsMessage.TryParse(WithAnswers(513), DnsReadLimits.Unicast, out _));
    }

    [Theory(DisplayName = "RFC 1035 4.1.4 hostile names: pointer loops, forward pointers and lengths past the end are rejected")]
    [InlineData(new byte[] { 0xC0, 0x00 })]
    [InlineData(new byte[] { 3, (byte)'a', (byte)'b', (byte)'c', 0xC0, 0x04 })]
    [InlineData(new byte[] { 0xC0, 0x05, 0, 0, 0, 0 })]
    [InlineData(new byte[] { 10, (byte)'a', (byte)'b' })]
    [InlineData(new byte[] { 0x40 })]
    [InlineData(new byte[] { 0xC0 })]
    public void HostileNames(byte[] name)
    {
        int offset = 0;
        Assert.False(DnsName.TryRead(name, ref offset, out _, printableAscii: true));
    }

    [Fact(DisplayName = "RFC 1035 4.1.4 pointer-chain attack: backward pointers each two bytes before the last are followed at most 128 times a name, so a 20 KB chain costs a bounded number of steps, not one per pointer")]
    public void PointerChainsAreBounded()
    {
        // "a" at offset 0, then 10,000 pointers, each to the one before it.
        var chain = new byte[3 + 2 * 10_000];
        chain[0] = 1;
        chain[1] = (byte)'a';
        for (int i = 0; i < 10_000; i++)
        {
            int at = 3 + 2 * i, target = i == 0 ? 0 : at - 2;
            chain[at] = (byte)(0xC0 | target >> 8);
            chain[at + 1] = (byte)target;
        }
        int Hops(int pointerIndex, out bool read)
        {
            long before = DnsName.Steps;
            int offset = 3 + 2 * pointerIndex;
            read = DnsName.TryRead(chain, ref offset, out var name);
            Assert.True(!read || name == "a");
            return (int)(DnsName.Steps - before);
        }
        // 128 hops (the last pointer of a chain of 128) read; one more does not.
        Assert.True(Hops(DnsName.MaxPointerHops - 1, out bool read) <= DnsName.MaxPointerHops + 2 && read);
        Assert.True(Hops(DnsName.MaxPointerHops, out read) <= DnsName.MaxPointerHops + 2 && !read);
        Assert.True(Hops(9_999, out read) <= DnsName.MaxPointerHops + 2 && !read);
    }

    [Fact(DisplayName = "Names read as printable ASCII (logs, the resolver) need no escapes: a backslash, a dot inside a label and control bytes each read as '?' (found by fuzzing: a backslash passed through and read back as an escape)")]
    public void PrintableNamesHaveNoEscapes()
    {
        byte[] wire = [5, (byte)'a', (byte)'\\', (byte)'.', 7, (byte)'b', 3, (byte)'c', (byte)'o', (byte)'m', 0];
        int offset = 0;
        Assert.True(DnsName.TryRead(wire, ref offset, out var name, printableAscii: true));
        Assert.Equal("a???b.com", name);
        Assert.Equal(["a???b", "com"], DnsName.Labels(name));
    }

    [Fact(DisplayName = "RFC 1035: 10,000 random messages never throw")]
    public void RandomMessages()
    {
        var random = new Random(1035);
        for (int i = 0; i < 10_000; i++)
        {
            var bytes = new byte[random.Next(0, 300)];
            random.NextBytes(bytes);
            if (bytes.Length > 6)
            {
                bytes[4] = 0;
                bytes[5] = 1;
            }
            foreach (var limits in new[] { DnsReadLimits.Unicast, DnsReadLimits.Multicast })
            {
                if (DnsMessage.TryParse(bytes, limits, out var message))
                {
                    Assert.All(message.Answers, record => Assert.True(record.Data.Length <= limits.MaxDataLength));
                    Assert.True(message.Questions.Count + message.Answers.Count <= 2 * limits.MaxEntries);
                }
            }
        }
    }

    internal static byte[] Response(byte[] query, int code, params (string Name, ushort Type, uint Ttl, byte[] Data)[] answers)
    {
        var bytes = new List<byte>(query);
        bytes[2] = 0x81;
        bytes[3] = (byte)(0x80 | code);
        bytes[6] = (byte)(answers.Length >> 8);
        bytes[7] = (byte)answers.Length;
        foreach (var (name, type, ttl, data) in answers)
        {
            bytes.AddRange(Name(name));
            var fixedPart = new byte[10];
            BinaryPrimitives.WriteUInt16BigEndian(fixedPart, type);
            BinaryPrimitives.WriteUInt16BigEndian(fixedPart.AsSpan(2), 1);
            BinaryPrimitives.WriteUInt32BigEndian(fixedPart.AsSpan(4), ttl);
            BinaryPrimitives.WriteUInt16BigEndian(fixedPart.AsSpan(8), (ushort)data.Length);
            bytes.AddRange(fixedPart);
            bytes.AddRange(data);
        }
        return bytes.ToArray();
    }

    internal static byte[] NameData(string name) => Name(name);
}

/// <summary>The resolver against a scripted DNS server on a second stack over an in-memory link.</summary>
public sealed class DnsResolverTests
{
    sealed class Server : IAsyncDisposable
    {
        readonly CancellationTokenSource _stop = new();
        readonly Task _udp, _tcp;
        public int Queries;

        public static async Task<Server> StartAsync(NetworkStack stack, Func<string, byte[], (byte[] Response, bool Truncate)> answer) =>
            new(await stack.BindUdpAsync(53), await stack.ListenTcpAsync(53), answer);

        Server(UdpSocket socket, TcpListener listener, Func<string, byte[], (byte[] Response, bool Truncate)> answer)
        {
            _udp = Task.Run(async () =>
            {
                using (socket)
                {
                    try
                    {
                        while (true)
                        {
                            var query = await socket.ReceiveAsync(_stop.Token);
                            Interlocked.Increment(ref Queries);
                            var (response, truncate) = answer(QuestionOf(query.Buffer), query.Buffer);
                            if (truncate)
                            {
                                response = (byte[])query.Buffer.Clone();
                                response[2] = 0x83;
                                response[3] = 0x80;
                            }
                            await socket.SendToAsync(response, query.RemoteEndPoint, _stop.Token);
                        }
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
            });
            _tcp = Task.Run(async () =>
            {
                await using (listener)
                {
                    try
                    {
                        while (true)
                        {
                            await using var connection = await listener.AcceptAsync(_stop.Token);
                            var length = new byte[2];
                            await connection.ReadExactlyAsync(length, _stop.Token);
                            var query = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
                            await connection.ReadExactlyAsync(query, _stop.Token);
                            var (response, _) = answer(QuestionOf(query), query);
                            var framed = new byte[response.Length + 2];
                            BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)response.Length);
                            response.CopyTo(framed, 2);
                            await connection.WriteAsync(framed, _stop.Token);
                        }
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
            });
        }

        static string QuestionOf(byte[] query)
        {
            return DnsMessage.TryParse(query, DnsReadLimits.Unicast, out var message) && message.Questions.Count == 1 ? message.Questions[0].Name : "";
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_udp, _tcp);
        }
    }

    static async Task<(NetworkStack Client, NetworkStack ServerStack, IAsyncDisposable Cleanup)> StacksAsync()
    {
        var (a, b) = InMemoryLink.CreatePair();
        var client = await NetworkStack.StartAsync(a, new StackOptions { Ipv4 = Ipv4Settings.Static("10.2.0.1/24", null, "10.2.0.53"), MacAddress = MacAddress.Parse("02:00:00:00:0b:01") });
        var server = await NetworkStack.StartAsync(b, new StackOptions { Ipv4 = Ipv4Settings.Static("10.2.0.53/24") });
        await client.WaitUntilReadyAsync(TestContext.Current.CancellationToken);
        await server.WaitUntilReadyAsync(TestContext.Current.CancellationToken);
        return (client, server, new Cleanup(client, server, a, b));
    }

    sealed class Cleanup(NetworkStack client, NetworkStack server, IDisposable a, IDisposable b) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await client.DisposeAsync();
            await server.DisposeAsync();
            a.Dispose();
            b.Dispose();
        }
    }

    static byte[] A(string address) => IPAddress.Parse(address).GetAddressBytes();

    [Fact(DisplayName = "RFC 1035 7: A records are resolved, cached for their TTL, and numeric addresses need no query")]
    public async Task ResolvesAndCaches()
    {
        var (client, serverStack, cleanup) = await StacksAsync();
        await using var _ = cleanup;
        await using var server = await Server.StartAsync(serverStack, (name, query) =>
            (DnsMessageTests.Response(query, 0, (name, DnsType.A, 300, A("10.9.9.9")), (name, DnsType.A, 300, A("10.9.9.8"))), false));
        var addresses = await client.Dns.ResolveAsync("device.test", TestContext.Current.CancellationToken);
        Assert.Equal([IPAddress.Parse("10.9.9.9"), IPAddress.Parse("10.9.9.8")], addresses);
        await client.Dns.ResolveAsync("DEVICE.test", TestContext.Current.CancellationToken);
        Assert.Equal(2, server.Queries); // one A and one AAAA query, then the cache
        Assert.Equal([IPAddress.Parse("10.1.1.1")], await client.Dns.ResolveAsync("10.1.1.1", TestContext.Current.CancellationToken));
        Assert.Equal(2, server.Queries);
    }

    [Fact(DisplayName = "RFC 6762 3 and 5.1: a .local name is resolved by a one-shot mDNS query that another stack's responder answers (both families); the stack's own mDNS name gives its own addresses; DNS-SD browsing (RFC 6763 4) lists the other stack's service; an unknown .local name is HostNotFound")]
    public async Task ResolvesLocalNamesByMulticast()
    {
        var ct = TestContext.Current.CancellationToken;
        var (a, b) = InMemoryLink.CreatePair();
        await using var asker = await NetworkStack.StartAsync(a, new StackOptions
        {
            Ipv4 = Ipv4Settings.Static("10.3.0.1/24"),
            MacAddress = MacAddress.Parse("02:00:00:00:0c:01"),
            Mdns = new MdnsSettings { HostName = "asker" },
        }, ct);
        await using var printer = await NetworkStack.StartAsync(b, new StackOptions { Ipv4 = Ipv4Settings.Static("10.3.0.2/24"), Mdns = new MdnsSettings
        {
            HostName = "printer",
            Services = [new MdnsService { InstanceName = "Office printer", ServiceType = "_ipp._tcp", Port = 631, Txt = new Dictionary<string, string> { ["rp"] = "ipp/print" } }],
        } }, ct);
        var claimed = new TaskCompletionSource();
        printer.EventRaised += (_, e) => { if (e.Kind == StackEventKind.MdnsHostNameClaimed) claimed.TrySetResult(); };
        await claimed.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
        Assert.Contains(IPAddress.Parse("10.3.0.2"), await asker.Dns.ResolveAsync("printer.local", ct));
        // The AAAA answer may come after the 50 ms resolution delay (its reply needs neighbour discovery first); it
        // still fills the cache.
        var addresses = await asker.Dns.ResolveAsync("printer.local", ct);
        for (int i = 0; i < 30 && !addresses.Any(x => x.IsIPv6LinkLocal); i++)
        {
            await Task.Delay(100, ct);
            addresses = await asker.Dns.ResolveAsync("printer.local", ct);
        }
        Assert.Equal(printer.Ipv6Addresses.Single(x => x.Origin == Ipv6AddressOrigin.LinkLocal).Address, addresses.Single(x => x.IsIPv6LinkLocal));
        Assert.Contains(IPAddress.Parse("10.3.0.1"), await asker.Dns.ResolveAsync("asker.local", ct));
        // RFC 6763 4: browsing finds the instance with its host, port, address and TXT.
        var found = Assert.Single(await asker.Dns.BrowseAsync("_ipp._tcp", cancellationToken: ct));
        Assert.Equal(("Office printer", "printer.local", 631, "ipp/print"), (found.InstanceName, found.HostName, found.Port, found.Txt["rp"]));
        Assert.Contains(IPAddress.Parse("10.3.0.2"), found.Addresses);
        Assert.Empty(await asker.Dns.BrowseAsync("_nothing._tcp", TimeSpan.FromMilliseconds(300), ct));
        var missing = await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(() => asker.Dns.ResolveAsync("nobody.local", ct));
        Assert.Equal(System.Net.Sockets.SocketError.HostNotFound, missing.SocketErrorCode);
        a.Dispose();
        b.Dispose();
    }

    [Fact(DisplayName = "RFC 1034 3.6.2: CNAME chains are followed, within one answer and by a new query")]
    public async Task FollowsCnames()
    {
        var (client, serverStack, cleanup) = await StacksAsync();
        await using var _ = cleanup;
        await using var server = await Server.StartAsync(serverStack, (name, query) => name switch
        {
            "www.test" => (DnsMessageTests.Response(query, 0, ("www.test", DnsType.Cname, 60, DnsMessageTests.NameData("web.test")),
                ("web.test", DnsType.Cname, 60, DnsMessageTests.NameData("host.test"))), false),
            "host.test" => (DnsMessageTests.Response(query, 0, ("host.test", DnsType.A, 60, A("10.3.3.3"))), false),
            _ => (DnsMessageTests.Response(query, 3), false),
        });
        Assert.Equal([IPAddress.Parse("10.3.3.3")], await client.Dns.ResolveAsync("www.test", TestContext.Current.CancellationToken));
    }

    [Fact(DisplayName = "RFC 1035 4.2.1/7.4: a truncated UDP answer is retried over TCP")]
    public async Task TruncatedFallsBackToTcp()
    {
        var (client, serverStack, cleanup) = await StacksAsync();
        await using var _ = cleanup;
        int udp = 0;
        await using var server = await Server.StartAsync(serverStack, (name, query) =>
            (DnsMessageTests.Response(query, 0, (name, DnsType.A, 60, A("10.4.4.4"))), Interlocked.Increment(ref udp) == 1));
        Assert.Equal([IPAddress.Parse("10.4.4.4")], await client.Dns.ResolveAsync("big.test", TestContext.Current.CancellationToken));
    }

    [Fact(DisplayName = "Errors: NXDOMAIN is HostNotFound; a server that never answers is TryAgain")]
    public async Task Errors()
    {
        var (client, serverStack, cleanup) = await StacksAsync();
        await using var _ = cleanup;
        await using (await Server.StartAsync(serverStack, (_, query) => (DnsMessageTests.Response(query, 3), false)))
        {
            var missing = await Assert.ThrowsAsync<SocketException>(() => client.Dns.ResolveAsync("missing.test", TestContext.Current.CancellationToken));
            Assert.Equal(SocketError.HostNotFound, missing.SocketErrorCode);
        }
        var silent = new DnsResolver(client) { Timeout = TimeSpan.FromMilliseconds(200), Servers = [IPAddress.Parse("10.2.0.99")] };
        var timedOut = await Assert.ThrowsAsync<SocketException>(() => silent.ResolveAsync("any.test", TestContext.Current.CancellationToken));
        Assert.Equal(SocketError.TryAgain, timedOut.SocketErrorCode);
    }

    static byte[] Aaaa(string address) => IPAddress.Parse(address).GetAddressBytes();

    /// <summary>Answers A and AAAA questions for dual.test (AAAA: <paramref name="ipv6"/>); NODATA for other types.</summary>
    static (byte[], bool) DualStack(string name, byte[] query, string ipv6, string ipv4)
    {
        bool aaaa = DnsMessage.TryParse(query, DnsReadLimits.Unicast, out var message) && message.Questions[0].Type == DnsType.Aaaa;
        return aaaa
            ? (DnsMessageTests.Response(query, 0, (name, DnsType.Aaaa, 60, Aaaa(ipv6))), false)
            : (DnsMessageTests.Response(query, 0, (name, DnsType.A, 60, A(ipv4))), false);
    }

    [Fact(DisplayName = "RFC 3596: AAAA records are resolved beside A records; without a global IPv6 address IPv4 comes first (RFC 6724 6)")]
    public async Task ResolvesBothFamilies()
    {
        var (client, serverStack, cleanup) = await StacksAsync();
        await using var _ = cleanup;
        await using var server = await Server.StartAsync(serverStack, (name, query) => DualStack(name, query, "2001:db8::5", "10.2.0.53"));
        var addresses = await client.Dns.ResolveAsync("dual.test", TestContext.Current.CancellationToken);
        Assert.Equal([IPAddress.Parse("10.2.0.53"), IPAddress.Parse("2001:db8::5")], addresses);
    }

    [Fact(DisplayName = "RFC 8305 5: Happy Eyeballs: an IPv6 address that does not answer is overtaken by IPv4 after the 250 ms attempt delay")]
    public async Task HappyEyeballsFallsBack()
    {
        var (client, serverStack, cleanup) = await StacksAsync();
        await using var _ = cleanup;
        // fe80::dead is on link but nobody holds it: neighbour discovery for it goes unanswered for seconds.
        await using var server = await Server.StartAsync(serverStack, (name, query) => DualStack(name, query, "fe80::dead", "10.2.0.53"));
        await using var listener = await serverStack.ListenTcpAsync(8080);
        for (int i = 0; i < 50 && !client.Ipv6Addresses.Any(a => a.State == Ipv6AddressState.Preferred); i++)
            await Task.Delay(100, TestContext.Current.CancellationToken);
        var order = Hosting.HappyEyeballs.Interleave([IPAddress.Parse("fe80::dead"), IPAddress.Parse("fe80::beef"), IPAddress.Parse("10.2.0.53")]);
        Assert.Equal([IPAddress.Parse("fe80::dead"), IPAddress.Parse("10.2.0.53"), IPAddress.Parse("fe80::beef")], order);

        var started = System.Diagnostics.Stopwatch.StartNew();
        await using var connection = await Hosting.HappyEyeballs.ConnectAsync(client, [IPAddress.Parse("fe80::dead"), IPAddress.Parse("10.2.0.53")], 8080,
            TestContext.Current.CancellationToken);
        Assert.Equal(IPAddress.Parse("10.2.0.53"), connection.RemoteEndPoint.Address);
        // The runtime's timers count whole milliseconds, so the 250 ms delay may end up to a millisecond before the
        // stopwatch says (it read 249.9 ms once); the attempt still waited the delay, not less.
        Assert.InRange(started.Elapsed, Hosting.HappyEyeballs.AttemptDelay - TimeSpan.FromMilliseconds(2), TimeSpan.FromSeconds(2.5));
        // By name, through the resolver: the same outcome.
        await using var byName = await client.ConnectTcpAsync("dual.test", 8080, TestContext.Current.CancellationToken);
        Assert.Equal(IPAddress.Parse("10.2.0.53"), byName.RemoteEndPoint.Address);
    }

    [Fact(DisplayName = "Search domains: a single label is tried in each search domain first, then alone; a trailing dot makes it absolute")]
    public async Task SearchDomains()
    {
        var (client, serverStack, cleanup) = await StacksAsync();
        await using var _ = cleanup;
        await using var server = await Server.StartAsync(serverStack, (name, query) => name switch
        {
            "printer.home.test" => DualStack(name, query, "2001:db8::9", "10.2.0.9"),
            "printer" => DualStack(name, query, "2001:db8::8", "10.2.0.8"),
            _ => (DnsMessageTests.Response(query, 3), false),
        });
        var resolver = new DnsResolver(client) { SearchDomains = ["lan.test", "home.test"] };
        Assert.Contains(IPAddress.Parse("10.2.0.9"), await resolver.ResolveAsync("printer", TestContext.Current.CancellationToken));
        Assert.Contains(IPAddress.Parse("10.2.0.8"), await resolver.ResolveAsync("printer.", TestContext.Current.CancellationToken));
    }
}
