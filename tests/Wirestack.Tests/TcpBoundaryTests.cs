using System.Net.Sockets;

namespace Wirestack.Tests;

/// <summary>The application boundary: disposal completes what is pending, buffers are never used after return, output is bounded.</summary>
public sealed class TcpBoundaryTests
{
    [Fact(DisplayName = "Disposing a TcpConnection completes a pending read and a pending write (ObjectDisposedException or SocketException)")]
    public async Task DisposeCompletesPendingOperations()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = await ConnectedPair.OpenAsync(ct);
        var connection = pair.Outbound;
        // Nothing arrives: the read waits. The peer never reads: the write fills both windows and waits.
        var read = connection.ReadAsync(new byte[100], ct).AsTask();
        var write = connection.WriteAsync(new byte[1 << 20], ct).AsTask();
        await Task.Delay(200, ct);
        Assert.False(read.IsCompleted);
        Assert.False(write.IsCompleted);
        await connection.DisposeAsync();
        var both = Task.WhenAll(read, write);
        await Task.WhenAny(both, Task.Delay(5000, ct));
        Assert.True(read.IsCompleted && write.IsCompleted, "pending operations must complete on dispose");
        Assert.True(read.Exception?.InnerException is ObjectDisposedException or IOException { InnerException: SocketException });
        Assert.True(write.Exception?.InnerException is ObjectDisposedException or IOException { InnerException: SocketException });
    }

    [Fact(DisplayName = "Buffers poisoned on return: 2 MiB through the pipe writer and reader, with disposal racing a read, never shows a returned chunk's bytes")]
    public async Task PoisonedPoolShowsNoUseAfterReturn()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = await ConnectedPair.OpenAsync(ct, poison: true);
        var payload = Frames.RandomBytes(2 << 20, 21);
        var sending = Task.Run(async () =>
        {
            var writer = pair.Outbound.Output;
            for (int offset = 0; offset < payload.Length; offset += 7000)
            {
                int size = Math.Min(7000, payload.Length - offset);
                payload.AsSpan(offset, size).CopyTo(writer.GetSpan(size));
                writer.Advance(size);
                await writer.FlushAsync(ct);
            }
            pair.Outbound.ShutdownSend();
        }, ct);
        var received = new MemoryStream();
        var reader = pair.Inbound.Input;
        while (true)
        {
            var result = await reader.ReadAsync(ct);
            foreach (var segment in result.Buffer)
                received.Write(segment.Span);
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
                break;
        }
        await sending;
        Assert.Equal(payload, received.ToArray());

        // Disposal while a read is waiting: the read ends, and the chunks go back only after it has.
        var pending = pair.Outbound.ReadAsync(new byte[10], ct).AsTask();
        await pair.Outbound.DisposeAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => pending);
    }

    [Fact(DisplayName = "After a reset, a flush completes at once with IsCompleted and later writes are discarded: nothing buffers for a peer that is gone")]
    public async Task OutputAfterResetIsBounded()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = await ConnectedPair.OpenAsync(ct);
        var closed = new TaskCompletionSource();
        pair.Outbound.ConnectionClosed.Register(() => closed.TrySetResult());
        pair.Inbound.Abort();
        await closed.Task.WaitAsync(TimeSpan.FromSeconds(5), ct);
        var writer = pair.Outbound.Output;
        for (int i = 0; i < 1000; i++)
        {
            writer.GetSpan(64 * 1024);
            writer.Advance(64 * 1024);
            var result = await writer.FlushAsync(ct);
            Assert.True(result.IsCompleted);
            Assert.Equal(0, writer.UnflushedBytes);
        }
        // As NetworkStream: the socket error inside an IOException (which HttpClient and SslStream handle).
        var failure = await Assert.ThrowsAsync<IOException>(() => pair.Outbound.WriteAsync(new byte[10], ct).AsTask());
        Assert.IsType<SocketException>(failure.InnerException);
    }

    [Fact(DisplayName = "DisposeAsync closes gracefully: the peer reads every byte written before it, then end of stream")]
    public async Task DisposeAsyncLingers()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = await ConnectedPair.OpenAsync(ct);
        var payload = Frames.RandomBytes(100_000, 5);
        var receiving = Task.Run(async () =>
        {
            var received = new MemoryStream();
            await pair.Inbound.CopyToAsync(received, ct);
            return received.ToArray();
        }, ct);
        await pair.Outbound.WriteAsync(payload, ct);
        await pair.Outbound.DisposeAsync();
        Assert.Equal(payload, await receiving.WaitAsync(TimeSpan.FromSeconds(10), ct));
    }

    [Fact(DisplayName = "A command that throws on the event loop fails its caller only; the stack goes on")]
    public async Task FailingCommandFailsOnlyItsCaller()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = await ConnectedPair.OpenAsync(ct);
        var stack = pair.ClientStack;
        await Assert.ThrowsAsync<InvalidTimeZoneException>(() => stack.InvokeAsync<int>(_ => throw new InvalidTimeZoneException()));
        stack.Post(_ => throw new InvalidTimeZoneException());
        Assert.Equal(42, await stack.InvokeAsync(_ => 42));
        Assert.Null(stack.Failure);
        await pair.Outbound.WriteAsync(new byte[] { 1, 2, 3 }, ct);
        var buffer = new byte[3];
        await pair.Inbound.ReadExactlyAsync(buffer, ct);
        Assert.Equal([1, 2, 3], buffer);
    }

    [Fact(DisplayName = "Public properties are snapshots: they answer while the event loop is busy, and follow configuration changes")]
    public async Task PropertiesNeverWaitForTheLoop()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = await ConnectedPair.OpenAsync(ct);
        var stack = pair.ClientStack;
        using var release = new ManualResetEventSlim();
        stack.Post(_ => release.Wait(TimeSpan.FromSeconds(10)));
        await Task.Delay(50, ct);
        var read = Task.Run(() => (stack.Ipv4Address, stack.Ipv4PrefixLength, stack.Gateway, stack.DnsServers.Count, stack.Lease,
            pair.Outbound.NoDelay, pair.Outbound.UserTimeout), ct);
        bool answered = await Task.WhenAny(read, Task.Delay(2000, ct)) == read;
        release.Set();
        Assert.True(answered, "a property waited for the busy event loop");
        var snapshot = await read;
        Assert.Equal(System.Net.IPAddress.Parse("10.6.0.2"), snapshot.Ipv4Address);
        Assert.Equal(24, snapshot.Ipv4PrefixLength);
    }
}
