using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Wirestack.Engine;
using Wirestack.Hosting;
using Wirestack.Transport.Buffers;
using Wirestack.Transport.Tcp;

namespace Wirestack;

/// <summary>
/// A TCP connection on a <see cref="NetworkStack"/>, as a <see cref="Stream"/> and an <see cref="IDuplexPipe"/>.
/// Reads return 0 after the peer's FIN; <see cref="ShutdownSend"/> half-closes; disposing closes gracefully
/// (FIN after the queued data, or RST when received data was left unread, as Linux does); <see cref="Abort"/> resets.
/// A failed connection surfaces as <see cref="SocketException"/> (ConnectionReset, TimedOut, ConnectionRefused…):
/// from connecting as it is, and from the <see cref="Stream"/> reads and writes inside an <see cref="IOException"/>,
/// as <see cref="System.Net.Sockets.NetworkStream"/> does, which is what HttpClient and SslStream expect of a stream
/// (HttpClient retries a request on a reused connection the server closed only on an IOException).
/// </summary>
public sealed class TcpConnection : Stream, IDuplexPipe
{
    readonly NetworkStack _stack;
    readonly Signals _signals;
    readonly Action<NetworkEngine> _onRead;
    readonly Action<NetworkEngine> _onWrite;
    TcpControlBlock _tcb = null!;
    // The rings, held here too: the control block lets go of them at TIME-WAIT while unread data may remain.
    ReceiveBuffer _receive = null!;
    ByteRing _send = null!;
    TcpBuffers? _buffers;
    PipeReader? _input;
    PipeWriter? _output;
    int _readPosted;
    int _writePosted;
    int _disposed;
    // The application side's share of the buffers: one reference for the open connection, one per running read or
    // write and one for the pipe reader until it completes; the last one out lets go, so disposing while an
    // operation runs never returns memory the operation still touches.
    int _users = 1;
    bool _sendShutdown;
    bool _noDelay;
    TimeSpan? _userTimeout;

    internal TcpConnection(NetworkStack stack)
    {
        _stack = stack;
        _signals = new Signals(this);
        _onRead = _ => { Volatile.Write(ref _readPosted, 0); _tcb.OnApplicationRead(); };
        _onWrite = _ => { Volatile.Write(ref _writePosted, 0); _tcb.OnApplicationWrite(); };
    }

    internal ITcpConnectionEvents Events => _signals;

    /// <summary>The send ring, for the pipe writer to write into in place (null before the connection is attached).</summary>
    internal ByteRing? SendRing => _send;

    internal TcpControlBlock ControlBlock
    {
        get => _tcb;
        set
        {
            _tcb = value;
            _receive = value.Receive;
            _send = value.Send;
            _buffers = value.Buffers;
            _noDelay = value.NoDelay;
            _userTimeout = value.UserTimeout > 0 ? TimeSpan.FromMicroseconds(value.UserTimeout) : null;
            LocalEndPoint = new IPEndPoint(value.Key.LocalAddress.ToIPAddress(), value.Key.LocalPort);
            RemoteEndPoint = new IPEndPoint(value.Key.RemoteAddress.ToIPAddress(), value.Key.RemotePort);
        }
    }

    /// <summary>Our address and port.</summary>
    public IPEndPoint LocalEndPoint { get; private set; } = new(IPAddress.Any, 0);

    /// <summary>The peer's address and port.</summary>
    public IPEndPoint RemoteEndPoint { get; private set; } = new(IPAddress.Any, 0);

    /// <summary>Turns Nagle's algorithm off (true) or on (false, the default unless <see cref="TcpSettings.NoDelay"/>).</summary>
    public bool NoDelay
    {
        get => _noDelay;
        set
        {
            _noDelay = value;
            _stack.Post(_ => _tcb.NoDelay = value);
        }
    }

    /// <summary>
    /// The user timeout (RFC 9293 3.8.3, RFC 5482; Linux TCP_USER_TIMEOUT): when sent data stays unacknowledged, or
    /// written data waits unsent (behind the peer's window), this long without progress, the connection fails with TimedOut. Null for none;
    /// starts as <see cref="TcpSettings.UserTimeout"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Not positive.</exception>
    public TimeSpan? UserTimeout
    {
        get => _userTimeout;
        set
        {
            if (value is { } timeout)
                ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
            _userTimeout = value;
            long microseconds = value is { } t ? Math.Max(1, t.Ticks / TimeSpan.TicksPerMicrosecond) : 0;
            _stack.Post(engine =>
            {
                _tcb.UserTimeout = microseconds;
                engine.Tcp.Reschedule(_tcb);
            });
        }
    }

    /// <summary>A snapshot of the connection's state and counters (like Linux TCP_INFO).</summary>
    /// <exception cref="ObjectDisposedException">The stack is stopping.</exception>
    public Task<TcpConnectionInfo> GetInfoAsync(CancellationToken cancellationToken = default) =>
        _stack.InvokeAsync(_ => _tcb.GetInfo()).WaitAsync(cancellationToken);

    /// <summary>A stream operation's failure: the socket error inside an IOException, as NetworkStream throws it.</summary>
    static IOException StreamFailure(SocketError error) =>
        new($"Unable to transfer data on the transport connection: {error}.", new SocketException((int)error));

    /// <summary>This connection once its handshake completes; if it fails or is cancelled first, the connection is abandoned and the failure thrown.</summary>
    internal async Task<TcpConnection> EstablishedAsync(CancellationToken cancellationToken)
    {
        try
        {
            await WaitEstablishedAsync(cancellationToken).ConfigureAwait(false);
            return this;
        }
        catch
        {
            Abort();
            await DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Completes when the handshake completes; throws the connection's error if it fails first.</summary>
    async Task WaitEstablishedAsync(CancellationToken cancellationToken)
    {
        while (!_signals.Established)
        {
            if (_signals.Closed)
                throw new SocketException((int)(_signals.Error == SocketError.Success ? SocketError.ConnectionReset : _signals.Error));
            await _signals.StateChanged.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Enter();
        try
        {
            if (buffer.Length == 0)
                return 0;
            var ring = _receive.Ring;
            while (true)
            {
                ObjectDisposedException.ThrowIf(_disposed != 0, this);
                bool finished = _signals.PeerFinished;
                int n = ring.Read(buffer.Span);
                if (n > 0)
                {
                    NotifyRead();
                    return n;
                }
                if (finished)
                    return 0;
                if (_signals.Closed)
                {
                    if (_signals.Error == SocketError.Success)
                        return 0;
                    throw StreamFailure(_signals.Error);
                }
                await _signals.Readable.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Takes a share of the buffers for an operation; throws once the connection is disposed.</summary>
    internal void Enter()
    {
        while (true)
        {
            int users = Volatile.Read(ref _users);
            ObjectDisposedException.ThrowIf(users == 0 || _disposed != 0, this);
            if (Interlocked.CompareExchange(ref _users, users + 1, users) == users)
                return;
        }
    }

    /// <summary>Gives a share back; the last one lets go of the buffers.</summary>
    internal void Exit()
    {
        if (Interlocked.Decrement(ref _users) == 0)
            _buffers?.Release();
    }

    internal bool IsDisposed => _disposed != 0;

    /// <summary>Waits until data, the peer's FIN or an error may have arrived.</summary>
    internal ValueTask WaitReadableAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_signals.PeerFinished || _signals.Closed)
            return ValueTask.CompletedTask;
        return _signals.Readable.WaitAsync(cancellationToken);
    }

    /// <summary>True when no more data will arrive: the peer finished, or the connection closed (with <paramref name="error"/>).</summary>
    internal bool InputFinished(out SocketError error)
    {
        error = _signals.Closed && !_signals.PeerFinished ? (_signals.Error == SocketError.Success ? SocketError.ConnectionReset : _signals.Error) : SocketError.Success;
        return _signals.PeerFinished || _signals.Closed;
    }

    /// <summary>Data was consumed: let the engine announce the reopened window (coalesced).</summary>
    internal void NotifyRead()
    {
        if (Interlocked.Exchange(ref _readPosted, 1) == 0)
            _stack.Post(_onRead);
    }

    internal void WakeReader() => _signals.Readable.Set();

    /// <summary>Data was written into the send ring: let the engine send it (coalesced).</summary>
    internal void NotifyWrite()
    {
        if (Interlocked.Exchange(ref _writePosted, 1) == 0)
            _stack.Post(_onWrite);
    }

    /// <inheritdoc/>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
            buffer = buffer[await WriteSomeAsync(buffer, cancellationToken).ConfigureAwait(false)..];
    }

    /// <summary>
    /// Copies as much of <paramref name="buffer"/> into the send ring as there is room for, waiting while there is
    /// none; returns how many bytes it took (at least one). Fails at once once the connection is closed or reset, so
    /// nothing above TCP keeps producing for a peer that will never take it.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    internal async ValueTask<int> WriteSomeAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        Enter();
        try
        {
            if (_sendShutdown)
                throw new InvalidOperationException("The send side was shut down.");
            if (buffer.IsEmpty)
                return 0;
            var ring = _send;
            while (true)
            {
                ObjectDisposedException.ThrowIf(_disposed != 0, this);
                if (_signals.Closed)
                    throw StreamFailure(_signals.Error == SocketError.Success ? SocketError.Shutdown : _signals.Error);
                int n = ring.Write(buffer.Span);
                if (n > 0)
                {
                    NotifyWrite();
                    return n;
                }
                // No room reserved: ask the engine for room for the rest, then wait for it (or for the end).
                _buffers!.WantSendRoom(buffer.Length);
                NotifyWrite();
                await _signals.Writable.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>True once no more data can be sent: the connection closed, was reset or aborted, or was disposed.</summary>
    internal bool SendClosed => _signals.Closed || _disposed != 0 || _sendShutdown;

    /// <summary>
    /// Cancelled (on a thread-pool thread) when the connection is gone: closed in both directions, reset, aborted or
    /// timed out. Lets a producer stop at once instead of finding out at its next write.
    /// </summary>
    public CancellationToken ConnectionClosed => _signals.ClosedToken;

    /// <summary>Half-close: sends FIN after the data already written; reading goes on (RFC 9293 3.10.4).</summary>
    public void ShutdownSend()
    {
        if (_sendShutdown)
            return;
        _sendShutdown = true;
        _stack.Post(_ => _tcb.Shutdown());
    }

    /// <summary>Resets the connection at once (RST), discarding unsent and unread data.</summary>
    public void Abort()
    {
        if (_disposed != 0)
            return;
        _stack.Post(_ => _tcb.Abort());
    }

    /// <summary>
    /// Graceful close: FIN after the data already written (RST instead when received data is left unread), then waits
    /// up to <see cref="TcpSettings.LingerTimeout"/> for the data and FIN to be acknowledged.
    /// </summary>
    public override async ValueTask DisposeAsync()
    {
        bool first = _disposed == 0;
        Dispose(true);
        GC.SuppressFinalize(this);
        var linger = _stack.Options.Tcp.LingerTimeout;
        if (!first || _tcb is null || linger <= TimeSpan.Zero || _stack.IsStopping || _signals.Closed)
            return;
        // A peer slow to acknowledge: the connection goes on closing without us once the linger time is up.
        using var timeout = new CancellationTokenSource(linger);
        try
        {
            while (!_signals.Closed)
                await _signals.StateChanged.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (disposing && _tcb is not null)
            _stack.Post(_ => _tcb.CloseByApplication());
        _signals.Readable.Set();
        _signals.Writable.Set();
        Exit();
        base.Dispose(disposing);
    }

    /// <summary>The receive side as a pipe reading the receive buffer in place (no copy). Use it or the Stream methods, not both.</summary>
    public PipeReader Input => _input ??= new TcpPipeReader(this, _receive.Ring);



    /// <inheritdoc/>
    public PipeWriter Output => _output ??= new TcpPipeWriter(this);

    /// <inheritdoc/>
    public override bool CanRead => _disposed == 0;
    /// <inheritdoc/>
    public override bool CanWrite => _disposed == 0;
    /// <inheritdoc/>
    public override bool CanSeek => false;
    /// <inheritdoc/>
    public override long Length => throw new NotSupportedException();
    /// <inheritdoc/>
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    /// <inheritdoc/>
    public override void Flush()
    {
    }
    /// <inheritdoc/>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    /// <inheritdoc/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc/>
    public override string ToString() => $"TCP {LocalEndPoint} -> {RemoteEndPoint}";

    /// <summary>Runs on the engine thread: records what happened and wakes the application side.</summary>
    sealed class Signals(TcpConnection owner) : ITcpConnectionEvents
    {
        volatile bool _established;
        volatile bool _peerFinished;
        volatile bool _closed;
        volatile SocketError _error;
        CancellationTokenSource? _closedSource;

        /// <summary>Cancelled when the connection closes (created on first use).</summary>
        public CancellationToken ClosedToken
        {
            get
            {
                var source = Volatile.Read(ref _closedSource);
                if (source is null)
                {
                    source = new CancellationTokenSource();
                    if (Interlocked.CompareExchange(ref _closedSource, source, null) is { } raced)
                        source = raced;
                    else if (_closed)
                        source.Cancel();
                }
                return source.Token;
            }
        }

        public AsyncSignal Readable { get; } = new();
        public AsyncSignal Writable { get; } = new();
        public AsyncSignal StateChanged { get; } = new();
        public bool Established => _established;
        public bool PeerFinished => _peerFinished;
        public bool Closed => _closed;
        public SocketError Error => _error;

        public void OnEstablished()
        {
            _established = true;
            StateChanged.Set();
        }

        public void OnReadable()
        {
            if (owner._tcb.PeerFinished)
                _peerFinished = true;
            Readable.Set();
        }

        public void OnWritable() => Writable.Set();

        public void OnClosed(SocketError error)
        {
            _error = error;
            if (owner._tcb.PeerFinished)
                _peerFinished = true;
            _closed = true;
            Readable.Set();
            Writable.Set();
            StateChanged.Set();
            // Callbacks (Kestrel aborting a request, say) must not run on the engine thread.
            if (Volatile.Read(ref _closedSource) is { } source)
                ThreadPool.UnsafeQueueUserWorkItem(static s => s.Cancel(), source, preferLocal: false);
        }
    }
}
