using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Wirestack.AspNetCore;

/// <summary>Kestrel's transport for <see cref="WirestackEndPoint"/>s; it declines every other kind of end point.</summary>
internal sealed class WirestackTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public bool CanBind(EndPoint endpoint) => endpoint is WirestackEndPoint;

    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not WirestackEndPoint wirestack)
            throw new NotSupportedException($"{endpoint} is not a Wirestack end point.");
        var stack = await wirestack.ResolveAsync(cancellationToken).ConfigureAwait(false);
        var listener = await stack.ListenTcpAsync(wirestack.Port, backlog: 512).ConfigureAwait(false);
        return new WirestackConnectionListener(wirestack, listener);
    }
}

/// <summary>Accepts Wirestack TCP connections as Kestrel connections.</summary>
internal sealed class WirestackConnectionListener(WirestackEndPoint endPoint, TcpListener listener) : IConnectionListener
{
    public EndPoint EndPoint => endPoint;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var connection = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            // As Kestrel's socket transport does by default: a response written in pieces (headers, then body)
            // must not wait for the client's delayed ACK behind Nagle's algorithm.
            connection.NoDelay = true;
            return new WirestackConnectionContext(connection);
        }
        catch (ObjectDisposedException)
        {
            // Unbound: Kestrel expects null once the listener stops.
            return null;
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => listener.DisposeAsync();

    public ValueTask DisposeAsync() => listener.DisposeAsync();
}
