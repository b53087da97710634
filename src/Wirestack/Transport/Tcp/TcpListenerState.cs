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

    public bool Closed { get; set; }
}
