using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Wirestack.Tunnel.Upstreams;

namespace Wirestack.Tunnel;

/// <summary>
/// Forwarded ping: each echo request is sent on to its destination from the host (one raw ICMP socket per family,
/// marked and bound like the tunnel's other sockets, <see cref="PingSocket"/>) with the client's sequence number and
/// data, and the client is answered as the destination answered: a reply when it replied (so the round trip is the real one), the
/// destination unreachable a router sent, or nothing when nothing came back in time. Through a proxy, which carries
/// no ICMP, requests are dropped: a local answer would be a lie about the path.
/// </summary>
internal sealed class EchoRelay(Upstream upstream, HostSockets? sockets, DestinationPolicy policy, TunnelCounters counters, ILogger logger) : IDisposable
{
    const string Transport = "icmp";

    /// <summary>Pings in flight at most; more are dropped (each waits up to the timeout, so a flood is bounded).</summary>
    const int MaxInFlight = 256;

    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    readonly SemaphoreSlim _inFlight = new(MaxInFlight);
    readonly Lock _socketsLock = new();
    PingSocket? _ipv4, _ipv6;

    public Task RunAsync(EchoForwarder forwarder, CancellationToken stop) =>
        RelayLoop.RunAsync(forwarder.AcceptAsync, request => HandleAsync(request, stop), logger, stop);

    Task HandleAsync(EchoForwardRequest request, CancellationToken stop)
    {
        if (!policy.Allows(request.Destination))
        {
            counters.Denied(Transport);
            request.Unreachable(ForwardUnreachable.Prohibited);
            return Task.CompletedTask;
        }
        if (!upstream.CarriesPing || sockets is null || !_inFlight.Wait(0))
        {
            request.Drop();
            return Task.CompletedTask;
        }
        return PingAsync(request, sockets, stop);
    }

    async Task PingAsync(EchoForwardRequest request, HostSockets sockets, CancellationToken stop)
    {
        try
        {
            var socket = SocketFor(request.Destination.AddressFamily == AddressFamily.InterNetwork, sockets);
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(stop);
            limit.CancelAfter(Timeout);
            var answer = await socket.PingAsync(request.Destination, request.SequenceNumber, request.Data, limit.Token).ConfigureAwait(false);
            if (answer is null)
                request.Reply();
            else
                request.Unreachable(answer.Value);
            counters.Opened(Transport);
            counters.Closed(Transport);
        }
        catch (OperationCanceledException)
        {
            request.Drop();
        }
        catch (SocketException e)
        {
            logger.LogDebug("ping {Source} -> {Destination}: {Error}", request.Source, request.Destination, e.SocketErrorCode);
            counters.Failed(Transport, e.SocketErrorCode.ToString());
            request.Drop();
        }
        finally
        {
            _inFlight.Release();
        }
    }

    /// <summary>The family's shared socket, made on first use and again after one failed.</summary>
    PingSocket SocketFor(bool ipv4, HostSockets sockets)
    {
        ref var slot = ref ipv4 ? ref _ipv4 : ref _ipv6;
        lock (_socketsLock)
        {
            if (slot is { IsWorking: true })
                return slot;
            slot?.Dispose();
            return slot = new PingSocket(sockets, ipv4);
        }
    }

    public void Dispose()
    {
        lock (_socketsLock)
        {
            _ipv4?.Dispose();
            _ipv6?.Dispose();
        }
        _inFlight.Dispose();
    }
}
