using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Wirestack.Devices;

namespace Wirestack.Tests;

/// <summary>Counts the process's descriptors, so nothing else may run beside it.</summary>
[CollectionDefinition(nameof(DescriptorCounting), DisableParallelization = true)]
public sealed class DescriptorCounting;

[Collection(nameof(DescriptorCounting))]
public sealed class NetworkStackTests
{
    static StackOptions Options(string address) => new() { Ipv4 = Ipv4Settings.Static(address) };

    static CancellationToken Timeout(int seconds = 10) =>
        CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken, new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token).Token;

    [Fact(DisplayName = "Two stacks on their own threads exchange UDP datagrams through the async API")]
    public async Task UdpBetweenStacks()
    {
        var (a, b) = InMemoryLink.CreatePair();
        using var _ = a;
        using var __ = b;
        await using var left = await NetworkStack.StartAsync(a, Options("10.1.0.1/24") with { MacAddress = Wire.MacAddress.Parse("02:00:00:00:00:0a") }, TestContext.Current.CancellationToken);
        await using var right = await NetworkStack.StartAsync(b, Options("10.1.0.2/24"), TestContext.Current.CancellationToken);
        await left.WaitUntilReadyAsync(Timeout());
        await right.WaitUntilReadyAsync(Timeout());

        using var server = await right.BindUdpAsync(7);
        using var client = await left.BindUdpAsync();
        Assert.InRange(client.LocalPort, 49152, 65535);
        var echo = Task.Run(async () =>
        {
            for (int i = 0; i < 10; i++)
            {
                var got = await server.ReceiveAsync(Timeout());
                await server.SendToAsync(got.Buffer, got.RemoteEndPoint, Timeout());
            }
        }, TestContext.Current.CancellationToken);
        for (int i = 0; i < 10; i++)
        {
            var payload = Frames.RandomBytes(100 * i + 1, i);
            await client.SendToAsync(payload, new IPEndPoint(IPAddress.Parse("10.1.0.2"), 7), Timeout());
            var reply = await client.ReceiveAsync(Timeout());
            Assert.Equal(payload, reply.Buffer);
            Assert.Equal(new IPEndPoint(IPAddress.Parse("10.1.0.2"), 7), reply.RemoteEndPoint);
        }
        await echo;
        Assert.Equal(IPAddress.Parse("10.1.0.1"), left.Ipv4Address);
        Assert.Equal(24, left.Ipv4PrefixLength);
        Assert.Contains(await left.GetNeighborsAsync(TestContext.Current.CancellationToken), n => n.Address.Equals(IPAddress.Parse("10.1.0.2")));
        Assert.True(left.GetCounter(StackCounter.UdpDatagramsSent) >= 10);
    }

    /// <summary>
    /// Bytes allocated in the whole process per call of <paramref name="run"/>'s unit, the least of five windows:
    /// what the stack allocates shows in every window, a runtime thread's occasional work (thread injection, a
    /// timer, tiering's background compilation after a full test run) in some at most. The types the runtime sampled
    /// meanwhile come back too, so a failure says what allocated.
    /// </summary>
    static async Task<(long PerCall, string Sampled)> LeastAllocatedPerCall(Func<int, Task> run, int count)
    {
        using var sampler = new AllocationSampler();
        long least = long.MaxValue;
        for (int window = 0; window < 5; window++)
        {
            sampler.Start();
            long before = GC.GetTotalAllocatedBytes(precise: true);
            await run(count);
            least = Math.Min(least, (GC.GetTotalAllocatedBytes(precise: true) - before) / count);
            sampler.Stop();
        }
        return (least, sampler.Summary());
    }

    [Fact(DisplayName = "UDP send and receive allocate nothing per datagram in steady state (both sides of the application boundary)")]
    public async Task UdpSteadyStateAllocatesNothing()
    {
        await using var pair = await StackPair.StartAsync("10.1.2", TestContext.Current.CancellationToken);
        using var server = await pair.Right.BindUdpAsync(7);
        using var client = await pair.Left.BindUdpAsync();
        var serverEnd = new IPEndPoint(pair.RightAddress, 7);
        var payload = new byte[100];
        var serverBuffer = new byte[2048];
        var clientBuffer = new byte[2048];
        var echo = Task.Run(async () =>
        {
            while (true)
            {
                var got = await server.ReceiveFromAsync(serverBuffer);
                if (got.ReceivedBytes == 1)
                    return;
                await server.SendToAsync(serverBuffer.AsMemory(0, got.ReceivedBytes), (IPEndPoint)got.RemoteEndPoint);
            }
        }, TestContext.Current.CancellationToken);
        async Task RoundTrips(int count)
        {
            for (int i = 0; i < count; i++)
            {
                await client.SendToAsync(payload, serverEnd);
                await client.ReceiveFromAsync(clientBuffer);
            }
        }
        await RoundTrips(2000); // warm up: JIT, pools, tiered compilation
        var (perRoundTrip, sampled) = await LeastAllocatedPerCall(RoundTrips, 5000);
        long perDatagram = perRoundTrip / 2;
        await client.SendToAsync(new byte[1], serverEnd, TestContext.Current.CancellationToken);
        await echo.WaitAsync(Timeout());
        // Sends and receives reuse their operation objects rather than the runtime's pooled async state (a cache per
        // thread and core that misses when continuations move between threads), so nothing at all.
        Assert.True(perDatagram == 0, $"{perDatagram} bytes allocated per datagram; sampled: {sampled}");
    }

    [Fact(DisplayName = "TCP request and response through the PipeReader and PipeWriter (Kestrel's way) allocate nothing per exchange in steady state")]
    public async Task TcpSteadyStateAllocatesNothing()
    {
        await using var pair = await StackPair.StartAsync("10.1.3", TestContext.Current.CancellationToken);
        await using var listener = await pair.Right.ListenTcpAsync(80);
        await using var client = await pair.Left.ConnectTcpAsync(new IPEndPoint(pair.RightAddress, 80), TestContext.Current.CancellationToken);
        await using var server = await listener.AcceptAsync(TestContext.Current.CancellationToken);
        client.NoDelay = true;
        server.NoDelay = true;
        const int Size = 200;
        // The test's own awaits pool their state too, so what is measured is the stack's.
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        static async ValueTask Send(System.IO.Pipelines.PipeWriter output)
        {
            output.GetSpan(Size)[..Size].Fill(7);
            output.Advance(Size);
            await output.FlushAsync();
        }
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        static async ValueTask Receive(System.IO.Pipelines.PipeReader input)
        {
            long seen = 0;
            while (seen < Size)
            {
                var result = await input.ReadAsync();
                seen = result.Buffer.Length;
                input.AdvanceTo(seen < Size ? result.Buffer.Start : result.Buffer.GetPosition(Size), result.Buffer.End);
            }
        }
        var echo = Task.Run(async () =>
        {
            while (true)
            {
                var result = await server.Input.ReadAsync();
                if (result.IsCompleted && result.Buffer.IsEmpty)
                    return;
                if (result.Buffer.Length < Size)
                {
                    server.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                    continue;
                }
                server.Input.AdvanceTo(result.Buffer.GetPosition(Size));
                await Send(server.Output);
            }
        }, TestContext.Current.CancellationToken);
        async Task Exchanges(int count)
        {
            for (int i = 0; i < count; i++)
            {
                await Send(client.Output);
                await Receive(client.Input);
            }
        }
        await Exchanges(2000); // warm up: JIT, pools, tiered compilation
        var (perExchange, sampled) = await LeastAllocatedPerCall(Exchanges, 5000);
        client.ShutdownSend();
        await echo.WaitAsync(Timeout());
        // Nothing of the stack's own; the pipe's reads and flushes are async methods on the runtime's pooled state,
        // which can miss now and then when continuations move between threads (UDP no longer depends on it).
        Assert.True(perExchange < 64, $"{perExchange} bytes allocated per request and response; sampled: {sampled}");
    }

    [Fact(DisplayName = "StateChanged reports Down -> LinkUp -> Configuring -> Ready in order, and Down when the link drops")]
    public async Task StateEvents()
    {
        var (a, b) = InMemoryLink.CreatePair();
        using var _ = a;
        using var __ = b;
        a.IsLinkUp = false;
        var states = new List<StackState>();
        var sawDown = new TaskCompletionSource();
        await using var stack = await NetworkStack.StartAsync(a, Options("10.1.0.1/24"), TestContext.Current.CancellationToken);
        stack.StateChanged += (_, e) =>
        {
            lock (states)
                states.Add(e.Current);
            if (e.Current == StackState.Down)
                sawDown.TrySetResult();
        };
        Assert.Equal(StackState.Down, stack.State);
        a.IsLinkUp = true;
        await stack.WaitUntilReadyAsync(Timeout());
        a.IsLinkUp = false;
        await sawDown.Task.WaitAsync(Timeout());
        lock (states)
            Assert.Equal([StackState.LinkUp, StackState.Configuring, StackState.Ready, StackState.Down], states);
    }

    [Fact(DisplayName = "Create, subscribe, Start: a handler attached before Start sees every state change")]
    public async Task CreateThenStartMissesNothing()
    {
        var (a, b) = InMemoryLink.CreatePair();
        using var _ = a;
        using var __ = b;
        await using var stack = NetworkStack.Create(a, Options("10.1.0.1/24"));
        var states = new List<StackState>();
        var ready = new TaskCompletionSource();
        stack.StateChanged += (_, e) =>
        {
            lock (states)
                states.Add(e.Current);
            if (e.Current == StackState.Ready)
                ready.TrySetResult();
        };
        await using var listener = await stack.ListenTcpAsync(80);
        stack.Start();
        stack.Start();
        await ready.Task.WaitAsync(Timeout());
        lock (states)
            Assert.Equal([StackState.LinkUp, StackState.Configuring, StackState.Ready], states);
    }

    sealed class BrokenDevice : INetworkDevice
    {
        public LinkMedium Medium => LinkMedium.Ethernet;
        public int Mtu => 1500;
        public bool IsLinkUp => true;
        public bool TryReceive(Span<byte> buffer, long nowMicroseconds, out int length) => throw new InvalidDataException("device driver bug");
        public bool TrySend(ReadOnlySpan<byte> frame, long nowMicroseconds) => true;
        public void WaitForFrames(int timeoutMilliseconds, DeviceWakeup wakeup) => Thread.Sleep(1);
        public void Dispose()
        {
        }
    }

    [Fact(DisplayName = "A failing event loop is never silent: waiting and later calls throw with the cause inside")]
    public async Task LoopFailureSurfaces()
    {
        await using var stack = await NetworkStack.StartAsync(new BrokenDevice(), Options("10.1.0.1/24"), TestContext.Current.CancellationToken);
        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => stack.WaitUntilReadyAsync(Timeout()));
        Assert.IsType<InvalidDataException>(failed.InnerException);
        Assert.IsType<InvalidDataException>(stack.Failure);
        var later = await Assert.ThrowsAsync<InvalidOperationException>(() => stack.BindUdpAsync(5));
        Assert.Equal("device driver bug", later.InnerException!.Message);
    }

    [Fact(DisplayName = "Errors surface as SocketException: broadcast without EnableBroadcast, oversize, port in use")]
    public async Task SocketErrors()
    {
        var (a, b) = InMemoryLink.CreatePair();
        using var _ = a;
        using var __ = b;
        await using var stack = await NetworkStack.StartAsync(a, Options("10.1.0.1/24"), TestContext.Current.CancellationToken);
        using var socket = await stack.BindUdpAsync(5000);
        var inUse = await Assert.ThrowsAsync<SocketException>(() => stack.BindUdpAsync(5000));
        Assert.Equal(SocketError.AddressAlreadyInUse, inUse.SocketErrorCode);
        var broadcast = await Assert.ThrowsAsync<SocketException>(async () => await socket.SendToAsync(new byte[1], new IPEndPoint(IPAddress.Broadcast, 9), Timeout()));
        Assert.Equal(SocketError.AccessDenied, broadcast.SocketErrorCode);
        socket.EnableBroadcast = true;
        await socket.SendToAsync(new byte[1], new IPEndPoint(IPAddress.Broadcast, 9), Timeout());
        var big = await Assert.ThrowsAsync<SocketException>(async () => await socket.SendToAsync(new byte[70000], new IPEndPoint(IPAddress.Parse("10.1.0.2"), 9), Timeout()));
        Assert.Equal(SocketError.MessageSize, big.SocketErrorCode);
    }

    [Fact(DisplayName = "ReceiveFromAsync and SendToAsync reuse their operations safely: eight concurrent receives get eight distinct datagrams, concurrent sends all arrive, a cancelled receive leaves the socket working, disposal ends a pending receive")]
    public async Task ReusedOperationsUnderConcurrency()
    {
        await using var pair = await StackPair.StartAsync("10.1.4", TestContext.Current.CancellationToken);
        var server = await pair.Right.BindUdpAsync(7);
        using var client = await pair.Left.BindUdpAsync();
        var serverEnd = new IPEndPoint(pair.RightAddress, 7);
        for (int round = 0; round < 20; round++)
        {
            var buffers = Enumerable.Range(0, 8).Select(_ => new byte[16]).ToArray();
            var receives = buffers.Select(buffer => server.ReceiveFromAsync(buffer, Timeout()).AsTask()).ToArray();
            await Task.WhenAll(Enumerable.Range(0, 8).Select(i => client.SendToAsync(new[] { (byte)round, (byte)i }, serverEnd, Timeout()).AsTask()));
            var results = await Task.WhenAll(receives);
            Assert.All(results, r => Assert.Equal(2, r.ReceivedBytes));
            Assert.Equal(Enumerable.Range(0, 8), buffers.Select(b => (int)b[1]).Order());
            Assert.All(buffers, b => Assert.Equal(round, b[0]));
        }
        using (var cancelled = new CancellationTokenSource(50))
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await server.ReceiveFromAsync(new byte[16], cancelled.Token));
        await client.SendToAsync(new byte[] { 42 }, serverEnd, Timeout());
        var after = new byte[16];
        Assert.Equal(1, (await server.ReceiveFromAsync(after, Timeout())).ReceivedBytes);
        Assert.Equal(42, after[0]);
        var pending = server.ReceiveFromAsync(new byte[16], Timeout()).AsTask();
        server.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending);
    }

    [Fact(DisplayName = "Disposal: pending receives end with ObjectDisposedException, the loop thread exits, descriptors are released")]
    public async Task DisposeReleasesEverything()
    {
        int descriptorsBefore = Directory.GetFiles("/proc/self/fd").Length;
        var (a, b) = InMemoryLink.CreatePair();
        var stack = await NetworkStack.StartAsync(a, Options("10.1.0.1/24"), TestContext.Current.CancellationToken);
        var socket = await stack.BindUdpAsync(7);
        var pending = socket.ReceiveAsync(Timeout()).AsTask();
        using var cancelled = new CancellationTokenSource(50);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await socket.ReceiveAsync(cancelled.Token));
        socket.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending);
        await stack.DisposeAsync();
        await stack.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => stack.BindUdpAsync(8));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => stack.WaitUntilReadyAsync(TestContext.Current.CancellationToken));
        a.Dispose();
        b.Dispose();
        Assert.False(Thread.CurrentThread.Name?.StartsWith("wirestack", StringComparison.Ordinal));
        Assert.InRange(Directory.GetFiles("/proc/self/fd").Length, 0, descriptorsBefore + 1);
    }

    [Fact(DisplayName = "Counters are published on the Wirestack meter in OpenTelemetry's shape: each counter once, as an instrument and attributes (network.io.direction, network.type, error.type for every Drop… counter and only those), with units")]
    public async Task MeterPublishesCounters()
    {
        var (a, b) = InMemoryLink.CreatePair();
        using var _ = a;
        using var __ = b;
        // Other tests' stacks publish on the same meter name; the host's factory, as the meter's scope, tells ours apart.
        using var factory = new ScopeMeterFactory();
        await using var stack = await NetworkStack.StartAsync(a, Options("10.1.0.1/24") with { MeterFactory = factory }, TestContext.Current.CancellationToken);
        await stack.WaitUntilReadyAsync(Timeout());
        var seen = new Dictionary<string, long>();
        var units = new Dictionary<string, string?>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == NetworkStack.MeterName && instrument.Meter.Scope == factory)
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var attributes = new List<string>();
            foreach (var tag in tags)
            {
                if (tag.Key != "network.interface.name")
                    attributes.Add($"{tag.Key}={tag.Value}");
                else
                    Assert.Equal(a.ToString(), tag.Value);
            }
            attributes.Sort(StringComparer.Ordinal);
            lock (seen)
            {
                Assert.True(seen.TryAdd($"{instrument.Name}{{{string.Join(',', attributes)}}}", value), "one series per counter");
                units[instrument.Name] = instrument.Unit;
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.Equal(Enum.GetValues<StackCounter>().Length, seen.Count);
        Assert.True(seen["wirestack.link.packets{network.io.direction=transmit}"] >= 1);
        Assert.True(seen["wirestack.link.io{network.io.direction=transmit}"] >= 60);
        Assert.Equal("By", units["wirestack.link.io"]);
        Assert.Equal("{packet}", units["wirestack.packets.dropped"]);
        Assert.Contains("wirestack.ip.packets{network.io.direction=transmit,network.type=ipv6}", seen.Keys);
        Assert.Contains("wirestack.messages{network.io.direction=transmit,network.protocol.name=mdns,wirestack.message.type=response}", seen.Keys);
        var reasons = seen.Keys.Where(k => k.StartsWith("wirestack.packets.dropped{", StringComparison.Ordinal)).ToList();
        Assert.Contains("wirestack.packets.dropped{error.type=udp_no_listener}", reasons);
        // Counters added later by topic (IPv6, IGMP, mDNS) are traffic, not drops, wherever they stand in the enum.
        Assert.Contains("wirestack.packets.dropped{error.type=mdns_malformed}", reasons);
        Assert.Equal(Enum.GetNames<StackCounter>().Count(n => n.StartsWith("Drop", StringComparison.Ordinal)), reasons.Count);
    }

    [Fact(DisplayName = "docs/articles/metrics.md lists every instrument the meter publishes, with its unit, and no other")]
    public void MetricsTableMatchesTheMeter()
    {
        string table = File.ReadAllText(Path.Combine(Wirestack.Testing.RepositoryRoot.Path, "docs", "articles", "metrics.md"));
        var documented = System.Text.RegularExpressions.Regex.Matches(table, @"^\| `(wirestack\.[a-z_.]+)` \| `([^`]+)` \|", System.Text.RegularExpressions.RegexOptions.Multiline)
            .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        var published = Wirestack.Hosting.StackMeter.Mappings.Values.Select(m => m.Instrument).Distinct()
            .ToDictionary(i => i.Name, i => i.Unit);
        Assert.Equal(published.OrderBy(p => p.Key, StringComparer.Ordinal), documented.OrderBy(d => d.Key, StringComparer.Ordinal));
    }

    sealed class ScopeMeterFactory : IMeterFactory
    {
        public Meter Create(MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }
}
