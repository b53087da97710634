using System.Net.Sockets;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

/// <summary>Where the UDP layer offers datagrams to addresses not its own: the application's forwarder.</summary>
internal interface IUdpForwardEvents
{
    /// <summary>A new client end point sent its first datagram: the receiver for its session (on the engine's thread).</summary>
    IUdpForwardReceiver OnSession(UdpForwardSessionState session);
}

/// <summary>One forwarded session's application side.</summary>
internal interface IUdpForwardReceiver
{
    /// <summary>A datagram the client sent to <paramref name="destination"/>:<paramref name="port"/>; false when the session's queue is full (dropped, counted).</summary>
    bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress destination, ushort port);

    /// <summary>The session ended: idle past the timeout, evicted for a newer one, or the forwarder stopped.</summary>
    void OnClosed();
}

/// <summary>
/// A forwarded UDP session: one client end point, whatever it sends to (RFC 4787 REQ-1, endpoint-independent mapping),
/// with the peers it has sent to (for address-dependent filtering, REQ-8) and when it was last active (REQ-5, REQ-6).
/// </summary>
internal sealed class UdpForwardSessionState(IpAddress client, ushort clientPort, long now)
{
    /// <summary>Peers remembered per session for address-dependent filtering; past it the oldest is forgotten.</summary>
    public const int MaxPeers = 64;

    public IpAddress Client { get; } = client;
    public ushort ClientPort { get; } = clientPort;
    public long LastActive { get; set; } = now;

    /// <summary>Where the idle queue last filed it (a later activity re-files it when that entry comes up).</summary>
    public long FiledAt { get; set; }

    public IUdpForwardReceiver? Receiver { get; set; }
    public bool IsOpen { get; set; } = true;

    /// <summary>Traffic either way since its source's eviction clock last passed it (a second chance, not eviction).</summary>
    public bool Referenced { get; set; }

    /// <summary>Addresses the client sent to, oldest first.</summary>
    public List<IpAddress> Peers { get; } = [];

    public void AddPeer(IpAddress peer)
    {
        if (Peers.Contains(peer))
            return;
        if (Peers.Count >= MaxPeers)
            Peers.RemoveAt(0);
        Peers.Add(peer);
    }
}

// Forwarded UDP (RFC 4787 as a NAT's behaviour toward the client): a session per client end point, datagrams to any
// address delivered with their destination, replies sent from whichever address the application names (filtered
// endpoint-independently or by address), sessions bounded in number (oldest idle evicted) and ended when idle.
internal sealed partial class UdpLayer
{
    readonly Dictionary<(IpAddress, ushort), UdpForwardSessionState> _sessions = [];
    readonly PriorityQueue<UdpForwardSessionState, long> _idle = new();
    readonly Dictionary<IpAddress, SourceSessions> _perSource = [];
    IUdpForwardEvents? _forwarder;

    public bool HasForwarder => _forwarder is not null;

    /// <summary>Tests: forwarded sessions open.</summary>
    public int ForwardSessionCount => _sessions.Count;

    long IdleTimeout => _forwarding!.UdpIdleTimeout.Ticks / TimeSpan.TicksPerMicrosecond;

    /// <summary>Offers datagrams to other addresses to <paramref name="forwarder"/> from now on (null: no more; open sessions end).</summary>
    /// <exception cref="InvalidOperationException">Forwarding is off in the stack's options, or another forwarder is set.</exception>
    public void SetForwarder(IUdpForwardEvents? forwarder)
    {
        if (forwarder is not null)
        {
            if (_forwarding is null)
                throw new InvalidOperationException("Forwarding is off: set StackOptions.Forwarding.");
            if (_forwarder is not null)
                throw new InvalidOperationException("A UDP forwarder is already set.");
        }
        _forwarder = forwarder;
        if (forwarder is null)
        {
            foreach (var session in _sessions.Values.ToList())
                Close(session);
            _idle.Clear();
        }
    }

    /// <summary>A datagram to an address not ours (the whole network packet, the UDP header at <paramref name="offset"/>).</summary>
    public void ReceiveForwarded(IpAddress source, IpAddress destination, Span<byte> packet, int offset, bool checksumVouched)
    {
        if (!TryParseChecked(source, destination, packet[offset..], checksumVouched, out var datagram))
            return;
        if (_forwarder is null || datagram.SourcePort == 0 || datagram.DestinationPort == 0)
        {
            _counters.Increment(destination.IsIpv4 ? StackCounter.DropIpv4NotForUs : StackCounter.DropIpv6NotForUs);
            return;
        }
        var key = (source, datagram.SourcePort);
        // A session's first datagram does not count as a second chance: a scan's sessions each send one.
        if (!_sessions.TryGetValue(key, out var session))
            session = Open(source, datagram.SourcePort);
        else
            session.Referenced = true;
        session.LastActive = _now;
        session.AddPeer(destination);
        if (session.Receiver!.TryDeliver(datagram.Payload, destination, datagram.DestinationPort))
        {
            _counters.Increment(StackCounter.UdpDatagramsReceived);
        }
        else
        {
            _counters.Increment(StackCounter.DropUdpQueueFull);
        }
    }

    UdpForwardSessionState Open(IpAddress client, ushort port)
    {
        var share = SourceShare.Of(client);
        // A source at its share makes room among its own sessions: a client scanning ports, or flooding from many,
        // cannot push the other clients' sessions out of the table.
        if (_perSource.TryGetValue(share, out var own) && own.Count >= _forwarding!.MaxUdpSessionsPerSource)
            EvictOwn(own);
        else if (_sessions.Count >= _forwarding!.MaxUdpSessions)
            EvictOldestIdle();
        // Sessions the application ended leave their entry until it comes up; past twice the open ones the queue is
        // rebuilt from those (amortized one step per session), so opening and ending sessions quickly holds nothing.
        if (_idle.Count > 2 * _sessions.Count + 64)
        {
            _idle.Clear();
            foreach (var open in _sessions.Values)
                _idle.Enqueue(open, open.FiledAt);
        }
        var session = new UdpForwardSessionState(client, port, _now);
        _sessions.Add((client, port), session);
        // Looked up again: making room may have ended the source's last session, and its entry with it.
        if (!_perSource.TryGetValue(share, out own))
            _perSource.Add(share, own = new SourceSessions());
        own.Add(session);
        session.FiledAt = _now + IdleTimeout;
        _idle.Enqueue(session, session.FiledAt);
        _counters.Increment(StackCounter.UdpForwardSessions);
        session.Receiver = _forwarder!.OnSession(session);
        return session;
    }

    /// <summary>Past the bound, the session idle longest makes room (its application side is told).</summary>
    void EvictOldestIdle()
    {
        while (_idle.TryDequeue(out var session, out long filedAt))
        {
            if (!session.IsOpen)
                continue;
            long due = session.LastActive + IdleTimeout;
            if (due > filedAt)
            {
                // Active since it was filed: file it again where it now belongs, and look further.
                session.FiledAt = due;
                _idle.Enqueue(session, due);
                continue;
            }
            _counters.Increment(StackCounter.UdpForwardSessionsEvicted);
            Close(session);
            return;
        }
        // Nothing filed (not expected while sessions are open): the least recently active goes.
        if (_sessions.Values.MinBy(s => s.LastActive) is { } oldest)
        {
            _counters.Increment(StackCounter.UdpForwardSessionsEvicted);
            Close(oldest);
        }
    }

    /// <summary>
    /// One source's session at its share makes room: a clock over its sessions in opening order, where one with
    /// traffic since the last pass gets a second chance. At most two passes (each session is passed once with its
    /// mark cleared, then taken), so the work is bounded by the share.
    /// </summary>
    void EvictOwn(SourceSessions own)
    {
        for (int steps = 2 * own.Order.Count; steps > 0 && own.Order.TryDequeue(out var session); steps--)
        {
            if (!session.IsOpen)
                continue;
            if (session.Referenced)
            {
                session.Referenced = false;
                own.Order.Enqueue(session);
                continue;
            }
            _counters.Increment(StackCounter.UdpForwardSessionsEvicted);
            Close(session);
            return;
        }
    }

    /// <summary>One source's open sessions: how many, and in the order its eviction clock passes them.</summary>
    sealed class SourceSessions
    {
        public int Count;
        public readonly Queue<UdpForwardSessionState> Order = new();

        public void Add(UdpForwardSessionState session)
        {
            Count++;
            // Ended sessions stay queued until the clock reaches them; past twice the open ones they are swept out.
            if (Order.Count > 2 * Count + 16)
            {
                var open = Order.Where(s => s.IsOpen).ToList();
                Order.Clear();
                foreach (var s in open)
                    Order.Enqueue(s);
            }
            Order.Enqueue(session);
        }
    }

    /// <summary>When the next session may be idle past the timeout; null when none is open.</summary>
    public long? NextForwardDeadline => _idle.TryPeek(out _, out long at) ? at : null;

    /// <summary>Ends sessions idle past the timeout (RFC 4787 REQ-5), refreshed by traffic either way.</summary>
    public void ExpireIdleSessions()
    {
        while (_idle.TryPeek(out var session, out long filedAt) && filedAt <= _now)
        {
            _idle.Dequeue();
            if (!session.IsOpen)
                continue;
            long due = session.LastActive + IdleTimeout;
            if (due > _now)
            {
                session.FiledAt = due;
                _idle.Enqueue(session, due);
                continue;
            }
            Close(session);
        }
    }

    void Close(UdpForwardSessionState session)
    {
        if (!session.IsOpen)
            return;
        session.IsOpen = false;
        _sessions.Remove((session.Client, session.ClientPort));
        var share = SourceShare.Of(session.Client);
        if (_perSource.TryGetValue(share, out var own) && --own.Count == 0)
            _perSource.Remove(share);
        session.Receiver?.OnClosed();
    }

    /// <summary>The application ended the session.</summary>
    public void CloseForwarded(UdpForwardSessionState session) => Close(session);

    /// <summary>
    /// Sends <paramref name="payload"/> to the session's client from <paramref name="from"/>:<paramref name="fromPort"/>
    /// (the address the client sent to, or under endpoint-independent filtering any other).
    /// </summary>
    /// <returns>Success, or why not: the session ended (NotConnected), the filtering refused the source
    /// (AccessDenied), the address is the wrong family or not a unicast one (AddressNotAvailable), too long (MessageSize).</returns>
    public SocketError SendForwarded(UdpForwardSessionState session, IpAddress from, ushort fromPort, ReadOnlySpan<byte> payload)
    {
        if (!session.IsOpen)
            return SocketError.NotConnected;
        if (from.IsIpv4 != session.Client.IsIpv4 || fromPort == 0 || from.IsMulticast || from.IsUnspecified || !_host.IsForwardable(from))
            return SocketError.AddressNotAvailable;
        if (_forwarding!.UdpFiltering == UdpFiltering.AddressDependent && !session.Peers.Contains(from))
            return SocketError.AccessDenied;
        if (payload.Length > MaxUdpPayload + (from.IsIpv4 ? 0 : Ipv4Packet.MinimumHeaderLength))
            return SocketError.MessageSize;
        session.LastActive = _now;
        session.Referenced = true;
        using var lease = _buffers.Rent();
        var datagram = lease.Buffer.AsSpan(TransportOffset, UdpDatagram.HeaderLength + payload.Length);
        payload.CopyTo(datagram[UdpDatagram.HeaderLength..]);
        var offload = !_link.SendOffloads ? default
            : VirtioNetHeader.PartialChecksum(from.IsIpv4 ? Ipv4Packet.MinimumHeaderLength : Ipv6Packet.HeaderLength, UdpDatagram.ChecksumOffset);
        UdpDatagram.WriteHeader(datagram, fromPort, session.ClientPort, payload.Length, from, session.Client, partialChecksum: offload.IsOffloaded);
        _output.Send(lease.Buffer, TransportOffset, datagram.Length, IpProtocol.Udp, from, session.Client, _now, 0, offload);
        _counters.Increment(StackCounter.UdpDatagramsSent);
        return SocketError.Success;
    }
}
