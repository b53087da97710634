using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Wirestack.Engine;
using Wirestack.Hosting;
using Wirestack.Wire;

namespace Wirestack;

/// <summary>
/// Every UDP datagram the stack's interface receives for an address that is not its own, in sessions: one per client
/// address and port whatever it sends to (RFC 4787 endpoint-independent mapping), each coming out of
/// <see cref="AcceptAsync"/> with its first datagram. Made by <see cref="NetworkStack.ForwardUdpAsync"/>; one per stack at a time.
/// </summary>
public sealed class UdpForwarder : IAsyncDisposable
{
    readonly NetworkStack _stack;
    readonly OfferQueue<UdpForwardSession> _sessions;
    readonly int _queueDatagrams;

    internal UdpForwarder(NetworkStack stack, int capacity, int queueDatagrams)
    {
        _stack = stack;
        _queueDatagrams = queueDatagrams;
        // As many as the engine keeps open: past that the oldest here is one the engine has ended.
        _sessions = new OfferQueue<UdpForwardSession>(nameof(UdpForwarder), capacity, BoundedChannelFullMode.DropOldest);
        Events = new ForwardEvents(this);
    }

    internal IUdpForwardEvents Events { get; }

    /// <summary>Waits for the next session (a client end point's first datagram to an address not the stack's).</summary>
    /// <exception cref="ObjectDisposedException">The forwarder was disposed.</exception>
    public async ValueTask<UdpForwardSession> AcceptAsync(CancellationToken cancellationToken = default)
    {
        return await _sessions.TakeAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops forwarding UDP: every session ends, and datagrams to other addresses are dropped again.</summary>
    public ValueTask DisposeAsync()
    {
        if (_sessions.TryClose())
            _stack.Post(engine => engine.Udp.SetForwarder(null));
        return ValueTask.CompletedTask;
    }

    sealed class ForwardEvents(UdpForwarder owner) : IUdpForwardEvents
    {
        public IUdpForwardReceiver OnSession(UdpForwardSessionState session)
        {
            var wrapper = new UdpForwardSession(owner._stack, session, owner._queueDatagrams);
            owner._sessions.TryOffer(wrapper);
            return wrapper.Receiver;
        }
    }
}

/// <summary>A datagram a forwarded client sent: where it was going, and what it carried.</summary>
/// <param name="Destination">The datagram's original destination address and port.</param>
/// <param name="Payload">Its payload.</param>
public readonly record struct UdpForwardDatagram(IPEndPoint Destination, byte[] Payload);

/// <summary>
/// One client end point's forwarded UDP: the datagrams it sends to any address, with their destinations, and a way to
/// answer it from any address (filtered as <see cref="ForwardingSettings.UdpFiltering"/> says). It ends when idle past
/// <see cref="ForwardingSettings.UdpIdleTimeout"/>, when a newer session needs its place, or when disposed.
/// </summary>
public sealed class UdpForwardSession : IAsyncDisposable
{
    readonly NetworkStack _stack;
    readonly UdpForwardSessionState _state;
    readonly Channel<(byte[] Payload, IpAddress Destination, ushort Port)> _datagrams;
    IpAddress _lastAddress;
    IPEndPoint? _lastDestination;
    int _disposed;

    internal UdpForwardSession(NetworkStack stack, UdpForwardSessionState state, int queueDatagrams)
    {
        _stack = stack;
        _state = state;
        _datagrams = Channel.CreateBounded<(byte[], IpAddress, ushort)>(new BoundedChannelOptions(queueDatagrams) { SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
        Client = new IPEndPoint(state.Client.ToIPAddress(), state.ClientPort);
        Receiver = new Delivery(this);
    }

    internal IUdpForwardReceiver Receiver { get; }

    /// <summary>The client: its address and port.</summary>
    public IPEndPoint Client { get; }

    /// <summary>The next datagram the client sent, with its original destination.</summary>
    /// <exception cref="SocketException">OperationAborted: the session ended (idle, or its place was needed).</exception>
    /// <exception cref="ObjectDisposedException">The session was disposed.</exception>
    public async ValueTask<UdpForwardDatagram> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        try
        {
            return Wrap(await _datagrams.Reader.ReadAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (ChannelClosedException)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            throw new SocketException((int)SocketError.OperationAborted);
        }
    }

    /// <summary>
    /// The next datagram the client sent if one is waiting, without waiting: after <see cref="ReceiveAsync"/>, drain what
    /// else has arrived in one go. One reader at a time.
    /// </summary>
    public bool TryReceive(out UdpForwardDatagram datagram)
    {
        if (_disposed == 0 && _datagrams.Reader.TryRead(out var item))
        {
            datagram = Wrap(item);
            return true;
        }
        datagram = default;
        return false;
    }

    /// <summary>A datagram for the application; a session mostly talks to one destination, whose end point is made once.</summary>
    UdpForwardDatagram Wrap((byte[] Payload, IpAddress Destination, ushort Port) item)
    {
        if (_lastDestination is null || item.Destination != _lastAddress || item.Port != _lastDestination.Port)
        {
            _lastAddress = item.Destination;
            _lastDestination = new IPEndPoint(item.Destination.ToIPAddress(), item.Port);
        }
        return new UdpForwardDatagram(_lastDestination, item.Payload);
    }

    /// <summary>Sends <paramref name="payload"/> to the client from <paramref name="from"/> (the address it sent to, or another under endpoint-independent filtering).</summary>
    /// <exception cref="SocketException">OperationAborted (the session ended), AccessDenied (address-dependent filtering
    /// refuses <paramref name="from"/>), AddressNotAvailable (another family than the client's, or not a unicast address
    /// the stack may answer from), MessageSize.</exception>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> payload, IPEndPoint from, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(from);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var source = IpAddress.FromIPAddress(from.Address);
        var error = await _stack.InvokeAsync(engine => engine.Udp.SendForwarded(_state, source, (ushort)from.Port, payload.Span))
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        if (error != SocketError.Success)
            throw new SocketException((int)(error == SocketError.NotConnected ? SocketError.OperationAborted : error));
    }

    /// <summary>Ends the session; the client's next datagram opens a new one.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return ValueTask.CompletedTask;
        _datagrams.Writer.TryComplete();
        _stack.Post(engine => engine.Udp.CloseForwarded(_state));
        return ValueTask.CompletedTask;
    }

    sealed class Delivery(UdpForwardSession owner) : IUdpForwardReceiver
    {
        public bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress destination, ushort port) =>
            owner._datagrams.Writer.TryWrite((payload.ToArray(), destination, port));

        public void OnClosed() => owner._datagrams.Writer.TryComplete();
    }
}
