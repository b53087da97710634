using System.Net;
using System.Net.Sockets;

namespace Wirestack.Tunnel.Upstreams;

/// <summary>
/// Where forwarded flows go on: the host's own sockets, a SOCKS5 proxy or an HTTP CONNECT proxy. Each opens a TCP
/// connection to a destination (a connected socket, whatever handshake the proxy needed) and, where it can, a
/// datagram path for one client's UDP session.
/// </summary>
internal abstract class Upstream
{
    /// <summary>How the upstream is named in logs: "direct", "socks5 10.0.0.1:1080".</summary>
    public abstract string Name { get; }

    /// <summary>True when UDP sessions can go through it.</summary>
    public abstract bool CarriesUdp { get; }

    /// <summary>True when ping can go through it (only the host's own sockets can).</summary>
    public virtual bool CarriesPing => false;

    /// <summary>A socket connected to <paramref name="destination"/>, ready for the flow's bytes.</summary>
    /// <exception cref="UpstreamException">The destination or the proxy refused, could not be reached, or timed out.</exception>
    public abstract Task<Socket> ConnectAsync(IPEndPoint destination, CancellationToken cancellationToken);

    /// <summary>A datagram path for one client's UDP session.</summary>
    /// <exception cref="UpstreamException">The proxy refused or could not be reached.</exception>
    /// <exception cref="NotSupportedException">This upstream carries no UDP (<see cref="CarriesUdp"/>).</exception>
    public abstract Task<UpstreamDatagrams> OpenDatagramsAsync(CancellationToken cancellationToken);
}

/// <summary>One UDP session's path upstream: datagrams to any destination, and back from any source.</summary>
internal abstract class UpstreamDatagrams : IAsyncDisposable
{
    public abstract ValueTask SendAsync(ReadOnlyMemory<byte> payload, IPEndPoint destination, CancellationToken cancellationToken);

    /// <summary>
    /// Waits until a datagram from upstream is there to be received, holding no buffer meanwhile (an idle session
    /// costs no receive buffer).
    /// </summary>
    public abstract ValueTask WaitAsync(CancellationToken cancellationToken);

    /// <summary>The next datagram from upstream: its length in <paramref name="buffer"/> (64 KiB holds any) and where it came from.</summary>
    public abstract ValueTask<(int Length, IPEndPoint From)> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();
}

/// <summary>What the client is told when a flow cannot be opened upstream: as if the destination (or a router) answered.</summary>
internal enum UpstreamFailure
{
    /// <summary>The destination refused (a reset).</summary>
    Refused,

    /// <summary>No route to the destination's network.</summary>
    NetworkUnreachable,

    /// <summary>The destination host did not answer, or the attempt timed out.</summary>
    HostUnreachable,

    /// <summary>A policy (the proxy's rules, a firewall) forbids it.</summary>
    Prohibited,
}

/// <summary>A flow could not be opened upstream; <see cref="Failure"/> says what the client is told.</summary>
internal sealed class UpstreamException(UpstreamFailure failure, string message, Exception? inner = null) : Exception(message, inner)
{
    public UpstreamFailure Failure { get; } = failure;

    /// <summary>The failure a socket error from the host's own stack stands for.</summary>
    public static UpstreamException FromSocket(SocketException e, string what) => new(e.SocketErrorCode switch
    {
        SocketError.ConnectionRefused or SocketError.ConnectionReset => UpstreamFailure.Refused,
        SocketError.NetworkUnreachable or SocketError.NetworkDown => UpstreamFailure.NetworkUnreachable,
        SocketError.AccessDenied => UpstreamFailure.Prohibited,
        _ => UpstreamFailure.HostUnreachable,
    }, $"{what}: {e.SocketErrorCode}", e);
}
