using System.Buffers;

namespace Wirestack.Transport.Buffers;

/// <summary>
/// One fixed-size piece of connection buffer memory. It is also a sequence segment, so received bytes can be handed
/// to a reader as a <see cref="ReadOnlySequence{T}"/> over the chunks themselves, without a copy.
/// </summary>
internal sealed class BufferChunk : ReadOnlySequenceSegment<byte>
{
    /// <summary>
    /// 4 KiB: small enough that an idle connection's partly used chunk costs little (the goal is at most 16 KiB per
    /// idle connection), large enough that a full-sized segment spans at most two chunks.
    /// </summary>
    public const int Size = 4096;

    public const int Shift = 12;

    public BufferChunk()
    {
        Bytes = new byte[Size];
        Memory = Bytes;
    }

    public byte[] Bytes { get; }

    /// <summary>The ring position of the chunk's first byte (set by the ring that holds it).</summary>
    public long Start { get; private set; }

    public void Place(long start)
    {
        Start = start;
        RunningIndex = start;
        Next = null;
    }

    /// <summary>Links the chunk to the one after it for a sequence (consumer side only).</summary>
    public void Link(BufferChunk? next) => Next = next;
}
