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
    int _synRetries;
    int _keepaliveProbes;

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
        Deadline = Math.Min(Math.Min(deadline, _keepaliveAt), _sendIdleAt);
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

    /// <summary>Runs the timers that are due.</summary>
    public void OnTimer()
    {
        long now = _network.Now;
        if (now >= _endAt)
        {
            Close(State == TcpState.TimeWait ? SocketError.Success : SocketError.TimedOut);
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
        if (++Retransmissions > _settings.MaxRetransmissions)
        {
            Close(SocketError.TimedOut);
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

    /// <summary>A zero-window probe: an old sequence number that makes the peer report its window (as Linux probes).</summary>
    void SendWindowProbe()
    {
        _persistAt = long.MaxValue;
        _network.Counters.Increment(StackCounter.TcpWindowProbesSent);
        SendProbe();
        _persistBackoff++;
        if (_sndWnd == 0 && Send.Count > 0)
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
        ReleaseBuffers();
        var events = Events;
        Events = null;
        events?.OnClosed(SocketError.Success);
        _network.OnTimeWait(this);
    }

    void ArmFinWait2Timeout() => _endAt = Math.Min(_endAt, _network.Now + FinWait2Timeout);

    /// <summary>RFC 6191 2: a SYN for this TIME-WAIT tuple may reopen it when it is clearly newer.</summary>
    public bool AcceptsNewIncarnation(uint synSequence, in Wire.TcpOptions options)
    {
        if (State != TcpState.TimeWait)
            return false;
        if (_timestampsEnabled && options.HasTimestamps)
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
