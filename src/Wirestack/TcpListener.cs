using System.Net;
using System.Threading.Channels;
using Wirestack.Transport.Tcp;

namespace Wirestack;

/// <summary>A listening TCP port on a <see cref="NetworkStack"/>.</summary>
public sealed class TcpListener : IAsyncDisposable
{
    readonly NetworkStack _stack;
    readonly Channel<TcpConnection> _ready = Channel.CreateUnbounded<TcpConnection>(new() { SingleWriter = true });
    readonly Events _events;
    TcpListenerState _state = null!;
    int _disposed;

    internal TcpListener(NetworkStack stack, int port)
    {
        _stack = stack;
        Port = port;
        _events = new Events(this);
    }

    internal ITcpListenerEvents ListenerEvents => _events;

    internal TcpListenerState State { set => _state = value; }

    /// <summary>The listening port.</summary>
    public int Port { get; }

    /// <summary>The local end point (the stack's address while it has one).</summary>
    public IPEndPoint LocalEndPoint => new(_stack.Ipv4Address ?? IPAddress.Any, Port);

    /// <summary>Waits for the next established connection.</summary>
    /// <exception cref="ObjectDisposedException">The listener was disposed.</exception>
    public async ValueTask<TcpConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        try
        {
            var connection = await _ready.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var tcb = connection.ControlBlock;
            _stack.Post(engine => engine.Tcp.MarkAccepted(tcb));
            return connection;
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(TcpListener));
        }
    }

    /// <summary>Stops listening; connections not yet accepted are reset.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return ValueTask.CompletedTask;
        _ready.Writer.TryComplete();
        var state = _state;
        _stack.Post(engine => engine.Tcp.CloseListener(state));
        while (_ready.Reader.TryRead(out var pending))
            pending.Abort();
        return ValueTask.CompletedTask;
    }

    sealed class Events(TcpListener owner) : ITcpListenerEvents
    {
        public ITcpConnectionEvents OnConnectionReady(TcpControlBlock connection)
        {
            var wrapper = new TcpConnection(owner._stack) { ControlBlock = connection };
            wrapper.Events.OnEstablished();
            owner._ready.Writer.TryWrite(wrapper);
            return wrapper.Events;
        }
    }
}
