using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Wirestack.Transport.Buffers;

namespace Wirestack.Hosting;

/// <summary>
/// A <see cref="PipeReader"/> straight over a connection's receive ring: the buffers it returns are the ring's own
/// memory, so received bytes reach the reader (Kestrel, for one) without another copy. Consuming frees ring space,
/// which reopens the advertised window. The reader holds a share of the connection's buffers until it completes, so
/// they never go back to the pool while a sequence it handed out may still be read.
/// </summary>
internal sealed class TcpPipeReader : PipeReader
{
    readonly TcpConnection _connection;
    readonly ByteRing _ring;
    ReadOnlySequence<byte> _last;
    long _examined;          // bytes from the ring head the reader has already looked at
    int _completed;
    int _cancelPending;

    public TcpPipeReader(TcpConnection connection, ByteRing ring)
    {
        _connection = connection;
        _ring = ring;
        _connection.Enter();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (TryRead(out var result))
                return result;
            await _connection.WaitReadableAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override bool TryRead(out ReadResult result)
    {
        ObjectDisposedException.ThrowIf(_completed != 0 || _connection.IsDisposed, this);
        if (Interlocked.Exchange(ref _cancelPending, 0) == 1)
        {
            result = new ReadResult(Build(), isCanceled: true, isCompleted: false);
            return true;
        }
        bool finished = _connection.InputFinished(out var error);
        int available = _ring.Count;
        if (available > _examined || finished)
        {
            if (available == 0 && error != SocketError.Success)
                throw new SocketException((int)error);
            result = new ReadResult(Build(), isCanceled: false, isCompleted: finished && available == _ring.Count);
            return true;
        }
        result = default;
        return false;
    }

    ReadOnlySequence<byte> Build() => _last = _ring.ReadableSequence();

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        long consumedBytes = _last.Slice(_last.Start, consumed).Length;
        long examinedBytes = _last.Slice(_last.Start, examined).Length;
        _last = default;
        if (consumedBytes > 0)
        {
            _ring.Consume((int)consumedBytes);
            _connection.NotifyRead();
        }
        _examined = examinedBytes - consumedBytes;
    }

    public override void CancelPendingRead()
    {
        Volatile.Write(ref _cancelPending, 1);
        _connection.WakeReader();
    }

    public override void Complete(Exception? exception = null)
    {
        if (Interlocked.Exchange(ref _completed, 1) == 0)
            _connection.Exit();
    }
}
