using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Wirestack.Hosting;

/// <summary>
/// The send side of a connection as a <see cref="PipeWriter"/>. Bytes gather in one pooled buffer and go into the
/// send ring when flushed; a flush waits while the ring is full, so nothing above TCP holds more than one flush's
/// worth. Once the connection is closed, reset or aborted, a flush completes at once with
/// <see cref="FlushResult.IsCompleted"/> and later writes are discarded, so a producer (Kestrel, a file copy) that
/// keeps writing for a peer that is gone accumulates nothing. The buffer goes back to the pool after each flush, so
/// an idle connection holds none.
/// </summary>
internal sealed class TcpPipeWriter(TcpConnection connection) : PipeWriter
{
    const int MinimumBufferSize = 4096;

    /// <summary>Where writes go once the connection can send no more: shared, never read.</summary>
    static readonly byte[] s_discard = new byte[64 * 1024];

    byte[]? _buffer;
    int _buffered;
    bool _completed;
    bool _discarding;
    CancellationTokenSource? _flushCancellation;

    public override void Advance(int bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (_discarding)
            return;
        if (_buffer is null || _buffered + bytes > _buffer.Length)
            throw new InvalidOperationException("Advanced past the memory last returned by GetMemory.");
        _buffered += bytes;
    }

    public override Memory<byte> GetMemory(int sizeHint = 0) => Reserve(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => Reserve(sizeHint).Span;

    Memory<byte> Reserve(int sizeHint)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        if (!_discarding && connection.SendClosed)
            Discard();
        if (_discarding)
            return sizeHint <= s_discard.Length ? s_discard : new byte[sizeHint];
        int needed = _buffered + Math.Max(sizeHint, 1);
        if (_buffer is null || needed > _buffer.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, MinimumBufferSize));
            if (_buffer is not null)
            {
                _buffer.AsSpan(0, _buffered).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_buffer);
            }
            _buffer = larger;
        }
        return _buffer.AsMemory(_buffered);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        var cancellation = _flushCancellation ??= new CancellationTokenSource();
        using var link = cancellationToken.CanBeCanceled ? cancellationToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), cancellation) : default;
        int offset = 0;
        try
        {
            while (offset < _buffered && !_discarding)
                offset += await connection.WriteSomeAsync(_buffer.AsMemory(offset, _buffered - offset), cancellation.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            _flushCancellation = null; // a cancelled source cannot be reused
            Keep(offset);
            cancellationToken.ThrowIfCancellationRequested();
            return new FlushResult(isCanceled: true, isCompleted: false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
        {
            Discard();
        }
        if (_discarding || connection.SendClosed)
        {
            Discard();
            return new FlushResult(isCanceled: false, isCompleted: true);
        }
        Keep(offset);
        return new FlushResult(isCanceled: false, isCompleted: false);
    }

    /// <summary>Drops the first <paramref name="sent"/> buffered bytes; an empty buffer goes back to the pool.</summary>
    void Keep(int sent)
    {
        if (sent == _buffered)
        {
            _buffered = 0;
            if (_buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }
            return;
        }
        _buffer.AsSpan(sent, _buffered - sent).CopyTo(_buffer);
        _buffered -= sent;
    }

    void Discard()
    {
        _discarding = true;
        _buffered = 0;
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }

    public override void CancelPendingFlush() => _flushCancellation?.Cancel();

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _buffered;

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
            return;
        _completed = true;
        Discard();
    }
}
