using System.Net.Sockets;
using Wirestack.Network;
using Wirestack.Transport.Buffers;
using Wirestack.Wire;

namespace Wirestack.Transport.Tcp;

/// <summary>
/// One TCP connection's state (the TCB of RFC 9293 3.3.1) and its behaviour, split by concern across partial files:
/// input (segment arrival), output (segmentation and sending), timers. Engine thread only, except the two rings,
/// which the application side reads (receive) and fills (send) concurrently.
/// </summary>
internal sealed partial class TcpControlBlock
{
    readonly ITcpNetwork _network;
    readonly TcpSettings _settings;
    readonly RetransmissionTimeout _rto;
    readonly TokenBucket _challengeAcks;
    CongestionController _congestion;

    public TcpControlBlock(ITcpNetwork network, TcpConnectionKey key, uint initialSendSequence, ITcpConnectionEvents? events)
    {
        _network = network;
        _settings = network.Settings;
        Key = key;
        Events = events;
        // No memory yet: the rings take chunks as bytes arrive or are written (a half-open connection holds none).
        Buffers = new TcpBuffers(network.BufferPool, Math.Min(_settings.InitialReceiveWindow, _settings.ReceiveBufferSize),
            _settings.ReceiveBufferSize, _settings.SendBufferSize);
        Receive = Buffers.Receive;
        Send = Buffers.Send;
        _rto = new RetransmissionTimeout(Micro(_settings.InitialRetransmissionTimeout), Micro(_settings.MinimumRetransmissionTimeout),
            Micro(_settings.MaximumRetransmissionTimeout));
        _challengeAcks = new TokenBucket(_settings.ChallengeAcksPerSecond, Math.Max(1, _settings.ChallengeAcksPerSecond));
        NoDelay = _settings.NoDelay;
        UserTimeout = _settings.UserTimeout is { } userTimeout ? Micro(userTimeout) : 0;
        Iss = initialSendSequence;
        SndUna = Iss;
        SndNxt = Iss;
        SndMax = Iss;
        _sendBufferSeq = Iss + 1;
        _recover = Iss;
        _smallSegmentEnd = Iss;
        // MSS = MTU - 40 over IPv4, MTU - 60 over IPv6 (RFC 9293 3.7.1, RFC 8200 8.3); never below the family's minimum.
        _ourMss = Math.Max(network.Mtu - key.NetworkHeaderLength - TcpSegment.MinimumHeaderLength, key.IsIpv4 ? 536 - 40 : 1220);
        _sendMss = key.DefaultMss;
        _receiveScale = 0;
        int scale = 0;
        while (scale < 14 && (_settings.ReceiveBufferSize >> scale) > 65535)
            scale++;
        _desiredReceiveScale = scale;
        _congestion = CongestionController.Create(_settings.CongestionControl, _sendMss);
    }

    public TcpConnectionKey Key { get; }

    public ITcpConnectionEvents? Events { get; set; }

    /// <summary>The listener that accepted this connection, while it is still in its queues.</summary>
    public TcpListenerState? Listener { get; set; }

    public TcpState State { get; private set; } = TcpState.Closed;

    /// <summary>Bytes the application reads; free space is the window.</summary>
    public ReceiveBuffer Receive { get; private set; }

    /// <summary>Bytes the application wrote, from the oldest unacknowledged on.</summary>
    public ByteRing Send { get; private set; }

    /// <summary>The pooled storage behind the rings; the application side holds a share of it too.</summary>
    public TcpBuffers Buffers { get; }

    /// <summary>Bytes of buffer memory this connection holds now (the pool counts them against <see cref="TcpSettings.MemoryBudget"/>).</summary>
    public long BufferBytes => Receive.HeldBytes + Send.HeldBytes;

    /// <summary>
    /// Lets go of the buffers once no more data can flow (TIME-WAIT, CLOSED), so a TIME-WAIT entry costs a few
    /// hundred bytes. The application side keeps its own references to read what is left.
    /// </summary>
    void ReleaseBuffers()
    {
        if (ReferenceEquals(Send, ByteRing.Empty))
            return;
        // What the application has read and what the peer acknowledged go back now; the rest when both sides let go.
        Receive.Reclaim();
        Send.Reclaim();
        Receive = ReceiveBuffer.Empty;
        Send = ByteRing.Empty;
        Buffers.Release();
    }

    public bool NoDelay { get; set; }

    /// <summary>The error the connection failed with, or Success.</summary>
    public SocketError Error { get; private set; }

    /// <summary>True once the peer's FIN has been received in order.</summary>
    public bool PeerFinished { get; private set; }

    /// <summary>The connection's earliest timer, or long.MaxValue.</summary>
    public long Deadline { get; private set; } = long.MaxValue;

    /// <summary>The time of this connection's earliest entry in the engine's timer heap (long.MaxValue for none).</summary>
    public long ScheduledAt { get; set; } = long.MaxValue;

    /// <summary>Where this connection sits in its listener's queues, while it does.</summary>
    public ListenerQueue ListenerQueue { get; set; }

    SocketError _softError;

    /// <summary>Ends the connection at once with <paramref name="error"/>, sending nothing (the address is gone).</summary>
    public void Fail(SocketError error) => Close(error);

    /// <summary>
    /// An ICMP error about a segment of ours (RFC 5927, RFC 1122 4.2.3.9): port unreachable while connecting refuses
    /// the connection; other errors are soft, remembered and reported if the connection then times out. The quoted
    /// sequence number must lie in [SND.UNA, SND.MAX] so blind attackers cannot use it (RFC 5927 4.1).
    /// </summary>
    /// <summary>
    /// RFC 8201 4, RFC 1191 6.5: the path MTU dropped to <paramref name="pathMtu"/> while the segment at
    /// <paramref name="quotedSequence"/> was in flight: segments shrink at once and the lost one is resent. A packet
    /// dropped for its size is not congestion, so cwnd is left alone.
    /// </summary>
    public void OnPathMtu(int pathMtu, uint quotedSequence)
    {
        // RFC 5927 5.2: only a quote of data in flight is believed; a blind attacker cannot shrink our segments.
        if (!(Seq.Le(SndUna, quotedSequence) && Seq.Lt(quotedSequence, SndMax)))
            return;
        int mss = Math.Max(pathMtu - Key.NetworkHeaderLength - TcpSegment.MinimumHeaderLength, Key.DefaultMss);
        if (mss >= _sendMss)
            return;
        _sendMss = mss;
        if (State >= TcpState.Established)
            RetransmitFirstUnacked();
    }

    public void OnIcmpError(SocketError error, uint quotedSequence)
    {
        if (!(Seq.Le(SndUna, quotedSequence) && Seq.Le(quotedSequence, SndMax)))
            return;
        if (State == TcpState.SynSent && error == SocketError.ConnectionRefused)
        {
            Close(SocketError.ConnectionRefused);
            return;
        }
        _softError = error;
    }

    // RFC 9293 3.3.1 send and receive sequence variables.
    public uint Iss { get; }
    public uint SndUna { get; private set; }
    public uint SndNxt { get; private set; }
    public uint SndMax { get; private set; }
    public uint Irs { get; private set; }
    public uint RcvNxt { get; private set; }
    long _sndWnd;
    long _maxSndWnd;
    uint _sndWl1, _sndWl2;
    uint _rcvAdv;               // right edge of the window we last advertised

    // Data in the send ring starts at this sequence number.
    uint _sendBufferSeq;
    bool _finQueued;
    bool _finSent;
    uint FinSeq => _sendBufferSeq + (uint)Send.Count;

    // Negotiated options.
    readonly int _ourMss;
    int _sendMss;
    int _sendScale;
    int _receiveScale;
    readonly int _desiredReceiveScale;
    bool _sackEnabled;
    bool _timestampsEnabled;
    uint _tsRecent;
    long _tsRecentAge;
    bool _windowScalingEnabled;

    // Counters for TCP_INFO.
    public long BytesSent { get; private set; }
    public long BytesReceived { get; private set; }
    public int Retransmissions { get; private set; }
    public long SegmentsRetransmitted { get; private set; }

    public bool IsSynchronized => State is not (TcpState.Closed or TcpState.Listen or TcpState.SynSent or TcpState.SynReceived);

    /// <summary>A snapshot for the application (TCP_INFO).</summary>
    public TcpConnectionInfo GetInfo() => new(
        State,
        TimeSpan.FromTicks(_rto.SmoothedRtt * TimeSpan.TicksPerMicrosecond),
        TimeSpan.FromTicks(_rto.RttVariance * TimeSpan.TicksPerMicrosecond),
        TimeSpan.FromTicks(_rto.Current * TimeSpan.TicksPerMicrosecond),
        _congestion.Window,
        _congestion.SlowStartThreshold >= long.MaxValue / 4 ? -1 : _congestion.SlowStartThreshold,
        (long)(SndMax - SndUna),
        Retransmissions,
        SegmentsRetransmitted,
        _sendMss,
        _ourMss,
        _sndWnd,
        (long)(uint)(_rcvAdv - RcvNxt),
        _sackEnabled,
        _windowScalingEnabled,
        _timestampsEnabled,
        BytesSent,
        BytesReceived);

    static long Micro(TimeSpan span) => span.Ticks / TimeSpan.TicksPerMicrosecond;

    void SetState(TcpState state) => State = state;

    /// <summary>Ends the connection: tells the application (once) and the engine.</summary>
    void Close(SocketError error)
    {
        if (State == TcpState.Closed)
            return;
        if (error == SocketError.TimedOut && _softError != SocketError.Success)
            error = _softError;
        if (error != SocketError.Success && Error == SocketError.Success)
            Error = error;
        var previous = State;
        SetState(TcpState.Closed);
        ClearTimers();
        RaiseDeferredReadable();
        ReleaseBuffers();
        var events = Events;
        Events = null;
        events?.OnClosed(Error);
        SendCompleted();
        _network.OnClosed(this, previous);
    }
}

/// <summary>Which of its listener's queues a passive connection is counted in.</summary>
internal enum ListenerQueue
{
    None,
    HalfOpen,
    Unaccepted,
}
