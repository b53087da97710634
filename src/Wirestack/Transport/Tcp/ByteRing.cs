namespace Wirestack.Transport.Tcp;

/// <summary>
/// A fixed-size byte ring shared by exactly one producer thread and one consumer thread without locks: positions are
/// ever-increasing 64-bit counters published with volatile writes, so each side only reads the other's counter.
/// The producer may also stage bytes past the tail (out-of-order data) before publishing them.
/// </summary>
internal sealed class ByteRing(byte[] storage)
{
    /// <summary>A ring with no room, standing in for released buffers.</summary>
    public static ByteRing Empty { get; } = new(0);

    readonly byte[] _buffer = storage;

    public ByteRing(int capacity) : this(new byte[capacity])
    {
    }
    long _head;
    long _tail;

    public int Capacity => _buffer.Length;

    /// <summary>Bytes published and not yet consumed.</summary>
    public int Count => (int)(Volatile.Read(ref _tail) - Volatile.Read(ref _head));

    /// <summary>Bytes the producer may still write (from the tail).</summary>
    public int Free => _buffer.Length - Count;

    public long Head => Volatile.Read(ref _head);

    public long Tail => Volatile.Read(ref _tail);

    /// <summary>Producer: copies bytes to <paramref name="offset"/> bytes past the tail without publishing them.</summary>
    public void Stage(int offset, ReadOnlySpan<byte> data)
    {
        long position = _tail + offset;
        Copy(data, position);
    }

    /// <summary>Producer: appends and publishes as many bytes as fit; returns how many.</summary>
    public int Write(ReadOnlySpan<byte> data)
    {
        int n = Math.Min(data.Length, Free);
        Copy(data[..n], _tail);
        Volatile.Write(ref _tail, _tail + n);
        return n;
    }

    /// <summary>Producer: publishes <paramref name="count"/> staged bytes.</summary>
    public void Publish(int count) => Volatile.Write(ref _tail, _tail + count);

    /// <summary>
    /// Consumer: the published bytes as up to two spans of the ring's own memory (the second when they wrap), valid
    /// until the consumer consumes them. Lets a reader hand out the data without copying it.
    /// </summary>
    public (ReadOnlyMemory<byte> First, ReadOnlyMemory<byte> Second) ReadableMemory()
    {
        int count = Count;
        if (count == 0)
            return (ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty);
        int start = (int)(_head % _buffer.Length);
        int first = Math.Min(count, _buffer.Length - start);
        return (_buffer.AsMemory(start, first), _buffer.AsMemory(0, count - first));
    }

    /// <summary>Consumer: copies bytes starting <paramref name="offset"/> past the head without consuming them.</summary>
    public int Peek(int offset, Span<byte> destination)
    {
        int available = Count - offset;
        int n = Math.Min(destination.Length, available);
        if (n <= 0)
            return 0;
        long position = _head + offset;
        int start = (int)(position % _buffer.Length);
        int first = Math.Min(n, _buffer.Length - start);
        // (n > 0 implies a non-empty buffer, so the modulo above is safe.)
        _buffer.AsSpan(start, first).CopyTo(destination);
        if (first < n)
            _buffer.AsSpan(0, n - first).CopyTo(destination[first..]);
        return n;
    }

    /// <summary>Consumer: copies out and consumes up to <paramref name="destination"/>'s length.</summary>
    public int Read(Span<byte> destination)
    {
        int n = Peek(0, destination);
        Consume(n);
        return n;
    }

    /// <summary>Consumer: drops <paramref name="count"/> bytes from the head.</summary>
    public void Consume(int count) => Volatile.Write(ref _head, _head + count);

    void Copy(ReadOnlySpan<byte> data, long position)
    {
        if (data.IsEmpty)
            return;
        int start = (int)(position % _buffer.Length);
        int first = Math.Min(data.Length, _buffer.Length - start);
        data[..first].CopyTo(_buffer.AsSpan(start));
        if (first < data.Length)
            data[first..].CopyTo(_buffer);
    }
}
