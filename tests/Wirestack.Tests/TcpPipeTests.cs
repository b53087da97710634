using System.Buffers;
using System.Net;
using Wirestack.Devices;

namespace Wirestack.Tests;

/// <summary>Two stacks on an in-memory link with small TCP buffers and one established connection between them.</summary>
internal sealed class ConnectedPair : IAsyncDisposable
{
    readonly InMemoryDevice _a, _b;
    readonly NetworkStack _server, _client;
    readonly TcpListener _listener;

    ConnectedPair(InMemoryDevice a, InMemoryDevice b, NetworkStack server, NetworkStack client, TcpListener listener, TcpConnection outbound, TcpConnection inbound)
    {
        (_a, _b, _server, _client, _listener) = (a, b, server, client, listener);
        Outbound = outbound;
        Inbound = inbound;
    }

    public TcpConnection Outbound { get; }
    public TcpConnection Inbound { get; }
    public NetworkStack ClientStack => _client;

    /// <param name="poison">Both stacks fill buffer chunks as they return to the pool, so a use after return shows.</param>
    public static async Task<ConnectedPair> OpenAsync(CancellationToken ct, bool poison = false)
    {
        var (a, b) = InMemoryLink.CreatePair();
        var small = new TcpSettings { ReceiveBufferSize = 16 * 1024, InitialReceiveWindow = 16 * 1024, SendBufferSize = 16 * 1024 };
        var server = await NetworkStack.StartAsync(a, new StackOptions { Ipv4 = Ipv4Settings.Static("10.6.0.1/24"), MacAddress = Wire.MacAddress.Parse("02:00:00:00:0d:01"), Tcp = small, PoisonReturnedBuffers = poison }, ct);
        var client = await NetworkStack.StartAsync(b, new StackOptions { Ipv4 = Ipv4Settings.Static("10.6.0.2/24"), Tcp = small, PoisonReturnedBuffers = poison }, ct);
        var listener = await server.ListenTcpAsync(9000);
        var accept = listener.AcceptAsync(ct).AsTask();
        // Connecting before the client has bound its address fails with NetworkUnreachable: wait for both.
        await Task.WhenAll(server.WaitUntilReadyAsync(ct), client.WaitUntilReadyAsync(ct));
        var outbound = await client.ConnectTcpAsync(new IPEndPoint(IPAddress.Parse("10.6.0.1"), 9000), ct);
        return new ConnectedPair(a, b, server, client, listener, outbound, await accept);
    }

    public async ValueTask DisposeAsync()
    {
        await Outbound.DisposeAsync();
        await Inbound.DisposeAsync();
        await _listener.DisposeAsync();
        await _client.DisposeAsync();
        await _server.DisposeAsync();
        _a.Dispose();
        _b.Dispose();
    }
}

public sealed class TcpPipeTests
{
    [Fact(DisplayName = "TcpConnection.Input reads the receive ring in place: partial consumption, ring wrap-around, then end of stream")]
    public async Task PipeReaderOverRing()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = await ConnectedPair.OpenAsync(ct);
        var (outbound, inbound) = (pair.Outbound, pair.Inbound);

        // Ten times the ring: the reader's sequences must cross the wrap many times.
        var payload = Frames.RandomBytes(160 * 1024, 9);
        var writer = Task.Run(async () =>
        {
            await outbound.WriteAsync(payload, ct);
            outbound.ShutdownSend();
        }, ct);
        var received = new List<byte>();
        var reader = inbound.Input;
        bool sawTwoSegments = false;
        while (true)
        {
            var result = await reader.ReadAsync(ct);
            var buffer = result.Buffer;
            sawTwoSegments |= !buffer.IsSingleSegment;
            // Consume only part of what is there, marking the rest examined, to exercise both positions.
            var take = buffer.Slice(0, Math.Min(buffer.Length, 3000));
            received.AddRange(take.ToArray());
            reader.AdvanceTo(take.End, buffer.End);
            if (result.IsCompleted && buffer.Length == take.Length)
                break;
        }
        await writer;
        Assert.Equal(payload, received.ToArray());
        Assert.True(sawTwoSegments, "a read should have crossed the ring's end");
        await reader.CompleteAsync();
    }
}

public sealed class TcpPipeWriterTests
{
    [Fact(DisplayName = "TcpConnection.Output carries mixed-size writes and flushes in order to the peer")]
    public async Task PipeWriterKeepsOrder()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = await ConnectedPair.OpenAsync(ct);
        var (outbound, inbound) = (pair.Outbound, pair.Inbound);

        var payload = Frames.RandomBytes(300 * 1024, 11);
        var writer = outbound.Output;
        var sending = Task.Run(async () =>
        {
            // Mixed sizes, some larger than the ring, to force both the in-place and the spill paths.
            int offset = 0, step = 0;
            int[] sizes = [100, 5000, 20000, 1, 64 * 1024, 3000];
            while (offset < payload.Length)
            {
                int size = Math.Min(sizes[step++ % sizes.Length], payload.Length - offset);
                payload.AsSpan(offset, size).CopyTo(writer.GetSpan(size));
                writer.Advance(size);
                offset += size;
                if (step % 2 == 0)
                    await writer.FlushAsync(ct);
            }
            await writer.FlushAsync(ct);
            outbound.ShutdownSend();
        }, ct);
        var received = new MemoryStream();
        await inbound.CopyToAsync(received, ct);
        await sending;
        Assert.Equal(payload, received.ToArray());
    }
}
