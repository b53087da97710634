using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Wirestack.Engine;
using Wirestack.Hosting;

namespace Wirestack;

/// <summary>
/// Every TCP flow the stack's interface receives for an address that is not its own (the stack of a VPN or proxy
/// client on a TUN): each new flow's SYN comes out of <see cref="AcceptAsync"/> as a <see cref="TcpForwardRequest"/>
/// before the handshake completes, so the application can connect upstream first and answer the client as the
/// destination did. Made by <see cref="NetworkStack.ForwardTcpAsync"/>; one per stack at a time.
/// </summary>
public sealed class TcpForwarder : IAsyncDisposable
{
    readonly NetworkStack _stack;
    readonly OfferQueue<TcpForwardRequest> _requests;

    internal TcpForwarder(NetworkStack stack, int capacity)
    {
        _stack = stack;
        // As many as the engine holds undecided: past that the oldest is the one the engine dropped or will drop.
        _requests = new OfferQueue<TcpForwardRequest>(nameof(TcpForwarder), capacity, BoundedChannelFullMode.DropOldest, dropped => dropped.Drop());
        Events = new ForwardEvents(this);
    }

    internal ITcpForwardEvents Events { get; }

    /// <summary>Waits for the next flow's request. Decide each one: accept, refuse, unreachable or drop (undecided ones are dropped after <see cref="ForwardingSettings.DecisionTimeout"/>).</summary>
    /// <exception cref="ObjectDisposedException">The forwarder was disposed.</exception>
    public async ValueTask<TcpForwardRequest> AcceptAsync(CancellationToken cancellationToken = default)
    {
        return await _requests.TakeAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops forwarding: flows not yet decided are dropped, new ones to other addresses are dropped again; accepted ones go on.</summary>
    public ValueTask DisposeAsync()
    {
        if (_requests.TryClose())
            _stack.Post(engine => engine.Tcp.SetForwarder(null));
        return ValueTask.CompletedTask;
    }

    sealed class ForwardEvents(TcpForwarder owner) : ITcpForwardEvents
    {
        public void OnRequest(TcpForwardPending request) => owner._requests.TryOffer(new TcpForwardRequest(owner._stack, request));
    }
}

/// <summary>
/// One forwarded flow's SYN, waiting for the application's answer: <see cref="AcceptAsync"/> (the SYN-ACK goes out
/// from <see cref="Destination"/>), <see cref="Refuse"/> (a reset: "connection refused"), <see cref="Unreachable"/> (an
/// ICMP error) or <see cref="Drop"/> (silence; the client retries and its retry is a new request). One answer only.
/// </summary>
public sealed class TcpForwardRequest
{
    readonly NetworkStack _stack;
    readonly TcpForwardPending _pending;
    int _decided;

    internal TcpForwardRequest(NetworkStack stack, TcpForwardPending pending)
    {
        _stack = stack;
        _pending = pending;
        Source = new IPEndPoint(pending.Key.RemoteAddress.ToIPAddress(), pending.Key.RemotePort);
        Destination = new IPEndPoint(pending.Key.LocalAddress.ToIPAddress(), pending.Key.LocalPort);
    }

    /// <summary>The client: the flow's source address and port.</summary>
    public IPEndPoint Source { get; }

    /// <summary>Where the client was going: the flow's original destination, which the accepted connection's local end point is.</summary>
    public IPEndPoint Destination { get; }

    /// <summary>
    /// Completes the handshake as <see cref="Destination"/> and returns the connection once the client has answered;
    /// its <see cref="TcpConnection.LocalEndPoint"/> is the original destination.
    /// </summary>
    /// <exception cref="InvalidOperationException">The request was answered already.</exception>
    /// <exception cref="SocketException">TimedOut when the request waited past <see cref="ForwardingSettings.DecisionTimeout"/> (or the forwarder closed);
    /// TooManyOpenSockets when the connection table is full (the client is reset); the handshake's failure.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; the connection is abandoned.</exception>
    public async Task<TcpConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        Decide();
        var connection = new TcpConnection(_stack);
        // The control block is attached on the engine thread, before any event about it can fire.
        var outcome = await _stack.InvokeAsync(engine =>
        {
            if (!_pending.IsPending)
                return SocketError.TimedOut;
            var tcb = engine.Tcp.AcceptForwarded(_pending, connection.Events);
            if (tcb is null)
                return SocketError.TooManyOpenSockets;
            connection.ControlBlock = tcb;
            return SocketError.Success;
        }).ConfigureAwait(false);
        if (outcome != SocketError.Success)
            throw new SocketException((int)outcome);
        return await connection.EstablishedAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Refuses with a reset, as a closed port would: the client sees "connection refused".</summary>
    /// <exception cref="InvalidOperationException">The request was answered already.</exception>
    public void Refuse()
    {
        Decide();
        _stack.Post(engine => engine.Tcp.RefuseForwarded(_pending));
    }

    /// <summary>Answers with an ICMP destination unreachable from <see cref="Destination"/>, as an unreachable host or a router on the way would.</summary>
    /// <exception cref="InvalidOperationException">The request was answered already.</exception>
    public void Unreachable(ForwardUnreachable reason = ForwardUnreachable.Host)
    {
        Decide();
        _stack.Post(engine => engine.Tcp.UnreachableForwarded(_pending, reason));
    }

    /// <summary>Drops the SYN as if it were lost: nothing is sent.</summary>
    /// <exception cref="InvalidOperationException">The request was answered already.</exception>
    public void Drop()
    {
        Decide();
        _stack.Post(engine => engine.Tcp.DropForwarded(_pending));
    }

    void Decide()
    {
        if (Interlocked.Exchange(ref _decided, 1) != 0)
            throw new InvalidOperationException("The request was answered already.");
    }
}
