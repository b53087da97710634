using Wirestack.Transport.Buffers;
using Wirestack.Wire;

namespace Wirestack.Transport.Tcp;

// Output: segmentation within the send and congestion windows, Nagle (RFC 896), sender SWS avoidance
// (RFC 1122 4.2.3.4), the receive window we advertise (receiver SWS avoidance, RFC 1122 4.2.3.3), ACKs and resets.
internal sealed partial class TcpControlBlock
{
    bool _ackNow;
    int _segmentsSinceAck;
    uint _smallSegmentEnd;

    /// <summary>Sends whatever the windows, Nagle and the state allow, then any ACK still owed.</summary>
    public void Output()
    {
        switch (State)
        {
            case TcpState.Closed:
            case TcpState.Listen:
            case TcpState.SynSent:
                return;
            case TcpState.SynReceived:
            case TcpState.TimeWait:
                if (_ackNow)
                    SendAck();
                return;
        }

        // The peer's window limits sequence space; cwnd limits what is in the network, which during SACK recovery is
        // the pipe estimate (RFC 6675 5), not everything outstanding: computed once (it walks the scoreboard) and
        // kept up to date as segments go out.
        long pipe = -1;
        if (_inRecovery && _sackEnabled)
            pipe = SendSackRecovery();

        bool sentAny = false;
        while (true)
        {
            if (_sackEnabled && SkipSacked())
                continue;
            long inFlight = (long)(uint)(SndNxt - SndUna);
            long congestionFlight = pipe >= 0 ? pipe : inFlight;
            long usable = Math.Min(_sndWnd - inFlight, _congestion.Window - congestionFlight);
            long dataEnd = (long)(uint)(_sendBufferSeq + (uint)Send.Count - SndUna);
            long available = dataEnd - inFlight;
            if (available < 0)
                available = 0; // only the FIN lies beyond
            int maxPayload = MaxPayload();
            bool retransmitting = Seq.Lt(SndNxt, SndMax);
            // New data may go as one long segment for the device to cut; what is resent goes MSS by MSS, so a loss
            // costs what it would without offloads.
            int segmentLimit = retransmitting ? maxPayload : SegmentLimit(maxPayload);
            int length = (int)Math.Max(0, Math.Min(Math.Min(available, segmentLimit), usable));
            if (length > maxPayload && length % maxPayload != 0 && !(_finQueued && SndNxt + (uint)length == FinSeq)
                && (length < available || !NoDelay && Seq.Gt(_smallSegmentEnd, SndUna)))
            {
                // A long segment ends with a short piece: send it only where a sender of MSS-sized segments would
                // (the end of the data, Nagle permitting); otherwise it waits for the next round, as it would.
                length -= length % maxPayload;
            }
            bool fin = _finQueued && SndNxt + (uint)length == FinSeq && Seq.Le(SndNxt + (uint)length, FinSeq)
                && (!_finSent || Seq.Le(SndNxt, FinSeq));
            if (length == 0 && !fin)
            {
                if (available > 0 && _sndWnd < Math.Min(available, maxPayload) && SndMax == SndUna)
                    ArmPersist();
                break;
            }
            if (!retransmitting && !fin && length < maxPayload && HoldsSmallSegment(length, available))
                break;
            SendData(SndNxt, length, fin, retransmitting, length > maxPayload ? maxPayload : 0);
            if (pipe >= 0)
                pipe += length;
            if (!retransmitting && length % maxPayload != 0)
                _smallSegmentEnd = SndNxt;
            sentAny = true;
        }
        if (_ackNow && !sentAny)
            SendAck();
    }

    /// <summary>Whether new data shorter than a segment waits (RFC 9293 3.8.6.2.1 Nagle, RFC 1122 4.2.3.4 sender SWS avoidance).</summary>
    bool HoldsSmallSegment(int length, long available)
    {
        // Nagle with Minshall's refinement (as Linux): hold a small segment only while another small segment is
        // unacknowledged, so a request's or response's tail goes out at once.
        if (!NoDelay && Seq.Gt(_smallSegmentEnd, SndUna))
            return true;
        // Sender SWS avoidance: the window, not the data, limits us; wait for it to open usefully. With nothing in
        // flight no ACK will come to re-run this, so the persist timer doubles as RFC 1122 4.2.3.4's override timer (a
        // receiver that never reads would otherwise leave us waiting forever).
        if (length < available && length < _maxSndWnd / 2)
        {
            if (SndMax == SndUna)
                ArmPersist();
            return true;
        }
        return false;
    }

    int MaxPayload()
    {
        int options = _timestampsEnabled ? 12 : 0;
        if (_sackEnabled && Receive.HasOutOfOrder)
            options += _timestampsEnabled ? 28 : 36;
        return Math.Max(1, _sendMss - options);
    }

    /// <summary>
    /// The longest segment to build: with segmentation offload, as many whole MSS-sized pieces as fit one 64 KiB IP
    /// packet (the kernel's own GSO limit) behind the largest headers; otherwise one.
    /// </summary>
    int SegmentLimit(int maxPayload)
    {
        if (!_network.SegmentationOffload)
            return maxPayload;
        int room = ushort.MaxValue - Key.NetworkHeaderLength - TcpSegment.MaximumHeaderLength;
        return Math.Max(1, room / maxPayload) * maxPayload;
    }

    /// <summary>After a timeout, jumps SND.NXT over ranges the peer has SACKed (RFC 6675 5.1 spirit: don't resend them).</summary>
    bool SkipSacked()
    {
        if (_scoreboard.Count == 0 || !Seq.Lt(SndNxt, SndMax))
            return false;
        int index = FirstRangeEndingAfter(SndNxt);
        if (index < _scoreboard.Count && Seq.Le(_scoreboard[index].Start, SndNxt))
        {
            SndNxt = Seq.Min(_scoreboard[index].End, SndMax);
            return true;
        }
        return false;
    }

    /// <summary>
    /// Sends one segment of <paramref name="length"/> data bytes from <paramref name="seq"/>, with FIN when asked; a
    /// long one with <paramref name="segmentSize"/> set, for the device to cut into pieces of that many bytes.
    /// </summary>
    void SendData(uint seq, int length, bool fin, bool retransmission, int segmentSize = 0)
    {
        var flags = TcpFlags.Ack;
        if (length > 0 && seq + (uint)length == _sendBufferSeq + (uint)Send.Count)
            flags |= TcpFlags.Psh;
        if (fin)
            flags |= TcpFlags.Fin;
        var options = SegmentOptions();
        Transmit(seq, flags, options, length, segmentSize);
        uint end = seq + (uint)length + (fin ? 1u : 0u);
        SndNxt = end;
        if (fin)
            _finSent = true;
        if (Seq.Gt(end, SndMax))
        {
            // Count first transmissions only: the part of this segment beyond what was ever sent.
            if (length > 0)
                BytesSent += (long)(uint)(end - Seq.Max(seq, SndMax)) - (fin ? 1 : 0);
            SndMax = end;
        }
        if (retransmission)
        {
            _timingSegment = false; // Karn's rule
            SegmentsRetransmitted++;
            _network.Counters.Increment(StackCounter.TcpSegmentsRetransmitted);
        }
        else if (!_timingSegment && length > 0)
        {
            _timingSegment = true;
            _timedSequence = end;
            _timedAt = _network.Now;
        }
        if (_retransmitAt == long.MaxValue)
            _retransmitAt = _network.Now + _rto.Current;
        _persistAt = long.MaxValue;
    }

    /// <summary>SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) with our options (RFC 9293 3.7.1, RFC 7323, RFC 2018).</summary>
    void SendSyn()
    {
        var options = TcpOptions.None;
        options.MaximumSegmentSize = (ushort)Math.Min(_ourMss, ushort.MaxValue);
        bool active = State == TcpState.SynSent;
        if (_settings.WindowScaling && (active || _windowScalingEnabled))
            options.WindowScale = (sbyte)_desiredReceiveScale;
        if (_settings.Sack && (active || _sackEnabled))
            options.SackPermitted = true;
        if (_settings.Timestamps && (active || _timestampsEnabled))
        {
            options.HasTimestamps = true;
            options.TimestampValue = TimestampNow;
            options.TimestampEcho = active ? 0 : _tsRecent;
        }
        var flags = TcpFlags.Syn | (active ? TcpFlags.None : TcpFlags.Ack);
        bool retransmission = SndMax != Iss;
        Transmit(Iss, flags, options, 0);
        SndNxt = Iss + 1;
        SndMax = Iss + 1;
        if (!retransmission)
        {
            _timingSegment = true;
            _timedSequence = Iss + 1;
            _timedAt = _network.Now;
        }
        else
        {
            _timingSegment = false;
        }
        _retransmitAt = _network.Now + _rto.Current;
    }

    TcpOptions SegmentOptions()
    {
        var options = TcpOptions.None;
        if (_timestampsEnabled)
        {
            options.HasTimestamps = true;
            options.TimestampValue = TimestampNow;
            options.TimestampEcho = _tsRecent;
        }
        if (_sackEnabled && Receive.HasOutOfOrder)
            options.SackBlockCount = Receive.FillSackBlocks(RcvNxt, ref options.Sack, _timestampsEnabled ? 3 : 4);
        return options;
    }

    /// <summary>Our timestamp clock: milliseconds (RFC 7323 5.4 allows 1 ms to 1 s per tick).</summary>
    uint TimestampNow => (uint)(_network.Now / 1000) + 1;

    /// <summary>
    /// A pure ACK. It carries SND.MAX, not SND.NXT: after a timeout pulls SND.NXT back, a lower sequence number
    /// would fall below the peer's RCV.NXT and be dropped as unacceptable, losing the acknowledgment (as BSD does).
    /// </summary>
    public void SendAck() => Transmit(SndMax, TcpFlags.Ack, SegmentOptions(), 0);

    /// <summary>RFC 5961 7: challenge ACKs are rate limited so they cannot be used to amplify or probe.</summary>
    void SendChallengeAck()
    {
        if (_challengeAcks.TryTake(_network.Now))
        {
            _network.Counters.Increment(StackCounter.TcpChallengeAcksSent);
            SendAck();
        }
        else
        {
            _network.Counters.Increment(StackCounter.DropTcpChallengeAckLimited);
        }
    }

    void SendReset(uint seq, uint ack = 0, bool withAck = false)
    {
        var options = TcpOptions.None;
        var flags = TcpFlags.Rst | (withAck ? TcpFlags.Ack : TcpFlags.None);
        BuildAndSend(seq, withAck ? ack : 0, flags, 0, options, 0);
        _network.Counters.Increment(StackCounter.TcpResetsSent);
    }

    void Transmit(uint seq, TcpFlags flags, in TcpOptions options, int payloadLength, int segmentSize = 0)
    {
        ushort window = AdvertiseWindow((flags & TcpFlags.Syn) != 0);
        BuildAndSend(seq, RcvNxt, flags, window, options, payloadLength, segmentSize);
        if ((flags & TcpFlags.Ack) != 0)
        {
            _ackNow = false;
            _segmentsSinceAck = 0;
            _delayedAckAt = long.MaxValue;
        }
    }

    void BuildAndSend(uint seq, uint ack, TcpFlags flags, ushort window, in TcpOptions options, int payloadLength, int segmentSize = 0)
    {
        using var lease = _network.RentSegmentBuffer();
        var buffer = lease.Buffer;
        int start = _network.SegmentOffset;
        int headerLength = TcpSegment.MinimumHeaderLength + options.WireLength;
        if (payloadLength > 0)
            Send.Peek((int)(seq - _sendBufferSeq), buffer.AsSpan(start + headerLength, payloadLength));
        int length = new TcpHeader(Key.LocalPort, Key.RemotePort, seq, ack, flags, window)
            .Write(buffer.AsSpan(start), options, payloadLength, Key.LocalAddress, Key.RemoteAddress, partialChecksum: _network.SegmentationOffload);
        _network.SendSegment(Key, buffer, length, segmentSize);
        // Counted as the segments on the wire, as Linux counts OutSegs.
        _network.Counters.Add(StackCounter.TcpSegmentsSent, segmentSize > 0 ? (payloadLength + segmentSize - 1) / segmentSize : 1);
    }

    /// <summary>
    /// The window field to send. The right edge never moves left, and moves right only by at least
    /// min(buffer/2, MSS) at a time (receiver SWS avoidance, RFC 1122 4.2.3.3).
    /// </summary>
    ushort AdvertiseWindow(bool syn)
    {
        int scale = syn ? 0 : _receiveScale;
        long free = WindowRoom();
        uint candidate = RcvNxt + (uint)Math.Min(free, 65535L << scale);
        long increase = (int)(candidate - _rcvAdv);
        if (Seq.Lt(_rcvAdv, RcvNxt))
            _rcvAdv = RcvNxt;
        if (increase > 0 && (increase >= Math.Min(Receive.Limit / 2, _ourMss) || candidate - RcvNxt == free && free >= Receive.Limit / 2))
            _rcvAdv = candidate;
        long window = (long)(uint)(_rcvAdv - RcvNxt);
        return (ushort)Math.Min(window >> scale, 65535);
    }

    /// <summary>
    /// The application read data: give back the chunks it read past, let the window grow if the reader keeps up,
    /// and announce the opened window if it grew enough to matter.
    /// </summary>
    public void OnApplicationRead()
    {
        Receive.Reclaim();
        if (!IsSynchronized || State == TcpState.TimeWait || PeerFinished)
            return;
        TuneReceiveWindow();
        uint candidate = RcvNxt + (uint)Math.Min(WindowRoom(), 65535L << _receiveScale);
        long increase = (int)(candidate - _rcvAdv);
        // Linux-like: update when the window can grow by two segments or half the buffer.
        if (increase >= Math.Min(Receive.Limit / 2, 2 * _ourMss))
        {
            SendAck();
            _network.Reschedule(this);
        }
    }

    /// <summary>A window a connection may still open while buffer memory is at the budget.</summary>
    public const int ExhaustedWindowFloor = 2 * BufferChunk.Size;

    /// <summary>
    /// How far past RCV.NXT the window may reach: the free buffer, except that while buffer memory is at the budget a
    /// connection holding more than a small floor opens no further (its peer probes and learns when memory frees).
    /// </summary>
    long WindowRoom()
    {
        long room = Receive.Free;
        if (_network.MemoryExhausted)
            room = Math.Min(room, Math.Max(0, ExhaustedWindowFloor - Receive.Ring.Count));
        return room;
    }

    long _readMeasuredAt = long.MinValue;
    long _readMeasuredHead;

    /// <summary>
    /// Receive-window autotuning in the spirit of Linux's dynamic right-sizing: once per round trip, if the
    /// application read more than half the window, the window (not yet memory: chunks follow the bytes that arrive)
    /// doubles, up to <see cref="TcpSettings.ReceiveBufferSize"/>. It never grows under memory pressure.
    /// </summary>
    void TuneReceiveWindow()
    {
        long now = _network.Now;
        long head = Receive.Ring.Head;
        if (_readMeasuredAt == long.MinValue)
        {
            (_readMeasuredAt, _readMeasuredHead) = (now, head);
            return;
        }
        if (now - _readMeasuredAt < Math.Max(_rto.SmoothedRtt, 2_000))
            return;
        long read = head - _readMeasuredHead;
        (_readMeasuredAt, _readMeasuredHead) = (now, head);
        if (read * 2 >= Receive.Limit && !_network.MemoryPressure)
            Receive.GrowLimit((int)Math.Min(2L * Receive.Limit, int.MaxValue));
    }

    /// <summary>Half-close: no more data from us; FIN follows the queued data (RFC 9293 3.10.4).</summary>
    public void Shutdown()
    {
        if (_finQueued || State is TcpState.Closed or TcpState.TimeWait)
            return;
        _finQueued = true;
        if (!AwaitingProgress)
            NoteProgress();
        switch (State)
        {
            case TcpState.SynSent:
                // Nothing sent the peer could be waiting on: just go (RFC 9293 3.10.4).
                Close(System.Net.Sockets.SocketError.Success);
                return;
            case TcpState.Established:
                SetState(TcpState.FinWait1);
                break;
            case TcpState.CloseWait:
                SetState(TcpState.LastAck);
                break;
        }
        Output();
        _network.Reschedule(this);
    }

    /// <summary>The application closed the connection: FIN after the data, or RST if it left data unread (RFC 2525 2.17).</summary>
    public void CloseByApplication()
    {
        _applicationClosed = true;
        _lingering = Events;
        Events = null;
        if (State is TcpState.Closed or TcpState.TimeWait)
        {
            SendCompleted();
            return;
        }
        if (Receive.Ring.Count > 0)
        {
            Abort();
            return;
        }
        Shutdown();
        if (State == TcpState.FinWait2)
            ArmFinWait2Timeout();
        if (State is TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)
            _network.OnOrphaned(this);
        else if (State is TcpState.FinWait2)
            SendCompleted();
    }

    /// <summary>The application side that closed the connection and lingers until its data and FIN are acknowledged.</summary>
    ITcpConnectionEvents? _lingering;

    /// <summary>Our data and FIN are acknowledged, or the connection is gone: a lingering close is complete.</summary>
    void SendCompleted()
    {
        var lingering = _lingering;
        _lingering = null;
        lingering?.OnClosed(Error);
    }

    /// <summary>Abortive close: RST now, drop everything (RFC 9293 3.10.5).</summary>
    public void Abort()
    {
        if (State is TcpState.SynReceived or TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.CloseWait)
            SendReset(SndNxt, RcvNxt, withAck: true);
        Close(System.Net.Sockets.SocketError.OperationAborted);
    }
}
