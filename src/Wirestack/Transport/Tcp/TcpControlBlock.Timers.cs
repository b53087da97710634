using System.Net.Sockets;

namespace Wirestack.Transport.Tcp;

// Timers: retransmission (RFC 6298), delayed ACK (RFC 1122 4.2.3.2), persist (RFC 9293 3.8.6.1), keepalive
// (RFC 1122 4.2.3.6), TIME-WAIT (RFC 9293 3.10.7.4), and a FIN-WAIT-2 limit for connections the application closed.
internal sealed partial class TcpControlBlock
{
    const long FinWait2Timeout = 60_000_000;

    long _retransmitAt = long.MaxValue;
    long _delayedAckAt = long.MaxValue;
    long _persistAt = long.MaxValue;
    long _keepaliveAt = long.MaxValue;
    long _endAt = long.MaxValue;
    int _persistBackoff;
    int _persistProbes;
    int _synRetries;
    int _keepaliveProbes;
    long _progressAt;

    /// <summary>The user timeout in microseconds (RFC 5482), 0 for none.</summary>
    public long UserTimeout { get; set; }

    /// <summary>True once the application closed the connection while it still had data or a FIN to deliver.</summary>
    public bool IsOrphan { get; set; }

    /// <summary>Retransmissions (or zero-window probes) allowed before giving up: fewer for an orphan.</summary>
    int RetryLimit => _applicationClosed ? Math.Min(_settings.MaxRetransmissions, _settings.OrphanRetries) : _settings.MaxRetransmissions;

    /// <summary>Sent data is unacknowledged, or data waits to be sent (behind the peer's window: the window is never the
    /// only thing between written data and the wire otherwise).</summary>
    bool AwaitingProgress => SndMax != SndUna || Send.Count > 0;

    /// <summary>The peer took data or opened its window: the user timeout counts from now.</summary>
    void NoteProgress() => _progressAt = _network.Now;

    public void UpdateDeadline()
    {
        if (State == TcpState.Closed)
        {
            Deadline = long.MaxValue;
            return;
        }
        if (_settings.KeepaliveIdle is { } idle && State == TcpState.Established && _keepaliveAt == long.MaxValue)
            _keepaliveAt = _network.Now + Micro(idle);
        long deadline = Math.Min(Math.Min(_retransmitAt, _delayedAckAt), Math.Min(_persistAt, _endAt));
        Deadline = Math.Min(Math.Min(deadline, _keepaliveAt), Math.Min(_sendIdleAt, UserTimeoutAt));
    }

    void ClearTimers()
    {
        _retransmitAt = _delayedAckAt = _persistAt = _keepaliveAt = _endAt = _sendIdleAt = long.MaxValue;
        Deadline = long.MaxValue;
    }

    /// <summary>Any segment from the peer shows it is alive.</summary>
    public void NoteActivity()
    {
        _keepaliveProbes = 0;
        if (_settings.KeepaliveIdle is { } idle && State == TcpState.Established)
            _keepaliveAt = _network.Now + Micro(idle);
    }

    /// <summary>When the user timeout runs out (long.MaxValue while it does not apply).</summary>
    long UserTimeoutAt => UserTimeout > 0 && IsSynchronized && State != TcpState.TimeWait && AwaitingProgress
        ? _progressAt + UserTimeout : long.MaxValue;

    /// <summary>Runs the timers that are due.</summary>
    public void OnTimer()
    {
        long now = _network.Now;
        if (now >= _endAt)
        {
            Close(State == TcpState.TimeWait ? SocketError.Success : SocketError.TimedOut);
            return;
        }
        if (now >= UserTimeoutAt)
        {
            GiveUp();
            return;
        }
        if (now >= _retransmitAt)
        {
            OnRetransmissionTimeout();
            if (State == TcpState.Closed)
                return;
        }
        if (now >= _delayedAckAt)
        {
            _delayedAckAt = long.MaxValue;
            _ackNow = true;
        }
        if (now >= _persistAt)
            SendWindowProbe();
        if (now >= _sendIdleAt)
            EndSendBurst();
        if (now >= _keepaliveAt)
        {
            if (_keepaliveProbes >= _settings.KeepaliveProbes)
            {
                Close(SocketError.TimedOut);
                return;
            }
            _keepaliveProbes++;
            SendProbe();
            _keepaliveAt = now + Micro(_settings.KeepaliveInterval);
        }
        Output();
        _network.Reschedule(this);
    }

    void OnRetransmissionTimeout()
    {
        long now = _network.Now;
        _network.Counters.Increment(StackCounter.TcpRetransmissionTimeouts);
        if (State is TcpState.SynSent or TcpState.SynReceived)
        {
            if (++_synRetries > _settings.MaxSynRetransmissions)
            {
                Close(SocketError.TimedOut);
                return;
            }
            _rto.BackOff();
            SendSyn();
            return;
        }
        if (SndMax == SndUna)
        {
            _retransmitAt = long.MaxValue;
            return;
        }
        if (++Retransmissions > RetryLimit)
        {
            GiveUp();
            return;
        }
        // RFC 5681 3.1 / RFC 6298 5.5-5.6: collapse cwnd, back off, go back to SND.UNA. SACKed ranges are kept and
        // skipped (as Linux does); after a second consecutive timeout they are dropped in case the receiver
        // reneged (RFC 2018 8).
        _congestion.OnTimeout((long)(uint)(SndMax - SndUna), now);
        _rto.BackOff();
        _inRecovery = false;
        _recover = SndMax;
        _duplicateAcks = 0;
        if (Retransmissions > 1)
            _scoreboard.Clear();
        _timingSegment = false;
        SndNxt = SndUna;
        _retransmitAt = now + _rto.Current;
    }

    void ArmPersist()
    {
        if (_persistAt != long.MaxValue)
            return;
        long interval = Math.Clamp(_rto.Current << Math.Min(_persistBackoff, 10), 200_000, 60_000_000);
        _persistAt = _network.Now + interval;
    }

    /// <summary>
    /// A zero-window probe: an old sequence number that makes the peer report its window (as Linux probes). While the
    /// peer answers, a connection with an application keeps probing (RFC 1122 4.2.2.17); unanswered probes, and for an
    /// orphan any probes, count toward the retry limit.
    /// </summary>
    void SendWindowProbe()
    {
        _persistAt = long.MaxValue;
        if (++_persistProbes > RetryLimit)
        {
            GiveUp();
            return;
        }
        long inFlight = (long)(uint)(SndNxt - SndUna);
        long unsent = (long)(uint)(_sendBufferSeq + (uint)Send.Count - SndNxt);
        long window = _sndWnd - inFlight;
        if (window > 0 && unsent > 0)
        {
            // The window is open a little but sender SWS avoidance held the data: send what fits (RFC 1122 4.2.3.4).
            SendData(SndNxt, (int)Math.Min(Math.Min(window, unsent), MaxPayload()), fin: false, retransmission: Seq.Lt(SndNxt, SndMax));
        }
        else
        {
            _network.Counters.Increment(StackCounter.TcpWindowProbesSent);
            SendProbe();
        }
        _persistBackoff++;
        if (SndMax == SndUna && Send.Count > 0)
            ArmPersist();
    }

    void SendProbe()
    {
        var flags = Wire.TcpFlags.Ack;
        Transmit(SndUna - 1, flags, SegmentOptions(), 0);
    }

    void EnterTimeWait()
    {
        if (State == TcpState.TimeWait)
        {
            // A retransmitted FIN: acknowledge it and restart the 2·MSL timer (RFC 9293 3.10.7.4 eighth), nothing more;
            // the connection is already counted in TIME-WAIT.
            _endAt = _network.Now + Micro(_settings.TimeWait);
            _ackNow = true;
            return;
        }
        SetState(TcpState.TimeWait);
        _retransmitAt = _delayedAckAt = _persistAt = _keepaliveAt = _sendIdleAt = long.MaxValue;
        _endAt = _network.Now + Micro(_settings.TimeWait);
        _ackNow = true;
        RaiseDeferredReadable();
        ReleaseBuffers();
        var events = Events;
        Events = null;
        events?.OnClosed(SocketError.Success);
        _network.OnTimeWait(this);
    }

    /// <summary>A bound ran out: reset the peer (it may still be there) and fail with TimedOut.</summary>
    void GiveUp()
    {
        _network.Counters.Increment(StackCounter.TcpConnectionsTimedOut);
        if (State is TcpState.Established or TcpState.FinWait1 or TcpState.CloseWait or TcpState.Closing or TcpState.LastAck)
            SendReset(SndNxt, RcvNxt, withAck: true);
        Close(SocketError.TimedOut);
    }

    void ArmFinWait2Timeout() => _endAt = Math.Min(_endAt, _network.Now + FinWait2Timeout);

    /// <summary>
    /// RFC 6191 2: a SYN for this TIME-WAIT tuple may reopen it when it is clearly newer: by its timestamp, or, with
    /// the same timestamp (a client reusing the port within its clock's tick, which Linux does under a close-heavy
    /// load) or none, by its sequence number.
    /// </summary>
    public bool AcceptsNewIncarnation(uint synSequence, in Wire.TcpOptions options)
    {
        if (State != TcpState.TimeWait)
            return false;
        if (_timestampsEnabled && options.HasTimestamps && options.TimestampValue != _tsRecent)
            return Seq.Gt(options.TimestampValue, _tsRecent);
        return Seq.Gt(synSequence, RcvNxt);
    }

    /// <summary>Ends TIME-WAIT early (reuse or table overflow).</summary>
    public void Discard()
    {
        Events = null;
        Close(SocketError.Success);
    }
}
