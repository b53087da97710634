using Wirestack.Transport.Buffers;

namespace Wirestack.Transport.Tcp;

// The application's side of the send buffer: what it writes, and the room kept for it as the congestion window
// and its demand change.
internal sealed partial class TcpControlBlock
{
    /// <summary>The application wrote data, or waits for room: reserve room for it and send what may be sent.</summary>
    public void OnApplicationWrite()
    {
        if (!AwaitingProgress)
            NoteProgress();
        ReserveSendRoom();
        Output();
        _network.Reschedule(this);
    }

    /// <summary>
    /// Appends to the send ring from the engine thread itself (single-threaded drivers: tests, benchmarks), within
    /// the send buffer; returns how many bytes fit. Sending is left to <see cref="OnApplicationWrite"/>.
    /// </summary>
    internal int Write(ReadOnlySpan<byte> data)
    {
        Send.Reserve(data.Length);
        return Send.Write(data);
    }

    /// <summary>Least send buffer a connection may reserve whatever cwnd is.</summary>
    const int MinimumSendLimit = 64 * 1024;

    /// <summary>
    /// How long a drained send ring keeps its unused room. Giving it back at once would make a writer that is merely
    /// slower than the network ask the engine for room at every write (bulk send fell to half its speed).
    /// </summary>
    const long SendIdleTimeout = 1_000_000;

    /// <summary>The burst is over if the writer stays quiet until then (long.MaxValue: not armed).</summary>
    long _sendIdleAt = long.MaxValue;

    /// <summary>Timer: a quiet writer's unused room goes back and its demand starts afresh.</summary>
    void EndSendBurst()
    {
        _sendIdleAt = long.MaxValue;
        if (Send.Count != 0 || Buffers.SendRoomWanted != 0)
            return;
        if (Send.TrimReservation())
            _sendGrant = 0;
        else
            _sendIdleAt = _network.Now + SendIdleTimeout; // the writer holds the ring (writing in place): try again later
    }

    /// <summary>Room last given to the writer in one go; doubles while it keeps coming back (see <see cref="ReserveSendRoom"/>).</summary>
    int _sendGrant;

    /// <summary>
    /// Keeps room in the send ring for the writer. The send buffer follows the congestion window (twice cwnd, as
    /// Linux sizes it) between 64 KiB and <see cref="TcpSettings.SendBufferSize"/>. Room goes by demand: what a
    /// blocked writer waits for, twice the last grant while it keeps coming back, and during a burst the room is
    /// topped up as acknowledgments free it, so a bulk writer rarely waits on the engine while an occasional small
    /// writer holds one chunk; when the burst ends (all acknowledged and the writer quiet for
    /// <see cref="SendIdleTimeout"/>) unused room goes back. A
    /// blocked writer is woken for room worth a wake-up (what it waits for, or a third of the buffer, as Linux wakes
    /// writers). When buffer memory is at the budget, a connection holding two chunks or more gets no more.
    /// </summary>
    void ReserveSendRoom()
    {
        if (ReferenceEquals(Send, ByteRing.Empty))
            return;
        int wanted = Buffers.SendRoomWanted;
        if (wanted == 0)
        {
            if (_sendGrant == 0)
                return;
            if (Send.Count == 0)
            {
                // Everything is acknowledged: if the writer stays quiet, the burst is over (see OnTimer).
                if (_sendIdleAt == long.MaxValue)
                    _sendIdleAt = _network.Now + SendIdleTimeout;
                return;
            }
        }
        Send.Limit = (int)Math.Clamp(2 * _congestion.Window, Math.Min(MinimumSendLimit, Send.MaxLimit), Send.MaxLimit);
        int grant = (int)Math.Min(wanted == 0 ? _sendGrant : Math.Max(wanted, 2L * _sendGrant), Send.Limit);
        if (_network.MemoryExhausted)
            grant = (int)Math.Max(0, Math.Min(grant, 2 * BufferChunk.Size - Send.HeldBytes));
        int room = grant > 0 ? Send.Reserve(grant) : Send.Writable;
        if (wanted > 0 && room >= Math.Min(wanted, Send.Limit / 3))
        {
            _sendGrant = Math.Max(grant, BufferChunk.Size);
            Buffers.SendRoomGranted(wanted);
            Events?.OnWritable();
        }
    }
}
