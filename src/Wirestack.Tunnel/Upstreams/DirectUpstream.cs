using System.Net;
using System.Net.Sockets;

namespace Wirestack.Tunnel.Upstreams;

/// <summary>Flows go straight to their destinations through the host's own sockets.</summary>
internal sealed class DirectUpstream(HostSockets sockets, TimeSpan connectTimeout) : Upstream
{
    public override string Name => "direct";
    public override bool CarriesUdp => true;
    public override bool CarriesPing => true;

    public HostSockets Sockets => sockets;

    public override Task<Socket> ConnectAsync(IPEndPoint destination, CancellationToken cancellationToken) =>
        sockets.ConnectAsync(destination, connectTimeout, $"connecting to {destination}", cancellationToken);

    public override Task<UpstreamDatagrams> OpenDatagramsAsync(CancellationToken cancellationToken)
    {
        var socket = sockets.Create(SocketType.Dgram, ProtocolType.Udp);
        try
        {
            // One port for the session whatever it sends to: the host's NAT, if any, then maps it endpoint-independently too.
            socket.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return Task.FromResult<UpstreamDatagrams>(new SocketDatagrams(socket));
    }

    sealed class SocketDatagrams(Socket socket) : UpstreamDatagrams
    {
        static readonly IPEndPoint AnyEndPoint = new(IPAddress.IPv6Any, 0);

        IPEndPoint? _lastDestination;
        SocketAddress? _lastAddress;

        public override async ValueTask SendAsync(ReadOnlyMemory<byte> payload, IPEndPoint destination, CancellationToken cancellationToken)
        {
            // A session mostly sends to one destination: its socket address is made once, not per datagram.
            if (!ReferenceEquals(destination, _lastDestination))
            {
                _lastDestination = destination;
                _lastAddress = HostSockets.DualMode(destination).Serialize();
            }
            await socket.SendToAsync(payload, SocketFlags.None, _lastAddress!, cancellationToken).ConfigureAwait(false);
        }

        public override async ValueTask WaitAsync(CancellationToken cancellationToken) =>
            await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.Peek, cancellationToken).ConfigureAwait(false);

        public override async ValueTask<(int Length, IPEndPoint From)> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            while (true)
            {
                try
                {
                    var result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, AnyEndPoint, cancellationToken).ConfigureAwait(false);
                    return (result.ReceivedBytes, HostSockets.Unmapped((IPEndPoint)result.RemoteEndPoint));
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
                {
                    // An ICMP port unreachable for an earlier datagram: UDP goes on.
                }
            }
        }

        public override ValueTask DisposeAsync()
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
