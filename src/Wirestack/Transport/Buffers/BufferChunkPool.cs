using System.Collections.Concurrent;

namespace Wirestack.Transport.Buffers;

/// <summary>
/// The chunks every connection of one stack draws its buffers from. It counts the bytes in use (the memory-pressure
/// signal) and keeps a bounded number of free chunks for reuse; past that bound returned chunks go to the garbage
/// collector, so a burst of traffic does not pin its peak memory forever. Thread-safe: the engine and application
/// threads rent and return (the queue does not allocate per operation in steady state).
/// </summary>
internal sealed class BufferChunkPool(long maxFreeBytes)
{
    readonly ConcurrentQueue<BufferChunk> _free = new();
    readonly int _maxFree = (int)Math.Clamp(maxFreeBytes / BufferChunk.Size, 0, int.MaxValue);
    int _freeCount;
    long _inUse;

    /// <summary>Bytes of chunks rented and not yet returned.</summary>
    public long BytesInUse => Volatile.Read(ref _inUse) * BufferChunk.Size;

    /// <summary>Tests only: fill returned chunks with this byte, so a use after return shows as corrupt data.</summary>
    public byte? Poison { get; init; }

    public BufferChunk Rent()
    {
        Interlocked.Increment(ref _inUse);
        if (_free.TryDequeue(out var chunk))
        {
            Interlocked.Decrement(ref _freeCount);
            return chunk;
        }
        return new BufferChunk();
    }

    public void Return(BufferChunk chunk)
    {
        Interlocked.Decrement(ref _inUse);
        if (Poison is { } poison)
            chunk.Bytes.AsSpan().Fill(poison);
        chunk.Link(null);
        if (Interlocked.Increment(ref _freeCount) <= _maxFree)
        {
            _free.Enqueue(chunk);
            return;
        }
        Interlocked.Decrement(ref _freeCount);
    }
}
