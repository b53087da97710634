namespace Wirestack;

/// <summary>Which congestion control algorithm a connection uses.</summary>
public enum CongestionControlAlgorithm
{
    /// <summary>CUBIC (RFC 9438), the default as on Linux.</summary>
    Cubic,
    /// <summary>NewReno (RFC 5681 with RFC 6582 recovery).</summary>
    NewReno,
}

/// <summary>The states of a TCP connection (RFC 9293 3.3.2).</summary>
public enum TcpState
{
    /// <summary>No connection.</summary>
    Closed,
    /// <summary>Waiting for a connection request.</summary>
    Listen,
    /// <summary>SYN sent, waiting for a matching SYN.</summary>
    SynSent,
    /// <summary>SYN received and answered, waiting for the ACK.</summary>
    SynReceived,
    /// <summary>Open; data flows both ways.</summary>
    Established,
    /// <summary>We closed; waiting for our FIN's ACK or the peer's FIN.</summary>
    FinWait1,
    /// <summary>Our FIN is acknowledged; waiting for the peer's FIN.</summary>
    FinWait2,
    /// <summary>The peer closed; waiting for the application to close.</summary>
    CloseWait,
    /// <summary>Both closed at once; waiting for our FIN's ACK.</summary>
    Closing,
    /// <summary>The peer closed first, then we did; waiting for our FIN's ACK.</summary>
    LastAck,
    /// <summary>Waiting 2·MSL so late segments die out.</summary>
    TimeWait,
}

/// <summary>TCP tuning and limits. Defaults follow the RFCs and Linux where they leave a choice.</summary>
public sealed record TcpSettings
{
    /// <summary>
    /// Receive buffer per connection: the most the advertised window can grow to. Memory follows the bytes held, not
    /// this size: the window starts at <see cref="InitialReceiveWindow"/> and doubles while the application keeps up.
    /// </summary>
    public int ReceiveBufferSize { get; init; } = 256 * 1024;

    /// <summary>The receive window a connection starts with (Linux starts at 64 KiB too).</summary>
    public int InitialReceiveWindow { get; init; } = 64 * 1024;

    /// <summary>
    /// Send buffer per connection: the most unacknowledged plus unsent bytes. Memory follows the bytes held; the
    /// buffer itself follows the congestion window (twice cwnd) up to this size.
    /// </summary>
    public int SendBufferSize { get; init; } = 256 * 1024;

    /// <summary>Most connections (all states but LISTEN and TIME-WAIT) at once; past it SYNs are answered with cookies.</summary>
    public int MaxConnections { get; init; } = 1 << 20;

    /// <summary>
    /// Bytes of buffer memory all connections may hold together: a pressure signal, not a wall. Past three quarters
    /// of it windows stop growing and listeners answer SYNs with cookies; at it, connections get no memory beyond a
    /// small floor each until data drains. Connections are never refused for memory.
    /// </summary>
    public long MemoryBudget { get; init; } = 512L * 1024 * 1024;

    /// <summary>Most connections in TIME-WAIT; past it the oldest is dropped.</summary>
    public int MaxTimeWait { get; init; } = 4096;

    /// <summary>How long TIME-WAIT lasts (2·MSL; RFC 9293 suggests MSL = 2 min, Linux uses 60 s in total).</summary>
    public TimeSpan TimeWait { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Initial retransmission timeout (RFC 6298 2.1: 1 s).</summary>
    public TimeSpan InitialRetransmissionTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Floor of the retransmission timeout (RFC 6298 says 1 s; Linux uses 200 ms).</summary>
    public TimeSpan MinimumRetransmissionTimeout { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Ceiling of the retransmission timeout.</summary>
    public TimeSpan MaximumRetransmissionTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Retransmissions of data or FIN before the connection fails with TimedOut.</summary>
    public int MaxRetransmissions { get; init; } = 12;

    /// <summary>Retransmissions of SYN (or SYN-ACK) before the attempt fails with TimedOut.</summary>
    public int MaxSynRetransmissions { get; init; } = 5;

    /// <summary>Longest an ACK may be delayed (RFC 1122 4.2.3.2 allows up to 500 ms; RFC 9293 asks for at most 200 ms).</summary>
    public TimeSpan DelayedAckTimeout { get; init; } = TimeSpan.FromMilliseconds(40);

    /// <summary>Default for new connections' Nagle switch (RFC 896); false means Nagle is on.</summary>
    public bool NoDelay { get; init; }

    /// <summary>Congestion control for new connections.</summary>
    public CongestionControlAlgorithm CongestionControl { get; init; } = CongestionControlAlgorithm.Cubic;

    /// <summary>Offer SACK (RFC 2018).</summary>
    public bool Sack { get; init; } = true;

    /// <summary>Offer window scaling (RFC 7323 2).</summary>
    public bool WindowScaling { get; init; } = true;

    /// <summary>Offer timestamps (RFC 7323 3 and 5: RTTM and PAWS).</summary>
    public bool Timestamps { get; init; } = true;

    /// <summary>Use SYN cookies (RFC 4987) when a listener's SYN queue is full.</summary>
    public bool SynCookies { get; init; } = true;

    /// <summary>Keepalive idle time before the first probe; null (the default) turns keepalive off (RFC 1122 4.2.3.6).</summary>
    public TimeSpan? KeepaliveIdle { get; init; }

    /// <summary>Time between keepalive probes.</summary>
    public TimeSpan KeepaliveInterval { get; init; } = TimeSpan.FromSeconds(75);

    /// <summary>Unanswered keepalive probes before the connection fails with TimedOut.</summary>
    public int KeepaliveProbes { get; init; } = 9;

    /// <summary>
    /// The user timeout (RFC 9293 3.8.3, RFC 5482): a connection whose sent data stays unacknowledged, or whose
    /// written data waits unsent (behind the peer's window), this long without progress fails with TimedOut. Null (the default) leaves it to the
    /// retransmission limit. Each connection can set its own (<see cref="TcpConnection.UserTimeout"/>).
    /// </summary>
    public TimeSpan? UserTimeout { get; init; }

    /// <summary>
    /// Most orphaned connections (closed by the application, still delivering their data and FIN) at once; past it
    /// the oldest is reset (as Linux's tcp_max_orphans).
    /// </summary>
    public int MaxOrphans { get; init; } = 16384;

    /// <summary>
    /// Retransmissions or zero-window probes an orphaned connection gets before it is reset (Linux's
    /// tcp_orphan_retries, 8). Probes count even when the peer answers them with a closed window: nobody is left to
    /// read what it is kept open for (RFC 6429 lets resource management end it).
    /// </summary>
    public int OrphanRetries { get; init; } = 8;

    /// <summary>
    /// How long <see cref="TcpConnection.DisposeAsync"/> and <see cref="NetworkStack.DisposeAsync"/> wait for the
    /// data and FIN already sent to be acknowledged (like SO_LINGER); the connection goes on closing in the background
    /// after it. Zero does not wait.
    /// </summary>
    public TimeSpan LingerTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Challenge ACKs (RFC 5961 7) a connection sends per second at most.</summary>
    public int ChallengeAcksPerSecond { get; init; } = 10;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ReceiveBufferSize, 2048, nameof(ReceiveBufferSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ReceiveBufferSize, 1 << 30, nameof(ReceiveBufferSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(SendBufferSize, 2048, nameof(SendBufferSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(SendBufferSize, 1 << 30, nameof(SendBufferSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(InitialReceiveWindow, 2048, nameof(InitialReceiveWindow));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnections, 1, nameof(MaxConnections));
        ArgumentOutOfRangeException.ThrowIfLessThan(MemoryBudget, 16L * 1024, nameof(MemoryBudget));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxTimeWait, 0, nameof(MaxTimeWait));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRetransmissions, 1, nameof(MaxRetransmissions));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSynRetransmissions, 0, nameof(MaxSynRetransmissions));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxOrphans, 0, nameof(MaxOrphans));
        ArgumentOutOfRangeException.ThrowIfLessThan(OrphanRetries, 1, nameof(OrphanRetries));
        if (LingerTimeout < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(LingerTimeout), "The linger timeout must not be negative.");
        if (UserTimeout is { } userTimeout && userTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(UserTimeout), "The user timeout must be positive.");
        if (TimeWait < TimeSpan.Zero || InitialRetransmissionTimeout <= TimeSpan.Zero || MinimumRetransmissionTimeout <= TimeSpan.Zero
            || MaximumRetransmissionTimeout < MinimumRetransmissionTimeout || DelayedAckTimeout < TimeSpan.Zero || DelayedAckTimeout > TimeSpan.FromMilliseconds(500))
            throw new ArgumentOutOfRangeException(nameof(TimeWait), "TCP timers must be positive and ordered (delayed ACK at most 500 ms).");
    }
}
