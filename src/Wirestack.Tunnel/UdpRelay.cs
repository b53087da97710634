using System.Buffers;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Wirestack.Tunnel.Upstreams;

namespace Wirestack.Tunnel;

/// <summary>
/// Forwarded UDP sessions (one per client address and port): each gets one upstream path, which every destination
/// the client sends to shares (so the mapping stays endpoint-independent beyond the tunnel too), and whatever comes
/// back on it reaches the client from its true source.
/// </summary>
internal sealed class UdpRelay(Upstream upstream, DestinationPolicy policy, DnsRedirect? dns, TunnelCounters counters, ILogger logger)
{
    const string Transport = "udp";

    public Task RunAsync(UdpForwarder forwarder, CancellationToken stop) =>
        RelayLoop.RunAsync(forwarder.AcceptAsync, session => HandleAsync(session, stop), logger, stop);

    async Task HandleAsync(UdpForwardSession session, CancellationToken stop)
    {
        await using var _ = session.ConfigureAwait(false);
        if (!upstream.CarriesUdp)
        {
            counters.Failed(Transport, "unsupported");
            await DiscardAsync(session, stop).ConfigureAwait(false);
            return;
        }
        UpstreamDatagrams path;
        try
        {
            path = await upstream.OpenDatagramsAsync(stop).ConfigureAwait(false);
        }
        catch (Exception e) when (e is UpstreamException or SocketException)
        {
            logger.LogDebug("UDP {Client}: {Reason}", session.Client, e.Message);
            counters.Failed(Transport, e is UpstreamException u ? u.Failure.ToString() : "error");
            await DiscardAsync(session, stop).ConfigureAwait(false);
            return;
        }
        catch (OperationCanceledException)
        {
            return;
        }
        counters.Opened(Transport);
        try
        {
            await using (path.ConfigureAwait(false))
            {
                using var ended = CancellationTokenSource.CreateLinkedTokenSource(stop);
                var queries = dns is null ? null : new DnsRedirect.Queries(dns);
                var up = ClientToUpstreamAsync(session, path, queries, ended.Token);
                var down = UpstreamToClientAsync(path, session, queries, ended.Token);
                await Task.WhenAny(up, down).ConfigureAwait(false);
                ended.Cancel();
                await Task.WhenAll(up, down).ConfigureAwait(false);
            }
        }
        finally
        {
            counters.Closed(Transport);
        }
    }

    /// <summary>
    /// A session with no way upstream stays open and drops what its client sends until it idles out: ending it at
    /// once would make every next datagram a new session and a new attempt at the proxy.
    /// </summary>
    async Task DiscardAsync(UdpForwardSession session, CancellationToken stop)
    {
        try
        {
            while (true)
            {
                await session.ReceiveAsync(stop).ConfigureAwait(false);
                counters.Dropped(Transport);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    async Task ClientToUpstreamAsync(UdpForwardSession session, UpstreamDatagrams path, DnsRedirect.Queries? queries, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var datagram = await session.ReceiveAsync(cancellationToken).ConfigureAwait(false);
                // What else has arrived goes too before the next wait: one wake-up per burst, not per datagram.
                do
                {
                    if (!policy.Allows(datagram.Destination.Address))
                    {
                        counters.Denied(Transport);
                        continue;
                    }
                    var destination = queries?.Send(datagram.Payload, datagram.Destination) ?? datagram.Destination;
                    await path.SendAsync(datagram.Payload, destination, cancellationToken).ConfigureAwait(false);
                    counters.Carried(Transport, upstream: true, datagram.Payload.Length);
                }
                while (session.TryReceive(out datagram));
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The session ended (idle, evicted, the stack stopping) or the path failed: the session closes.
        }
    }

    /// <summary>Datagrams back to the client from their true sources; a buffer is borrowed only while one is in hand.</summary>
    async Task UpstreamToClientAsync(UpstreamDatagrams path, UdpForwardSession session, DnsRedirect.Queries? queries, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await path.WaitAsync(cancellationToken).ConfigureAwait(false);
                var buffer = ArrayPool<byte>.Shared.Rent(65536);
                try
                {
                    var (length, from) = await path.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
                    if (queries is not null)
                        from = queries.Received(buffer.AsSpan(0, length), from);
                    await session.SendAsync(buffer.AsMemory(0, length), from, cancellationToken).ConfigureAwait(false);
                    counters.Carried(Transport, upstream: false, length);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.AccessDenied or SocketError.AddressNotAvailable or SocketError.MessageSize)
                {
                    // Filtered (address-dependent), another family than the client's, or too large: this datagram only.
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }
}
