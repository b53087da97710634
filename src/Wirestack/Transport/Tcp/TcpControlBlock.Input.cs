using System.Net.Sockets;
using Wirestack.Wire;

namespace Wirestack.Transport.Tcp;

// Segment arrival (RFC 9293 3.10.7.4), with RFC 5961 robustness and RFC 7323 PAWS.
internal sealed partial class TcpControlBlock
{
    /// <summary>The largest segment the known path MTU carries.</summary>
    int PathMss => _network.PathMtu(Key.RemoteAddress) - Key.NetworkHeaderLength - TcpSegment.MinimumHeaderLength;

    /// <summary>Payload bytes per full segment after the options every segment carries.</summary>
    int EffectiveSendMss => _sendMss - (_timestampsEnabled ? 12 : 0);

    /// <summary>Processes one arriving segment (checksum already verified, addressed to this connection).</summary>
    public void Process(TcpSegment segment, in TcpOptions options)
    {
        switch (State)
        {
            case TcpState.SynSent:
                ProcessInSynSent(segment, options);
                break;
            case TcpState.Closed:
            case TcpState.Listen:
                break;
            default:
                ProcessSynchronized(segment, options);
                break;
        }
        Output();
        _network.Reschedule(this);
    }

    void ProcessSynchronized(TcpSegment segment, in TcpOptions options)
    {
        var flags = segment.Flags;
        uint seq = segment.SequenceNumber;
        var payload = segment.Payload;
        if (FailsPaws(flags, options))
            return;

        // RFC 9293 3.10.7.4 first: is the segment acceptable?
        int segmentLength = payload.Length + ((flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((flags & TcpFlags.Fin) != 0 ? 1 : 0);
        if (!IsAcceptable(seq, segmentLength))
        {
            RefuseUnacceptable(flags);
            return;
        }
        // Second: RST. Fourth: SYN.
        if ((flags & TcpFlags.Rst) != 0)
        {
            ProcessReset(seq);
            return;
        }
        if ((flags & TcpFlags.Syn) != 0)
        {
            ProcessSynchronizedSyn(seq);
            return;
        }

        // Fifth: ACK.
        if ((flags & TcpFlags.Ack) == 0)
            return;
        // RFC 7323 4.3: TS.Recent comes from a segment that covers RCV.NXT, and only once its ACK has proved acceptable
        // (RFC 7323 5.3 R3, as Linux does): a forged segment whose ACK is refused must not move it, or every later
        // segment of the real peer would fail PAWS and the connection would stall for good.
        bool coversReceiveNext = _timestampsEnabled && options.HasTimestamps && Seq.Le(seq, RcvNxt);
        uint unacknowledgedBefore = SndUna;
        uint ack = segment.AcknowledgmentNumber;
        if (State == TcpState.SynReceived && !CompleteHandshake(seq, ack, segment.Window))
            return;
        if (!ProcessAck(segment, options, ack, seq, payload.Length) || State == TcpState.Closed)
            return;
        if (coversReceiveNext && Seq.Ge(ack, unacknowledgedBefore) && Seq.Ge(options.TimestampValue, _tsRecent))
        {
            _tsRecent = options.TimestampValue;
            _tsRecentAge = _network.Now;
        }

        // Seventh: segment text. Eighth: FIN.
        if (payload.Length > 0 && !ProcessText(seq, payload))
            return;
        ProcessFin((flags & TcpFlags.Fin) != 0, seq + (uint)payload.Length);
    }

    /// <summary>RFC 7323 5.3 PAWS: a timestamp older than TS.Recent marks a segment from an earlier incarnation (answered with an ACK).</summary>
    bool FailsPaws(TcpFlags flags, in TcpOptions options)
    {
        if (!_timestampsEnabled || !options.HasTimestamps || (flags & TcpFlags.Rst) != 0
            || !Seq.Lt(options.TimestampValue, _tsRecent) || _network.Now - _tsRecentAge >= 24L * 24 * 3600 * 1_000_000)
            return false;
        _network.Counters.Increment(StackCounter.DropTcpPaws);
        SendAck();
        return true;
    }

    /// <summary>RFC 9293 3.10.7.4's acceptability test: some of the segment falls in the receive window (or it is empty and at its edge).</summary>
    bool IsAcceptable(uint seq, int segmentLength)
    {
        uint window = _rcvAdv - RcvNxt;
        if (Seq.Lt(_rcvAdv, RcvNxt))
            window = 0;
        return segmentLength == 0
            ? (window == 0 ? seq == RcvNxt : Seq.InRange(seq, RcvNxt, RcvNxt + window) || seq == RcvNxt)
            : window != 0 && (Seq.InRange(seq, RcvNxt, RcvNxt + window) || Seq.InRange(seq + (uint)segmentLength - 1, RcvNxt, RcvNxt + window));
    }

    /// <summary>An unacceptable segment is answered with an ACK (never a reset: that is dropped silently).</summary>
    void RefuseUnacceptable(TcpFlags flags)
    {
        if ((flags & TcpFlags.Rst) != 0)
            return;
        _network.Counters.Increment(StackCounter.DropTcpOutOfWindow);
        // A retransmitted FIN in TIME-WAIT restarts the 2·MSL timer (RFC 9293 3.10.7.4 eighth).
        if (State == TcpState.TimeWait && (flags & TcpFlags.Fin) != 0)
            EnterTimeWait();
        SendAck();
    }

    /// <summary>RFC 5961 3.2: only a reset at exactly RCV.NXT resets; one elsewhere in the window gets a challenge ACK.</summary>
    void ProcessReset(uint seq)
    {
        if (seq != RcvNxt)
        {
            SendChallengeAck();
            return;
        }
        _network.Counters.Increment(StackCounter.TcpResetsReceived);
        if (State == TcpState.SynReceived && Listener is not null)
            Close(SocketError.ConnectionReset);
        else if (State is TcpState.Closing or TcpState.LastAck or TcpState.TimeWait)
            Close(SocketError.Success);
        else
            Close(SocketError.ConnectionReset);
    }

    /// <summary>RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK, never a reset.</summary>
    void ProcessSynchronizedSyn(uint seq)
    {
        if (State == TcpState.SynReceived && seq == Irs)
        {
            // A retransmitted SYN: our SYN-ACK was lost; send it again.
            SndNxt = Iss;
            SendSyn();
            return;
        }
        SendChallengeAck();
    }

    /// <summary>Data in a state that still takes it; false when it closed the connection instead.</summary>
    bool ProcessText(uint seq, ReadOnlySpan<byte> payload)
    {
        if (State is not (TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2))
            return true;
        if (_applicationClosed)
        {
            // RFC 9293 3.10.7.4 / RFC 2525 2.17: data for an application that has closed is answered with RST.
            SendReset(SndNxt, RcvNxt + (uint)payload.Length, withAck: true);
            Close(SocketError.ConnectionAborted);
            return false;
        }
        AcceptPayload(seq, payload);
        return true;
    }

    /// <summary>A FIN at <paramref name="finSeq"/> is taken once everything before it is; one ahead of the data waits for it.</summary>
    void ProcessFin(bool fin, uint finSeq)
    {
        if (fin)
        {
            if (Seq.Gt(finSeq, RcvNxt))
            {
                _pendingPeerFin = finSeq;
                _hasPendingPeerFin = true;
                _ackNow = true;
            }
            else if (finSeq == RcvNxt)
            {
                ReceiveFin();
            }
        }
        else if (_hasPendingPeerFin && _pendingPeerFin == RcvNxt)
        {
            ReceiveFin();
        }
    }

    bool _hasPendingPeerFin;
    uint _pendingPeerFin;
    bool _applicationClosed;

    void ReceiveFin()
    {
        if (PeerFinished)
        {
            _ackNow = true;
            return;
        }
        _hasPendingPeerFin = false;
        PeerFinished = true;
        RcvNxt++;
        _ackNow = true;
        switch (State)
        {
            case TcpState.SynReceived:
            case TcpState.Established:
                SetState(TcpState.CloseWait);
                break;
            case TcpState.FinWait1:
                if (_finSent && SndUna == FinSeq + 1)
                    EnterTimeWait();
                else
                    SetState(TcpState.Closing);
                break;
            case TcpState.FinWait2:
                EnterTimeWait();
                break;
            case TcpState.TimeWait:
                EnterTimeWait();
                break;
        }
        Events?.OnReadable();
    }

    /// <summary>Takes in-window payload starting at <paramref name="seq"/>; in order or staged out of order.</summary>
    void AcceptPayload(uint seq, ReadOnlySpan<byte> payload)
    {
        // Trim what we already have (RFC 9293 3.10.7.4: the portion before RCV.NXT is a duplicate).
        if (Seq.Lt(seq, RcvNxt))
        {
            int duplicate = (int)(RcvNxt - seq);
            if (duplicate >= payload.Length)
            {
                _ackNow = true;
                return;
            }
            payload = payload[duplicate..];
            seq = RcvNxt;
        }
        int offset = (int)(seq - RcvNxt);
        if (offset > 0)
        {
            // Out of order: stage it and ACK at once with SACK so the sender can recover (RFC 5681 4.2).
            if (!Receive.Covers(offset, payload.Length) && !Receive.StageOutOfOrder(offset, payload, mayGrow: !_network.MemoryExhausted))
                _network.Counters.Increment(StackCounter.DropTcpOutOfOrderNoRoom);
            _network.Counters.Increment(StackCounter.TcpSegmentsOutOfOrder);
            _ackNow = true;
            return;
        }
        bool filledHole = Receive.HasOutOfOrder;
        int advanced = Receive.AcceptInOrder(payload);
        if (advanced == 0)
        {
            _network.Counters.Increment(StackCounter.DropTcpReceiveBufferFull);
            _ackNow = true;
            return;
        }
        RcvNxt += (uint)advanced;
        BytesReceived += advanced;
        // RFC 5681 4.2 / RFC 1122 4.2.3.2: ACK at least every second segment, at once when a hole was filled,
        // otherwise within the delayed-ACK timeout. A segment longer than our MSS stands for several (a 64 KiB one
        // the host's kernel handed over whole, GSO). Segments that arrived together in one receive batch are
        // acknowledged together at its end, up to a bound, as Linux acknowledges what GRO merged: the sender's
        // window moves as far, with a fraction of the ACKs to write and for the sender to process.
        _segmentsSinceAck += advanced > _ourMss ? (advanced + _ourMss - 1) / _ourMss : 1;
        if (filledHole)
            _ackNow = true;
        else if (_segmentsSinceAck >= 2)
        {
            if (_network.InReceiveBatch && _segmentsSinceAck < MaxSegmentsPerBatchAck)
            {
                _ackAtBatchEnd = true;
                DeferToBatchEnd();
            }
            else
            {
                _ackNow = true;
            }
        }
        else if (_delayedAckAt == long.MaxValue)
        {
            _delayedAckAt = _network.Now + Micro(_settings.DelayedAckTimeout);
        }
        // The reader is woken once per batch too: one wake-up, and one larger read, instead of one per segment.
        if (_network.InReceiveBatch)
        {
            _readableAtBatchEnd = true;
            DeferToBatchEnd();
        }
        else
        {
            Events?.OnReadable();
        }
    }

    /// <summary>
    /// The most in-order segments one ACK covers in a receive batch (about 23 KB at a 1460-byte MSS, a tenth of a
    /// 256 KiB window): past it the ACK goes at once, so a long batch does not starve the sender of ACKs.
    /// </summary>
    const int MaxSegmentsPerBatchAck = 16;

    bool _batchEndPending, _ackAtBatchEnd, _readableAtBatchEnd;

    void DeferToBatchEnd()
    {
        if (_batchEndPending)
            return;
        _batchEndPending = true;
        _network.DeferToBatchEnd(this);
    }

    /// <summary>
    /// The readable signal left for the batch end, now: also before the application is told the connection closed
    /// (its data comes first, as it did).
    /// </summary>
    void RaiseDeferredReadable()
    {
        if (!_readableAtBatchEnd)
            return;
        _readableAtBatchEnd = false;
        Events?.OnReadable();
    }

    /// <summary>The receive batch ended: the readable signal and the ACK this connection left for it.</summary>
    public void EndReceiveBatch()
    {
        _batchEndPending = false;
        RaiseDeferredReadable();
        if (_ackAtBatchEnd)
        {
            _ackAtBatchEnd = false;
            // Data sent since carried the ACK already.
            if (_segmentsSinceAck > 0 && State != TcpState.Closed)
            {
                _ackNow = true;
                Output();
                _network.Reschedule(this);
            }
        }
    }

    /// <summary>
    /// RFC 9293 3.10.7.4 fifth, with RFC 5961 5.2 ACK validation. Returns false when the segment must be dropped.
    /// </summary>
    bool ProcessAck(TcpSegment segment, in TcpOptions options, uint ack, uint seq, int payloadLength)
    {
        // RFC 5961 5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.MAX].
        if (Seq.Gt(ack, SndMax))
        {
            _network.Counters.Increment(StackCounter.DropTcpAckOfUnsentData);
            SendAck();
            return false;
        }
        if (Seq.Lt(ack, SndUna - (uint)Math.Min(_maxSndWnd, int.MaxValue)))
        {
            SendChallengeAck();
            return false;
        }

        long window = (long)segment.Window << _sendScale;
        bool windowUpdate = Seq.Lt(_sndWl1, seq) || (_sndWl1 == seq && Seq.Le(_sndWl2, ack));
        bool windowChanged = windowUpdate && window != _sndWnd;

        if (_sackEnabled && options.SackBlockCount > 0)
            UpdateScoreboard(options);

        if (!_applicationClosed)
            _persistProbes = 0; // the peer answers: an application's connection keeps probing (RFC 1122 4.2.2.17)
        if (Seq.Gt(ack, SndUna))
        {
            NoteProgress();
            OnNewAck(ack, options);
        }
        else if (ack == SndUna && payloadLength == 0 && !windowChanged && SndMax != SndUna
            && (segment.Flags & (TcpFlags.Syn | TcpFlags.Fin)) == 0)
        {
            OnDuplicateAck();
        }

        if (windowUpdate)
        {
            bool opened = window > _sndWnd;
            _sndWnd = window;
            _maxSndWnd = Math.Max(_maxSndWnd, window);
            _sndWl1 = seq;
            _sndWl2 = ack;
            if (opened && window > 0)
            {
                _persistBackoff = 0;
                _persistProbes = 0;
                NoteProgress();
            }
        }

        // State changes driven by our FIN being acknowledged.
        if (_finSent && SndUna == FinSeq + 1)
        {
            SendCompleted();
            switch (State)
            {
                case TcpState.FinWait1:
                    SetState(TcpState.FinWait2);
                    if (_applicationClosed)
                        ArmFinWait2Timeout();
                    break;
                case TcpState.Closing:
                    EnterTimeWait();
                    break;
                case TcpState.LastAck:
                    Close(SocketError.Success);
                    return false;
            }
        }
        return true;
    }
}
