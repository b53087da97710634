namespace Wirestack.Transport.Tcp;

/// <summary>What a listener tells its application side. Engine thread; must not block.</summary>
internal interface ITcpListenerEvents
{
    /// <summary>A connection completed its handshake and waits to be accepted; returns its event sink.</summary>
    ITcpConnectionEvents OnConnectionReady(TcpControlBlock connection);
}

/// <summary>
/// A listening port (RFC 9293 LISTEN) with its two bounds: half-open connections in SYN-RECEIVED (the SYN queue)
/// and established ones the application has not accepted yet (the backlog).
/// </summary>
internal sealed class TcpListenerState(ushort port, int backlog, ITcpListenerEvents events)
{
    public ushort Port { get; } = port;
    public int Backlog { get; } = backlog;
    public ITcpListenerEvents Events { get; } = events;

    /// <summary>Connections in SYN-RECEIVED.</summary>
    public int HalfOpen { get; set; }

    /// <summary>Established connections handed to the application and not yet accepted.</summary>
    public int Unaccepted { get; set; }

    /// <summary>The SYN queue holds as many half-open connections as the backlog, and at least 16.</summary>
    public bool SynQueueFull => HalfOpen >= Math.Max(Backlog, 16);

    public bool BacklogFull => Unaccepted >= Backlog;

    /// <summary>How long after its last cookie a listener still takes cookie ACKs (Linux's TCP_SYNCOOKIE_VALID).</summary>
    const long CookieAcceptance = 120_000_000;

    long _lastCookieAt = long.MinValue;

    /// <summary>A SYN was answered with a cookie.</summary>
    public void CookieSent(long now) => _lastCookieAt = now;

    /// <summary>
    /// True when this listener answered a SYN with a cookie lately. Only then can an ACK to it complete a handshake
    /// by cookie: at other times a blind guesser of the 24-bit MAC gets no chance at all.
    /// </summary>
    public bool TakesCookies(long now) => _lastCookieAt != long.MinValue && now - _lastCookieAt <= CookieAcceptance;

    public bool Closed { get; set; }
}
