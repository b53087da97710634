using System.Buffers;

namespace Wirestack.Transport.Buffers;

/// <summary>
/// A byte stream buffer shared by one producer and one consumer thread without locks, whose memory follows the
/// bytes it holds: fixed-size chunks from a <see cref="BufferChunkPool"/> are taken as bytes arrive and given back
/// once consumed, so an idle connection holds at most one partly used chunk and a half-open one none.
/// </summary>
/// <remarks>
/// Positions are ever-increasing 64-bit counters (head: consumed up to; tail: published up to), each written by one
/// side with a volatile write and read by the other. Chunks sit in a table indexed by position; only the engine thread
/// writes the table, whichever side of the stream it is on, and the application thread only reads table slots in the
/// range a published counter covers, so no slot is ever written and read at once:
/// <list type="bullet">
/// <item>receive ring: the engine produces (<see cref="Stage"/>, <see cref="Publish"/>) and allocates chunks as it
/// stages; the application consumes; the engine gives back chunks below the head in <see cref="Reclaim"/>.</item>
/// <item>send ring: the application produces with <see cref="Write"/> into space the engine reserved for it with
/// <see cref="Reserve"/>; the engine consumes and gives chunks back at once.</item>
/// </list>
/// The table has a slot for every chunk the ring can span (<see cref="MaxLimit"/>), allocated at the first byte.
/// </remarks>
internal sealed class ByteRing
{
    /// <summary>A ring with no room, standing in for released buffers.</summary>
    public static ByteRing Empty { get; } = new(null, 0);

    readonly BufferChunkPool? _pool;
    readonly int _slots;
    BufferChunk?[]? _table;
    long _head;
    long _tail;
    long _reservedEnd;   // send ring: the application may write below this position
    long _firstHeld;     // engine: no chunk below this position is held
    int _heldChunks;     // engine
    int _writer;         // send ring: whether the application is writing or the engine trimming the reservation

    const int WriterIdle = 0, WriterBusy = 1, WriterTrimming = 2;

    public ByteRing(BufferChunkPool? pool, int maxLimit)
    {
        _pool = pool;
        MaxLimit = maxLimit;
        Limit = maxLimit;
        // A span of MaxLimit bytes starting mid-chunk touches MaxLimit / Size + 2 chunks at most.
        _slots = maxLimit == 0 ? 0 : maxLimit / BufferChunk.Size + 2;
    }

    /// <summary>The most bytes the ring may ever span from its head.</summary>
    public int MaxLimit { get; }

    /// <summary>Engine: the most bytes the ring may span from its head now (at most <see cref="MaxLimit"/>).</summary>
    public int Limit { get; set; }

    /// <summary>Bytes published and not yet consumed.</summary>
    public int Count => (int)(Volatile.Read(ref _tail) - Volatile.Read(ref _head));

    /// <summary>Engine (receive): bytes the producer may still place, from the tail: the window.</summary>
    public int Free => Math.Max(0, Limit - Count);

    /// <summary>Bytes of chunk memory the ring holds (engine thread).</summary>
    public long HeldBytes => (long)_heldChunks * BufferChunk.Size;

    public long Head => Volatile.Read(ref _head);

    public long Tail => Volatile.Read(ref _tail);

    /// <summary>Application (send): bytes it may write now without asking the engine for room.</summary>
    public int Writable => (int)(Volatile.Read(ref _reservedEnd) - _tail);

    /// <summary>
    /// Engine (receive): copies bytes to <paramref name="offset"/> past the tail without publishing them, taking chunks
    /// as needed. Returns false, copying nothing, when the pool may not grow (<paramref name="mayGrow"/> false) and a
    /// chunk is missing.
    /// </summary>
    public bool Stage(int offset, ReadOnlySpan<byte> data, bool mayGrow = true)
    {
        long position = _tail + offset;
        if (!mayGrow && !Covered(position, data.Length))
            return false;
        Copy(data, position, allocate: true);
        return true;
    }

    /// <summary>Engine (receive): publishes <paramref name="count"/> staged bytes.</summary>
    public void Publish(int count) => Volatile.Write(ref _tail, _tail + count);

    /// <summary>
    /// Engine (send): makes room for the application to write up to <paramref name="bytes"/> past the tail (within
    /// <see cref="Limit"/>); returns how much room it has now.
    /// </summary>
    public int Reserve(int bytes)
    {
        long head = _head;
        long tail = Volatile.Read(ref _tail);
        long end = Math.Min(head + Limit, tail + Math.Max(0, bytes));
        long reserved = _reservedEnd;
        if (end > reserved)
        {
            EnsureChunks(reserved, (int)(end - reserved));
            // Round up to the chunk: the room is there already.
            long chunkEnd = ((end - 1) | (BufferChunk.Size - 1)) + 1;
            Volatile.Write(ref _reservedEnd, Math.Min(chunkEnd, head + MaxLimit));
        }
        return (int)(Volatile.Read(ref _reservedEnd) - tail);
    }

    /// <summary>
    /// Application (send): appends and publishes as many bytes as the reserved room takes; returns how many (0 also
    /// while the engine is trimming the reservation: the writer then asks for room like when there is none).
    /// </summary>
    public int Write(ReadOnlySpan<byte> data)
    {
        if (!TryBeginWrite())
            return 0;
        int n = Math.Max(0, Math.Min(data.Length, Writable));
        if (n > 0)
            Copy(data[..n], _tail, allocate: false);
        EndWrite(n);
        return n;
    }

    /// <summary>
    /// Application (send): takes the writing side to write in place (<see cref="WritableMemory"/>) until
    /// <see cref="EndWrite"/>; meanwhile the engine cannot trim the reservation. False while it is trimming.
    /// </summary>
    public bool TryBeginWrite() => Interlocked.CompareExchange(ref _writer, WriterBusy, WriterIdle) == WriterIdle;

    /// <summary>
    /// Application (send), between <see cref="TryBeginWrite"/> and <see cref="EndWrite"/>: the reserved room
    /// <paramref name="offset"/> bytes past the tail, up to the end of its chunk; empty past the reservation.
    /// </summary>
    public Memory<byte> WritableMemory(int offset)
    {
        long position = _tail + offset;
        long reservedEnd = Volatile.Read(ref _reservedEnd);
        if (position >= reservedEnd)
            return Memory<byte>.Empty;
        var chunk = Volatile.Read(ref _table)![Slot(position)]!;
        int within = (int)(position & (BufferChunk.Size - 1));
        return chunk.Bytes.AsMemory(within, (int)Math.Min(BufferChunk.Size - within, reservedEnd - position));
    }

    /// <summary>Application (send): publishes <paramref name="count"/> bytes written in place and gives the writing side back.</summary>
    public void EndWrite(int count)
    {
        if (count > 0)
            Volatile.Write(ref _tail, _tail + count);
        Volatile.Write(ref _writer, WriterIdle);
    }

    /// <summary>
    /// Engine (send): gives back reserved room the application has not written into, keeping the chunk the tail is
    /// in. Skipped (false) when the application is writing at that moment; the engine tries again later.
    /// </summary>
    public bool TrimReservation()
    {
        if (_table is null || Interlocked.CompareExchange(ref _writer, WriterTrimming, WriterIdle) != WriterIdle)
            return false;
        long tail = _tail;
        long keep = ((tail + BufferChunk.Size - 1) >> BufferChunk.Shift) << BufferChunk.Shift;
        for (long start = keep; start < _reservedEnd; start += BufferChunk.Size)
        {
            ref var slot = ref _table[Slot(start)];
            if (slot is { } chunk && chunk.Start == start)
            {
                _pool!.Return(chunk);
                slot = null;
                _heldChunks--;
            }
        }
        if (_reservedEnd > keep)
            Volatile.Write(ref _reservedEnd, Math.Max(keep, tail));
        Volatile.Write(ref _writer, WriterIdle);
        return true;
    }

    /// <summary>Consumer: copies bytes starting <paramref name="offset"/> past the head without consuming them.</summary>
    public int Peek(int offset, Span<byte> destination)
    {
        long tail = Volatile.Read(ref _tail);
        long position = _head + offset;
        int n = (int)Math.Min(destination.Length, tail - position);
        if (n <= 0)
            return 0;
        var table = Volatile.Read(ref _table)!;
        int done = 0;
        while (done < n)
        {
            var chunk = table[Slot(position)]!;
            int within = (int)(position & (BufferChunk.Size - 1));
            int take = Math.Min(n - done, BufferChunk.Size - within);
            chunk.Bytes.AsSpan(within, take).CopyTo(destination[done..]);
            done += take;
            position += take;
        }
        return n;
    }

    /// <summary>Consumer: copies out and consumes up to <paramref name="destination"/>'s length.</summary>
    public int Read(Span<byte> destination)
    {
        int n = Peek(0, destination);
        Consume(n);
        return n;
    }

    /// <summary>
    /// Consumer: the published bytes as a sequence over the chunks themselves, valid until the consumer consumes them.
    /// Lets a reader hand out the data without copying it.
    /// </summary>
    public ReadOnlySequence<byte> ReadableSequence()
    {
        long tail = Volatile.Read(ref _tail);
        long head = _head;
        if (tail == head)
            return ReadOnlySequence<byte>.Empty;
        var table = Volatile.Read(ref _table)!;
        var first = table[Slot(head)]!;
        var last = first;
        for (long start = first.Start + BufferChunk.Size; start < tail; start += BufferChunk.Size)
        {
            var next = table[Slot(start)]!;
            last.Link(next);
            last = next;
        }
        last.Link(null);
        return new ReadOnlySequence<byte>(first, (int)(head - first.Start), last, (int)(tail - last.Start));
    }

    /// <summary>Consumer: drops <paramref name="count"/> bytes from the head (the engine gives their chunks back).</summary>
    public void Consume(int count) => Volatile.Write(ref _head, _head + count);

    /// <summary>
    /// Engine: gives back every chunk wholly below the head, and, when <paramref name="emptyAndSettled"/> says no
    /// bytes are staged or reserved past the tail, the partly used chunk at the head of an empty ring too. Work is
    /// one step per chunk given back.
    /// </summary>
    public void Reclaim(bool emptyAndSettled = false)
    {
        if (_table is null)
            return;
        long head = Volatile.Read(ref _head);
        // Chunks wholly below the head; with an empty, settled ring also the one the head points into.
        long chunkLimit = emptyAndSettled && Volatile.Read(ref _tail) == head
            ? ((head >> BufferChunk.Shift) + 1) << BufferChunk.Shift
            : head & ~(long)(BufferChunk.Size - 1);
        while (_firstHeld + BufferChunk.Size <= chunkLimit && _heldChunks > 0)
        {
            ref var slot = ref _table[Slot(_firstHeld)];
            if (slot is { } chunk && chunk.Start == _firstHeld)
            {
                _pool!.Return(chunk);
                slot = null;
                _heldChunks--;
            }
            _firstHeld += BufferChunk.Size;
        }
        if (_heldChunks == 0)
            _firstHeld = Math.Max(_firstHeld, head & ~(long)(BufferChunk.Size - 1));
    }

    /// <summary>Gives back every chunk (the last owner, once neither side will touch the ring again).</summary>
    public void ReleaseAll()
    {
        if (_table is null)
            return;
        for (int i = 0; i < _table.Length; i++)
        {
            if (_table[i] is { } chunk)
            {
                _pool!.Return(chunk);
                _table[i] = null;
            }
        }
        _heldChunks = 0;
    }

    int Slot(long position) => (int)((ulong)(position >> BufferChunk.Shift) % (ulong)_slots);

    bool Covered(long position, int length)
    {
        if (length == 0)
            return true;
        if (_table is null)
            return false;
        long last = (position + length - 1) & ~(long)(BufferChunk.Size - 1);
        for (long start = position & ~(long)(BufferChunk.Size - 1); start <= last; start += BufferChunk.Size)
        {
            if (_table[Slot(start)] is not { } chunk || chunk.Start != start)
                return false;
        }
        return true;
    }

    void EnsureChunks(long position, int length)
    {
        if (length <= 0)
            return;
        var table = _table ??= new BufferChunk?[_slots];
        long last = (position + length - 1) & ~(long)(BufferChunk.Size - 1);
        for (long start = position & ~(long)(BufferChunk.Size - 1); start <= last; start += BufferChunk.Size)
        {
            ref var slot = ref table[Slot(start)];
            if (slot is { } held)
            {
                if (held.Start == start)
                    continue;
                // A consumed chunk not yet given back: the table spans MaxLimit, so it lies below the head.
                _pool!.Return(held);
                _heldChunks--;
            }
            var chunk = _pool!.Rent();
            chunk.Place(start);
            slot = chunk;
            if (_heldChunks == 0 || start < _firstHeld)
                _firstHeld = start;
            _heldChunks++;
        }
    }

    void Copy(ReadOnlySpan<byte> data, long position, bool allocate)
    {
        if (data.IsEmpty)
            return;
        if (allocate)
            EnsureChunks(position, data.Length);
        var table = _table!;
        while (!data.IsEmpty)
        {
            var chunk = table[Slot(position)]!;
            int within = (int)(position & (BufferChunk.Size - 1));
            int take = Math.Min(data.Length, BufferChunk.Size - within);
            data[..take].CopyTo(chunk.Bytes.AsSpan(within));
            data = data[take..];
            position += take;
        }
    }
}
