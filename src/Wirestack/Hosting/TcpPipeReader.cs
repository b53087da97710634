using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Wirestack.Transport.Tcp;

namespace Wirestack.Hosting;

/// <summary>
/// A <see cref="PipeReader"/> straight over a connection's receive ring: the buffers it returns are the ring's own
/// memory, so received bytes reach the reader (Kestrel, for one) without another copy. Consuming frees ring space,
/// which reopens the advertised window.
/// </summary>
internal sealed class TcpPipeReader(TcpConnection connection, ByteRing ring) : PipeReader
{
    sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public void Set(ReadOnlyMemory<byte> memory, Segment? next, long runningIndex)
        {
            Memory = memory;
            Next = next;
            RunningIndex = runningIndex;
        }
    }

    readonly Segment _first = new(), _second = new();
    ReadOnlySequence<byte> _last;
    long _examined;          // bytes from the ring head the reader has already looked at
    bool _completed;
    int _cancelPending;

    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (TryRead(out var result))
                return result;
            await connection.WaitReadableAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override bool TryRead(out ReadResult result)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (Interlocked.Exchange(ref _cancelPending, 0) == 1)
        {
            result = new ReadResult(Build(), isCanceled: true, isCompleted: false);
            return true;
        }
        bool finished = connection.InputFinished(out var error);
        int available = ring.Count;
        if (available > _examined || finished)
        {
            if (available == 0 && error != SocketError.Success)
                throw new SocketException((int)error);
            result = new ReadResult(Build(), isCanceled: false, isCompleted: finished && available == ring.Count);
            return true;
        }
        result = default;
        return false;
    }

    ReadOnlySequence<byte> Build()
    {
        var (first, second) = ring.ReadableMemory();
        if (second.IsEmpty)
        {
            _last = first.IsEmpty ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first);
            return _last;
        }
        _second.Set(second, null, first.Length);
        _first.Set(first, _second, 0);
        _last = new ReadOnlySequence<byte>(_first, 0, _second, second.Length);
        return _last;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        long consumedBytes = _last.Slice(_last.Start, consumed).Length;
        long examinedBytes = _last.Slice(_last.Start, examined).Length;
        _last = default;
        if (consumedBytes > 0)
        {
            ring.Consume((int)consumedBytes);
            connection.NotifyRead();
        }
        _examined = examinedBytes - consumedBytes;
    }

    public override void CancelPendingRead()
    {
        Volatile.Write(ref _cancelPending, 1);
        connection.WakeReader();
    }

    public override void Complete(Exception? exception = null) => _completed = true;
}
