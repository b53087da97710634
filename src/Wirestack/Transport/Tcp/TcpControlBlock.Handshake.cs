using System.Net.Sockets;
using Wirestack.Wire;

namespace Wirestack.Transport.Tcp;

// The opening handshake (RFC 9293 3.5, 3.10.1, 3.10.7.2-3): active and passive open, SYN cookies, the options
// negotiated on the SYN, SYN-SENT's input and SYN-RECEIVED's completion.
internal sealed partial class TcpControlBlock
{
    /// <summary>Active open (RFC 9293 3.10.1): send SYN, enter SYN-SENT.</summary>
    public void Connect()
    {
        SetState(TcpState.SynSent);
        SendSyn();
    }

    /// <summary>Passive open from a listener's SYN: record the peer, negotiate options, answer SYN-ACK (RFC 9293 3.10.7.2).</summary>
    public void AcceptSyn(uint sequence, ushort window, in TcpOptions options)
    {
        Irs = sequence;
        RcvNxt = sequence + 1;
        NegotiateOptions(options);
        _sndWnd = window; // the window of a SYN is never scaled (RFC 7323 2.2)
        _maxSndWnd = _sndWnd;
        _sndWl1 = sequence;
        _sndWl2 = Iss;
        SetState(TcpState.SynReceived);
        SendSyn();
    }

    /// <summary>
    /// A connection rebuilt from a valid SYN cookie (RFC 4987 3.6): the handshake is complete, options beyond the
    /// MSS were not kept.
    /// </summary>
    public void AcceptCookie(uint irs, int peerMss, uint ack, ushort window)
    {
        Irs = irs;
        RcvNxt = irs + 1;
        SndUna = ack;
        SndNxt = ack;
        SndMax = ack;
        _sendBufferSeq = ack;
        _sendMss = Math.Clamp(peerMss, 64, Math.Min(_ourMss, PathMss));
        _congestion = CongestionController.Create(_settings.CongestionControl, _sendMss);
        _sndWnd = window;
        _maxSndWnd = _sndWnd;
        _sndWl1 = irs + 1;
        _sndWl2 = ack;
        _rcvAdv = RcvNxt + (uint)Math.Min(65535, WindowRoom());
        SetState(TcpState.Established);
    }

    void NegotiateOptions(in TcpOptions options)
    {
        int peerMss = options.MaximumSegmentSize != 0 ? options.MaximumSegmentSize : Key.DefaultMss;
        _sendMss = Math.Clamp(peerMss, 64, Math.Min(_ourMss, PathMss));
        _sackEnabled = _settings.Sack && options.SackPermitted;
        _timestampsEnabled = _settings.Timestamps && options.HasTimestamps;
        if (_timestampsEnabled)
        {
            _tsRecent = options.TimestampValue;
            _tsRecentAge = _network.Now;
        }
        _windowScalingEnabled = _settings.WindowScaling && options.WindowScale >= 0;
        if (_windowScalingEnabled)
        {
            _sendScale = options.WindowScale;
            _receiveScale = _desiredReceiveScale;
        }
        else
        {
            _sendScale = 0;
            _receiveScale = 0;
        }
        _congestion = CongestionController.Create(_settings.CongestionControl, EffectiveSendMss);
    }

    void ProcessInSynSent(TcpSegment segment, in TcpOptions options)
    {
        var flags = segment.Flags;
        uint ack = segment.AcknowledgmentNumber;
        bool hasAck = (flags & TcpFlags.Ack) != 0;
        if (hasAck && (Seq.Le(ack, Iss) || Seq.Gt(ack, SndMax)))
        {
            if ((flags & TcpFlags.Rst) == 0)
                SendReset(ack);
            return;
        }
        if ((flags & TcpFlags.Rst) != 0)
        {
            // RFC 5961 3.2 / RFC 9293: only an RST that acknowledges our SYN refuses the connection.
            if (hasAck)
                Close(SocketError.ConnectionRefused);
            return;
        }
        if ((flags & TcpFlags.Syn) == 0)
            return;

        Irs = segment.SequenceNumber;
        RcvNxt = Irs + 1;
        NegotiateOptions(options);
        _sndWl1 = segment.SequenceNumber;
        _sndWl2 = ack;
        if (hasAck)
        {
            _sndWnd = segment.Window;
            _maxSndWnd = _sndWnd;
            AcknowledgeSyn(ack);
            EnterEstablished();
            Events?.OnEstablished();
            _ackNow = true;
            // Data may ride on the SYN-ACK (rare); accept it like any other.
            if (segment.Payload.Length > 0)
                AcceptPayload(segment.SequenceNumber + 1, segment.Payload);
        }
        else
        {
            // Simultaneous open (RFC 9293 3.5 figure 7): answer with SYN-ACK from SYN-RECEIVED.
            _sndWnd = segment.Window;
            _maxSndWnd = _sndWnd;
            SetState(TcpState.SynReceived);
            SndNxt = Iss;
            SendSyn();
        }
    }

    /// <summary>SYN-RECEIVED: an ACK of our SYN establishes the connection; any other ACK is answered with a reset (false).</summary>
    bool CompleteHandshake(uint seq, uint ack, ushort window)
    {
        if (!Seq.Lt(SndUna, ack) || !Seq.Le(ack, SndMax))
        {
            SendReset(ack);
            return false;
        }
        AcknowledgeSyn(ack);
        _sndWnd = (long)window << _sendScale;
        _maxSndWnd = Math.Max(_maxSndWnd, _sndWnd);
        _sndWl1 = seq;
        _sndWl2 = ack;
        EnterEstablished();
        if (Listener is not null)
            _network.OnPassiveEstablished(this);
        else
            Events?.OnEstablished();
        return true;
    }

    void EnterEstablished()
    {
        SetState(_finQueued ? TcpState.FinWait1 : TcpState.Established);
        _network.Counters.Increment(StackCounter.TcpConnectionsEstablished);
    }

    void AcknowledgeSyn(uint ack)
    {
        // The SYN occupies ISS; data starts at ISS + 1.
        SndUna = Iss + 1;
        if (Seq.Lt(SndNxt, SndUna))
            SndNxt = SndUna;
        if (Seq.Lt(SndMax, SndUna))
            SndMax = SndUna;
        _rcvAdv = RcvNxt + (uint)Math.Min(Receive.Free, 65535 << _receiveScale);
        _synRetries = 0;
        if (_timingSegment && Seq.Ge(ack, _timedSequence))
        {
            _rto.AddSample(_network.Now - _timedAt);
            _timingSegment = false;
        }
        _retransmitAt = long.MaxValue;
        if (Seq.Gt(ack, SndUna))
            OnNewAck(ack, default);
    }
}
