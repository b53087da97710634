using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Wirestack.Transport.Tcp;

namespace Wirestack.Hosting;

/// <summary>
/// A <see cref="PipeWriter"/> straight into a connection's send ring: <see cref="GetMemory"/> hands out the ring's
/// free space, so bytes the writer produces (Kestrel's responses, for one) are the bytes TCP sends, with no copy
/// in between. When the ring has no room for a request, a pooled buffer stands in and is copied over on flush.
/// </summary>
internal sealed class TcpPipeWriter(TcpConnection connection, ByteRing ring) : PipeWriter
{
    byte[]? _overflow;          // used when the ring cannot give a large enough contiguous span
    int _overflowLength;
    bool _writingToOverflow;
    bool _completed;
    int _cancelPending;
    long _unflushed;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        int want = Math.Max(sizeHint, 1);
        if (_overflowLength == 0)
        {
            var free = ring.WritableMemory();
            if (free.Length >= want)
            {
                _writingToOverflow = false;
                return free;
            }
        }
        // Keep order: once something waits in the overflow buffer, everything after it goes there too.
        int needed = _overflowLength + Math.Max(want, 4096);
        if (_overflow is null || _overflow.Length < needed)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(needed);
            _overflow?.AsSpan(0, _overflowLength).CopyTo(bigger);
            if (_overflow is not null)
                ArrayPool<byte>.Shared.Return(_overflow);
            _overflow = bigger;
        }
        _writingToOverflow = true;
        return _overflow.AsMemory(_overflowLength);
    }

    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _unflushed;

    public override void Advance(int bytes)
    {
        if (bytes == 0)
            return;
        if (_writingToOverflow)
            _overflowLength += bytes;
        else
            ring.Publish(bytes);
        _unflushed += bytes;
    }

    public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        while (_overflowLength > 0)
        {
            if (Interlocked.Exchange(ref _cancelPending, 0) == 1)
                return new FlushResult(isCanceled: true, isCompleted: false);
            if (connection.OutputClosed(out var error))
            {
                _overflowLength = 0;
                if (error != SocketError.Success)
                    throw new SocketException((int)error);
                return new FlushResult(isCanceled: false, isCompleted: true);
            }
            int moved = ring.Write(_overflow.AsSpan(0, _overflowLength));
            if (moved > 0)
            {
                _overflow.AsSpan(moved, _overflowLength - moved).CopyTo(_overflow);
                _overflowLength -= moved;
                connection.NotifyWrite();
                continue;
            }
            await connection.WaitWritableAsync(cancellationToken).ConfigureAwait(false);
        }
        if (_unflushed > 0)
        {
            _unflushed = 0;
            connection.NotifyWrite();
        }
        return new FlushResult(isCanceled: Interlocked.Exchange(ref _cancelPending, 0) == 1, isCompleted: connection.OutputClosed(out _));
    }

    public override void CancelPendingFlush()
    {
        Volatile.Write(ref _cancelPending, 1);
        connection.WakeWriter();
    }

    public override async ValueTask CompleteAsync(Exception? exception = null)
    {
        if (_completed)
            return;
        if (exception is null)
        {
            try
            {
                await FlushAsync().ConfigureAwait(false);
            }
            catch (SocketException)
            {
            }
        }
        Complete(exception);
    }

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
            return;
        _completed = true;
        if (_unflushed > 0)
            connection.NotifyWrite();
        if (_overflow is not null)
        {
            ArrayPool<byte>.Shared.Return(_overflow);
            _overflow = null;
        }
    }
}
