using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Wirestack.Transport.Buffers;

namespace Wirestack.Hosting;

/// <summary>
/// The send side of a connection as a <see cref="PipeWriter"/>. Where the send ring has room reserved, the memory it
/// hands out is the ring's own: the producer (Kestrel) writes straight into the connection's buffer and a flush only
/// publishes the bytes, so application data is copied once, by the producer, on its way to the wire. Where the ring
/// has no room, or not enough in one piece for the size asked, bytes gather in a pooled buffer and are copied into
/// the ring when flushed; a flush waits while the ring is full, so nothing above TCP holds more than one flush's
/// worth. Once the connection is closed, reset or aborted, a flush completes at once with
/// <see cref="FlushResult.IsCompleted"/> and later writes are discarded, so a producer that keeps writing for a peer
/// that is gone accumulates nothing. An idle connection's writer holds no buffer.
/// </summary>
/// <remarks>
/// Writing in place holds the ring's writing side (so the engine cannot give back the reserved chunks meanwhile) and
/// a share of the connection's buffers (so they outlive a disposal) from the first in-place memory to the flush.
/// </remarks>
internal sealed class TcpPipeWriter(TcpConnection connection) : PipeWriter
{
    const int MinimumBufferSize = 4096;

    /// <summary>Where writes go once the connection can send no more: shared, never read.</summary>
    static readonly byte[] s_discard = new byte[64 * 1024];

    // In place: bytes written into the ring past its tail, not yet published, while the writing side is held.
    ByteRing? _ring;
    int _staged;
    int _lastInPlace = -1;   // length of the in-place memory last handed out; -1: the last came from the buffer
    bool _bufferHandedOut;   // the buffer's memory was handed out and not yet advanced over

    // Copied: bytes gathered in a pooled buffer, after any staged in place.
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
        _bufferHandedOut = false;
        if (_lastInPlace >= 0)
        {
            if (bytes > _lastInPlace)
                throw new InvalidOperationException("Advanced past the memory last returned by GetMemory.");
            _staged += bytes;
            _lastInPlace -= bytes;
            return;
        }
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
        // Bytes already gathered in the buffer come after those staged in place: once one is there, the rest of
        // this flush's bytes follow it there. Memory asked for again before Advance comes from where it came from
        // last (a producer may have written into it already: Kestrel's chunked writer does), unless that cannot hold
        // what is asked now (a Pipe moves to a new segment then too).
        if (_buffered == 0 && !_bufferHandedOut && TryInPlace(Math.Max(sizeHint, 1), out var inPlace))
        {
            _lastInPlace = inPlace.Length;
            return inPlace;
        }
        _lastInPlace = -1;
        _bufferHandedOut = true;
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

    /// <summary>The ring's reserved room after the staged bytes, when it holds <paramref name="size"/> bytes in one piece.</summary>
    bool TryInPlace(int size, out Memory<byte> memory)
    {
        memory = default;
        if (_ring is null)
        {
            var ring = connection.SendRing;
            if (ring is null || ring.Writable < size || !TryEnter())
                return false;
            if (!ring.TryBeginWrite())
            {
                connection.Exit();
                return false;
            }
            _ring = ring;
        }
        memory = _ring.WritableMemory(_staged);
        return memory.Length >= size;
    }

    bool TryEnter()
    {
        try
        {
            connection.Enter();
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Publishes the bytes staged in place (none when <paramref name="publish"/> is false) and lets the ring go.</summary>
    void EndInPlace(bool publish)
    {
        if (_ring is null)
            return;
        int staged = publish ? _staged : 0;
        _ring.EndWrite(staged);
        _ring = null;
        _staged = 0;
        _lastInPlace = -1;
        if (staged > 0)
            connection.NotifyWrite();
        connection.Exit();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        _bufferHandedOut = false;
        EndInPlace(publish: !_discarding);
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
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
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
        EndInPlace(publish: false);
        _buffered = 0;
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }

    public override void CancelPendingFlush() => _flushCancellation?.Cancel();

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _staged + _buffered;

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
            return;
        _completed = true;
        Discard();
    }
}
