using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Wirestack.AspNetCore;

/// <summary>
/// One Wirestack TCP connection as Kestrel sees it. The peer's FIN completes the input; a reset completes it with
/// <see cref="ConnectionResetException"/> (as Kestrel's socket transport does); <see cref="Abort"/> sends RST;
/// disposal closes gracefully.
/// </summary>
internal sealed class WirestackConnectionContext : ConnectionContext, IConnectionIdFeature, IConnectionTransportFeature,
    IConnectionItemsFeature, IConnectionLifetimeFeature, IConnectionEndPointFeature
{
    static long s_nextId;

    readonly TcpConnection _connection;
    readonly CancellationTokenSource _closed = new();
    int _disposed;

    public WirestackConnectionContext(TcpConnection connection)
    {
        _connection = connection;
        ConnectionId = "ws-" + Interlocked.Increment(ref s_nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        LocalEndPoint = connection.LocalEndPoint;
        RemoteEndPoint = connection.RemoteEndPoint;
        Transport = new DuplexPipe(new ResetTranslatingReader(connection.Input, this), connection.Output);
        Features = new FeatureCollection();
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionTransportFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
        // A reset or abort ends the connection for Kestrel at once (it aborts the request), even while nothing reads.
        _closedRegistration = connection.ConnectionClosed.UnsafeRegister(static s => ((WirestackConnectionContext)s!).OnClosed(), this);
    }

    readonly CancellationTokenRegistration _closedRegistration;

    public override string ConnectionId { get; set; }
    public override IFeatureCollection Features { get; }
    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();
    public override IDuplexPipe Transport { get; set; }
    public override CancellationToken ConnectionClosed { get => _closed.Token; set { } }

    internal void OnClosed()
    {
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _connection.Abort();
        OnClosed();
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await Transport.Output.CompleteAsync().ConfigureAwait(false);
        await Transport.Input.CompleteAsync().ConfigureAwait(false);
        await _closedRegistration.DisposeAsync().ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
        OnClosed();
        _closed.Dispose();
    }

    sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    /// <summary>Turns a TCP reset into the exception Kestrel expects, and signals ConnectionClosed at the end of input.</summary>
    sealed class ResetTranslatingReader(PipeReader inner, WirestackConnectionContext owner) : PipeReader
    {
        public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);
        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);
        public override void CancelPendingRead() => inner.CancelPendingRead();
        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                var result = await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
                if (result.IsCompleted && result.Buffer.IsEmpty)
                    owner.OnClosed();
                return result;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.TimedOut)
            {
                owner.OnClosed();
                throw new ConnectionResetException(e.Message, e);
            }
        }

        public override bool TryRead(out ReadResult result) => inner.TryRead(out result);
    }
}
