using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Wirestack.Tunnel.Upstreams;

namespace Wirestack.Tunnel;

/// <summary>
/// Forwarded TCP flows: each client handshake waits while the upstream connection opens, then completes (or is
/// refused, or answered unreachable, as the upstream was), and bytes cross both ways with half-closes passed on.
/// </summary>
internal sealed class TcpRelay(Upstream upstream, DestinationPolicy policy, DnsRedirect? dns, TunnelCounters counters, ILogger logger)
{
    const string Transport = "tcp";
    const int ChunkSize = 64 * 1024;

    public Task RunAsync(TcpForwarder forwarder, CancellationToken stop) =>
        RelayLoop.RunAsync(forwarder.AcceptAsync, request => HandleAsync(request, stop), logger, stop);

    async Task HandleAsync(TcpForwardRequest request, CancellationToken stop)
    {
        if (!policy.Allows(request.Destination.Address))
        {
            counters.Denied(Transport);
            request.Unreachable(ForwardUnreachable.Prohibited);
            return;
        }
        Socket server;
        try
        {
            server = await upstream.ConnectAsync(dns?.Target(request.Destination) ?? request.Destination, stop).ConfigureAwait(false);
        }
        catch (UpstreamException e)
        {
            logger.LogDebug("TCP {Source} -> {Destination}: {Reason}", request.Source, request.Destination, e.Message);
            counters.Failed(Transport, e.Failure.ToString());
            Answer(request, e.Failure);
            return;
        }
        catch (OperationCanceledException)
        {
            request.Drop();
            return;
        }
        TcpConnection client;
        try
        {
            client = await request.AcceptAsync(stop).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client gave up, or the stack stops: the upstream connection goes too.
            Reset(server);
            return;
        }
        counters.Opened(Transport);
        logger.LogDebug("TCP {Source} -> {Destination} open via {Upstream}", request.Source, request.Destination, upstream.Name);
        try
        {
            await using (client.ConfigureAwait(false))
            using (server)
                await PumpAsync(client, server, stop).ConfigureAwait(false);
        }
        finally
        {
            counters.Closed(Transport);
        }
    }

    static void Answer(TcpForwardRequest request, UpstreamFailure failure)
    {
        switch (failure)
        {
            case UpstreamFailure.Refused:
                request.Refuse();
                break;
            case UpstreamFailure.NetworkUnreachable:
                request.Unreachable(ForwardUnreachable.Network);
                break;
            case UpstreamFailure.Prohibited:
                request.Unreachable(ForwardUnreachable.Prohibited);
                break;
            default:
                request.Unreachable(ForwardUnreachable.Host);
                break;
        }
    }

    /// <summary>
    /// Both directions until both have ended; a failure either way resets both ends (a proxy that dies mid-transfer
    /// is a reset at the client, not a clean end of data).
    /// </summary>
    async Task PumpAsync(TcpConnection client, Socket server, CancellationToken stop)
    {
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var up = ClientToServerAsync(client, server, failed.Token);
        var down = ServerToClientAsync(server, client, failed.Token);
        var first = await Task.WhenAny(up, down).ConfigureAwait(false);
        var other = first == up ? down : up;
        if (first.Result && await other.ConfigureAwait(false))
            return;
        // One way failed: both ends learn it at once, and the other direction ends on the cancellation or the reset.
        failed.Cancel();
        client.Abort();
        Reset(server);
        await other.ConfigureAwait(false);
    }

    /// <summary>The client's bytes straight from the stack's receive ring (nothing held while idle); false on failure.</summary>
    async Task<bool> ClientToServerAsync(TcpConnection client, Socket server, CancellationToken cancellationToken)
    {
        var input = client.Input;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
                await SendAsync(server, result.Buffer, cancellationToken).ConfigureAwait(false);
                counters.Carried(Transport, upstream: true, result.Buffer.Length);
                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    server.Shutdown(SocketShutdown.Send);
                    return true;
                }
            }
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>
    /// The most pieces one gathered send takes (within the kernel's IOV_MAX of 1024): 1 MiB of the stack's 4 KiB
    /// buffer chunks.
    /// </summary>
    const int MaxPiecesPerSend = 256;

    /// <summary>
    /// What the stack's receive ring holds, in one system call per <see cref="MaxPiecesPerSend"/> chunks rather than
    /// one per 4 KiB chunk: the kernel's send path is most of a relayed byte's cost.
    /// </summary>
    static async ValueTask SendAsync(Socket server, ReadOnlySequence<byte> data, CancellationToken cancellationToken)
    {
        if (data.IsSingleSegment)
        {
            for (var rest = data.First; !rest.IsEmpty;)
                rest = rest[await server.SendAsync(rest, cancellationToken).ConfigureAwait(false)..];
            return;
        }
        var pieces = ArrayPool<ArraySegment<byte>>.Shared.Rent(MaxPiecesPerSend);
        try
        {
            var position = data.Start;
            while (true)
            {
                int count = 0;
                long length = 0;
                while (count < MaxPiecesPerSend && data.TryGet(ref position, out var memory))
                {
                    if (memory.IsEmpty)
                        continue;
                    if (!MemoryMarshal.TryGetArray(memory, out pieces[count]))
                        throw new InvalidOperationException("The stack's buffers are arrays.");
                    length += memory.Length;
                    count++;
                }
                if (count == 0)
                    return;
                // A stream socket's gathered send completes when all of it is sent (the runtime retries partial writes).
                int sent = await server.SendAsync(new ArraySegment<ArraySegment<byte>>(pieces, 0, count), SocketFlags.None).ConfigureAwait(false);
                if (sent != length)
                    throw new IOException($"A gathered send took {sent} of {length} bytes.");
            }
        }
        finally
        {
            ArrayPool<ArraySegment<byte>>.Shared.Return(pieces, clearArray: true);
        }
    }

    /// <summary>
    /// The server's bytes: a zero-byte receive waits for data without a buffer, so an idle flow holds none; one is
    /// borrowed only while there is something to copy. False on failure.
    /// </summary>
    async Task<bool> ServerToClientAsync(Socket server, TcpConnection client, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await server.ReceiveAsync(Memory<byte>.Empty, cancellationToken).ConfigureAwait(false);
                var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
                try
                {
                    int read = await server.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        client.ShutdownSend();
                        return true;
                    }
                    // A proxy relays in small pieces: what else has arrived goes in the same write, since each write
                    // is a trip to the stack's thread.
                    while (read < buffer.Length && server.Available > 0)
                    {
                        int more = server.Receive(buffer.AsSpan(read), SocketFlags.None, out var error);
                        if (more <= 0 || error != SocketError.Success)
                            break;
                        read += more;
                    }
                    await client.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    counters.Carried(Transport, upstream: false, read);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Closes with a reset (linger 0), so the far end learns the flow failed.</summary>
    static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
        }
        socket.Dispose();
    }
}
