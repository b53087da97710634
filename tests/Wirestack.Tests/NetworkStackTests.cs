using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
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

        using var server = right.BindUdp(7);
        using var client = left.BindUdp();
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
        Assert.Contains(left.GetNeighbors(), n => n.Address.Equals(IPAddress.Parse("10.1.0.2")));
        Assert.True(left.GetCounter(StackCounter.UdpDatagramsSent) >= 10);
    }

    [Fact(DisplayName = "UDP send and receive allocate nothing per datagram in steady state (both sides of the application boundary)")]
    public async Task UdpSteadyStateAllocatesNothing()
    {
        var (a, b) = InMemoryLink.CreatePair();
        using var _ = a;
        using var __ = b;
        // IPv6 off: its start-up (DAD, router solicitations, MLD reports and their events) would overlap the measured
        // window; the IPv4 datagram path is what this measures.
        var ipv6 = Ipv6Settings.Disabled();
        await using var left = await NetworkStack.StartAsync(a, Options("10.1.2.1/24") with { MacAddress = Wire.MacAddress.Parse("02:00:00:00:00:0b"), Ipv6 = ipv6 }, TestContext.Current.CancellationToken);
        await using var right = await NetworkStack.StartAsync(b, Options("10.1.2.2/24") with { Ipv6 = ipv6 }, TestContext.Current.CancellationToken);
        await left.WaitUntilReadyAsync(Timeout());
        await right.WaitUntilReadyAsync(Timeout());
        using var server = right.BindUdp(7);
        using var client = left.BindUdp();
        var serverEnd = new IPEndPoint(IPAddress.Parse("10.1.2.2"), 7);
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
        long before = GC.GetTotalAllocatedBytes(precise: true);
        const int Count = 5000;
        await RoundTrips(Count);
        long perDatagram = (GC.GetTotalAllocatedBytes(precise: true) - before) / (2 * Count);
        await client.SendToAsync(new byte[1], serverEnd, TestContext.Current.CancellationToken);
        await echo.WaitAsync(Timeout());
        Assert.True(perDatagram < 32, $"{perDatagram} bytes allocated per datagram");
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
        await using var listener = stack.ListenTcp(80);
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
        var later = Assert.Throws<InvalidOperationException>(() => stack.BindUdp(5));
        Assert.Equal("device driver bug", later.InnerException!.Message);
    }

    [Fact(DisplayName = "Errors surface as SocketException: broadcast without EnableBroadcast, oversize, port in use")]
    public async Task SocketErrors()
    {
        var (a, b) = InMemoryLink.CreatePair();
        using var _ = a;
        using var __ = b;
        await using var stack = await NetworkStack.StartAsync(a, Options("10.1.0.1/24"), TestContext.Current.CancellationToken);
        using var socket = stack.BindUdp(5000);
        var inUse = Assert.Throws<SocketException>(() => stack.BindUdp(5000));
        Assert.Equal(SocketError.AddressAlreadyInUse, inUse.SocketErrorCode);
        var broadcast = await Assert.ThrowsAsync<SocketException>(async () => await socket.SendToAsync(new byte[1], new IPEndPoint(IPAddress.Broadcast, 9), Timeout()));
        Assert.Equal(SocketError.AccessDenied, broadcast.SocketErrorCode);
        socket.EnableBroadcast = true;
        await socket.SendToAsync(new byte[1], new IPEndPoint(IPAddress.Broadcast, 9), Timeout());
        var big = await Assert.ThrowsAsync<SocketException>(async () => await socket.SendToAsync(new byte[70000], new IPEndPoint(IPAddress.Parse("10.1.0.2"), 9), Timeout()));
        Assert.Equal(SocketError.MessageSize, big.SocketErrorCode);
    }

    [Fact(DisplayName = "Disposal: pending receives end with ObjectDisposedException, the loop thread exits, descriptors are released")]
    public async Task DisposeReleasesEverything()
    {
        int descriptorsBefore = Directory.GetFiles("/proc/self/fd").Length;
        var (a, b) = InMemoryLink.CreatePair();
        var stack = await NetworkStack.StartAsync(a, Options("10.1.0.1/24"), TestContext.Current.CancellationToken);
        var socket = stack.BindUdp(7);
        var pending = socket.ReceiveAsync(Timeout()).AsTask();
        using var cancelled = new CancellationTokenSource(50);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await socket.ReceiveAsync(cancelled.Token));
        socket.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending);
        await stack.DisposeAsync();
        await stack.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => stack.BindUdp(8));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => stack.WaitUntilReadyAsync(TestContext.Current.CancellationToken));
        a.Dispose();
        b.Dispose();
        Assert.False(Thread.CurrentThread.Name?.StartsWith("wirestack", StringComparison.Ordinal));
        Assert.InRange(Directory.GetFiles("/proc/self/fd").Length, 0, descriptorsBefore + 1);
    }

    [Fact(DisplayName = "Counters are published on the Wirestack meter: traffic counters on their own, every Drop… counter (and only those) as a reason of wirestack.drops")]
    public async Task MeterPublishesCounters()
    {
        var (a, b) = InMemoryLink.CreatePair();
        using var _ = a;
        using var __ = b;
        await using var stack = await NetworkStack.StartAsync(a, Options("10.1.0.1/24"), TestContext.Current.CancellationToken);
        await stack.WaitUntilReadyAsync(Timeout());
        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == NetworkStack.MeterName)
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string key = instrument.Name;
            foreach (var tag in tags)
            {
                if (tag.Key == "reason")
                    key += "/" + tag.Value;
            }
            lock (seen)
                seen[key] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.True(seen["wirestack.frames_sent"] >= 1);
        Assert.Contains("wirestack.drops/udp_no_listener", seen.Keys);
        // Counters added later by topic (IPv6, IGMP, mDNS) are traffic, not drops, wherever they stand in the enum.
        Assert.Contains("wirestack.ipv6_packets_sent", seen.Keys);
        Assert.Contains("wirestack.mdns_responses_sent", seen.Keys);
        Assert.Contains("wirestack.drops/mdns_malformed", seen.Keys);
        var reasons = seen.Keys.Where(k => k.StartsWith("wirestack.drops/", StringComparison.Ordinal)).ToList();
        Assert.Equal(Enum.GetNames<StackCounter>().Count(n => n.StartsWith("Drop", StringComparison.Ordinal)), reasons.Count);
    }
}
