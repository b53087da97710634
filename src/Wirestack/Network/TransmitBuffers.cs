using System.Runtime.CompilerServices;
using Wirestack.Wire;

namespace Wirestack.Network;

/// <summary>
/// The buffers outgoing packets are built in, leased one per packet: a packet on its way out never shares its buffer
/// with one its sending causes (a neighbour solicitation, an ICMP error, a reset), whatever the order of the calls.
/// Sends nest only a few deep, so a handful of buffers serve for the engine's life and nothing is allocated per packet.
/// </summary>
internal sealed class TransmitBuffers
{
    /// <summary>Room before any packet the engine builds, for the link header (and a reassembled datagram's).</summary>
    public const int LinkHeadroom = Reassembler.Headroom;

    /// <summary>Room before any transport header: link header, IPv6 header and a Fragment header.</summary>
    public const int TransportOffset = LinkHeadroom + Ipv6Packet.HeaderLength + Ipv6FragmentHeader.Length;

    /// <summary>Bytes in each buffer: the headroom and the largest IP packet.</summary>
    public const int BufferLength = TransportOffset + Ipv4Packet.MaximumLength;

    // Leases nest (a packet, the solicitation its sending causes, an error about that), so they are taken and given
    // back last-in first-out: the buffers below _leased are out, the ones from it on are free.
    byte[][] _buffers = [new byte[BufferLength]];
    int _leased;

    /// <summary>Buffers leased and not yet returned.</summary>
    public int Leased => _leased;

    /// <summary>A buffer for one packet; dispose the lease when the packet has been handed to the device or queued (copied).</summary>
    public TransmitLease Rent()
    {
        if (_leased == _buffers.Length)
            Grow();
        return new TransmitLease(this, _buffers[_leased++]);
    }

    // Out of line: it runs a few times in the engine's life, and inlined it would crowd the send path's inlining.
    [MethodImpl(MethodImplOptions.NoInlining)]
    void Grow()
    {
        Array.Resize(ref _buffers, _buffers.Length * 2);
        for (int i = _leased; i < _buffers.Length; i++)
            _buffers[i] = new byte[BufferLength];
    }

    internal void Return(byte[] buffer)
    {
        // Returned in the reverse order of renting (each lease is a using-scoped local): the last one out comes back.
        _buffers[--_leased] = buffer;
    }
}

/// <summary>One packet's buffer, leased from <see cref="TransmitBuffers"/>; disposing returns it.</summary>
internal readonly struct TransmitLease(TransmitBuffers owner, byte[] buffer) : IDisposable
{
    public byte[] Buffer { get; } = buffer;

    public void Dispose() => owner.Return(Buffer);
}
