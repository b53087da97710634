using System.Net.Sockets;
using Wirestack.Transport;
using Wirestack.Transport.Buffers;
using Wirestack.Transport.Tcp;
using Wirestack.Wire;

namespace Wirestack.Engine;

// TCP demultiplexing (RFC 9293 3.10.7): connections by 4-tuple, listeners by port, resets for closed ports,
// SYN cookies under load, TIME-WAIT bounds and reuse, and one timer heap for all connections.
internal sealed partial class NetworkEngine : ITcpNetwork
{
    readonly Dictionary<TcpConnectionKey, TcpControlBlock> _tcpConnections = [];
    readonly Dictionary<ushort, TcpListenerState> _tcpListeners = [];
    readonly PriorityQueue<TcpControlBlock, long> _tcpTimers = new();
    readonly Queue<TcpControlBlock> _timeWaitOrder = new();
    readonly Queue<TcpControlBlock> _orphanOrder = new();
    int _orphanCount;
    InitialSequenceNumbers? _isn;
    SynCookies? _synCookies;
    int _timeWaitCount;
    BufferChunkPool? _bufferPool;

    /// <summary>Where every connection's buffer chunks come from; it counts the bytes in use.</summary>
    public BufferChunkPool BufferPool => _bufferPool ??= new BufferChunkPool(Math.Min(_options.Tcp.MemoryBudget / 4, 64L << 20))
    {
        Poison = _options.PoisonReturnedBuffers ? (byte)0xDB : null,
    };

    /// <summary>Bytes of TCP buffer memory held (by live connections, and by closed ones an application still reads).</summary>
    public long TcpBufferBytes => _bufferPool?.BytesInUse ?? 0;

    bool ITcpNetwork.MemoryPressure => TcpBufferBytes >= _options.Tcp.MemoryBudget / 4 * 3;

    bool ITcpNetwork.MemoryExhausted => TcpBufferBytes >= _options.Tcp.MemoryBudget;

    /// <summary>True when one more connection fits the connection limit (memory is taken on demand, not here).</summary>
    bool TcpHasRoom => _tcpConnections.Count - _timeWaitCount < _options.Tcp.MaxConnections;

    TcpControlBlock NewConnection(in TcpConnectionKey key, uint iss, ITcpConnectionEvents? events)
    {
        var connection = new TcpControlBlock(this, key, iss, events);
        _tcpConnections.Add(key, connection);
        return connection;
    }

    // The ISN and cookie key always comes from RandomNumberGenerator: a test seed never reaches a secret.
    InitialSequenceNumbers Isn => _isn ??= new InitialSequenceNumbers();

    /// <summary>Tests only: a fixed initial sequence number for new connections (to exercise wrap-around).</summary>
    internal uint? InitialSequenceOverride { get; set; }

    uint NextIsn(in TcpConnectionKey key) => InitialSequenceOverride ?? Isn.Next(key, _now);
    SynCookies Cookies => _synCookies ??= new SynCookies(Isn);

    /// <summary>Connections in any state but LISTEN, TIME-WAIT included.</summary>
    public int TcpConnectionCount => _tcpConnections.Count;

    public int TcpTimeWaitCount => _timeWaitCount;

    public IEnumerable<TcpControlBlock> TcpConnections => _tcpConnections.Values;

    long ITcpNetwork.Now => _now;
    TcpSettings ITcpNetwork.Settings => _options.Tcp;
    StackCounters ITcpNetwork.Counters => Counters;
    int ITcpNetwork.Mtu => _link.Mtu;
    int ITcpNetwork.PathMtu(IpAddress destination) => PathMtu(destination);
    int ITcpNetwork.SegmentOffset => TransportOffset;

    bool ITcpNetwork.SegmentationOffload => _link.SendOffloads;

    TransmitLease ITcpNetwork.RentSegmentBuffer() => _buffers.Rent();

    void ITcpNetwork.SendSegment(in TcpConnectionKey key, byte[] buffer, int length, int segmentSize)
    {
        var offload = default(VirtioNetHeader);
        if (_link.SendOffloads)
        {
            int network = key.NetworkHeaderLength;
            offload = segmentSize > 0
                ? VirtioNetHeader.TcpSegmentation(!key.IsIpv4, network, network + TcpSegment.HeaderLengthOf(buffer.AsSpan(TransportOffset)), segmentSize)
                : VirtioNetHeader.PartialChecksum(network, TcpSegment.ChecksumOffset);
        }
        _output.Send(buffer, TransportOffset, length, IpProtocol.Tcp, key.LocalAddress, key.RemoteAddress, _now, offload: offload);
    }

    /// <summary>
    /// Keeps at most one live heap entry per connection at its earliest deadline: a later deadline leaves the
    /// earlier entry, which re-files the connection when it pops.
    /// </summary>
    public void Reschedule(TcpControlBlock connection)
    {
        connection.UpdateDeadline();
        long deadline = connection.Deadline;
        if (deadline < connection.ScheduledAt)
        {
            connection.ScheduledAt = deadline;
            _tcpTimers.Enqueue(connection, deadline);
        }
    }

    void RunTcpTimers()
    {
        while (_tcpTimers.TryPeek(out var connection, out long at) && at <= _now)
        {
            _tcpTimers.Dequeue();
            if (connection.ScheduledAt != at || connection.State == TcpState.Closed)
                continue;
            connection.ScheduledAt = long.MaxValue;
            connection.UpdateDeadline();
            if (connection.Deadline <= _now)
                connection.OnTimer();
            else
                Reschedule(connection);
        }
    }

    long? NextTcpDeadline => _tcpTimers.TryPeek(out _, out long at) ? at : null;

    void ITcpNetwork.OnPassiveEstablished(TcpControlBlock connection)
    {
        var listener = connection.Listener!;
        if (connection.ListenerQueue == ListenerQueue.HalfOpen)
            listener.HalfOpen--;
        if (listener.Closed)
        {
            connection.ListenerQueue = ListenerQueue.None;
            connection.Listener = null;
            connection.Abort();
            return;
        }
        connection.ListenerQueue = ListenerQueue.Unaccepted;
        listener.Unaccepted++;
        connection.Events = listener.Events.OnConnectionReady(connection);
    }

    void ITcpNetwork.OnOrphaned(TcpControlBlock connection)
    {
        if (connection.IsOrphan)
            return;
        connection.IsOrphan = true;
        _orphanCount++;
        _orphanOrder.Enqueue(connection);
        // Past the bound the oldest orphan is reset (as Linux does past tcp_max_orphans).
        while (_orphanCount > _options.Tcp.MaxOrphans && _orphanOrder.TryDequeue(out var oldest))
        {
            if (oldest.IsOrphan)
            {
                Counters.Increment(StackCounter.TcpConnectionsTimedOut);
                oldest.Abort();
            }
        }
        // Orphans that finished stay queued until they reach the head; one long-lived orphan at the head would let
        // the finished ones behind it pile up (and stay reachable), so past twice the live count the queue is rebuilt
        // with the live ones only: amortized one step per orphan.
        while (_orphanOrder.TryPeek(out var head) && !head.IsOrphan)
            _orphanOrder.Dequeue();
        if (_orphanOrder.Count > 2 * _orphanCount + 64)
        {
            int live = _orphanOrder.Count;
            for (int i = 0; i < live; i++)
            {
                var queued = _orphanOrder.Dequeue();
                if (queued.IsOrphan)
                    _orphanOrder.Enqueue(queued);
            }
        }
    }

    /// <summary>Orphaned connections (closed by the application, still delivering).</summary>
    public int TcpOrphanCount => _orphanCount;

    /// <summary>Tests only: entries in the orphan queue, finished ones not yet dropped included.</summary>
    internal int TcpOrphanQueueLength => _orphanOrder.Count;

    void ForgetOrphan(TcpControlBlock connection)
    {
        if (!connection.IsOrphan)
            return;
        connection.IsOrphan = false;
        _orphanCount--;
    }

    void ITcpNetwork.OnTimeWait(TcpControlBlock connection)
    {
        ForgetOrphan(connection);
        LeaveListener(connection);
        _timeWaitCount++;
        _timeWaitOrder.Enqueue(connection);
        // Past the bound, the oldest TIME-WAIT entries go early (as Linux does on bucket overflow).
        while (_timeWaitCount > _options.Tcp.MaxTimeWait && _timeWaitOrder.TryDequeue(out var oldest))
        {
            if (oldest.State == TcpState.TimeWait)
                oldest.Discard();
        }
        while (_timeWaitOrder.TryPeek(out var head) && head.State != TcpState.TimeWait)
            _timeWaitOrder.Dequeue();
    }

    void ITcpNetwork.OnClosed(TcpControlBlock connection, TcpState previous)
    {
        if (previous == TcpState.TimeWait)
            _timeWaitCount--;
        ForgetOrphan(connection);
        LeaveListener(connection);
        if (_tcpConnections.TryGetValue(connection.Key, out var current) && ReferenceEquals(current, connection))
            _tcpConnections.Remove(connection.Key);
    }

    void LeaveListener(TcpControlBlock connection)
    {
        if (connection.Listener is not { } listener)
            return;
        if (connection.ListenerQueue == ListenerQueue.HalfOpen)
            listener.HalfOpen--;
        else if (connection.ListenerQueue == ListenerQueue.Unaccepted)
            listener.Unaccepted--;
        connection.ListenerQueue = ListenerQueue.None;
        connection.Listener = null;
    }

    /// <summary>Starts listening on <paramref name="port"/>.</summary>
    /// <exception cref="SocketException">AddressAlreadyInUse.</exception>
    public TcpListenerState ListenTcp(int port, int backlog, ITcpListenerEvents events)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue);
        ArgumentOutOfRangeException.ThrowIfLessThan(backlog, 1);
        if (_tcpListeners.ContainsKey((ushort)port))
            throw new SocketException((int)SocketError.AddressAlreadyInUse);
        var listener = new TcpListenerState((ushort)port, backlog, events);
        _tcpListeners.Add((ushort)port, listener);
        return listener;
    }

    /// <summary>Stops a listener; connections not yet accepted are reset.</summary>
    public void CloseListener(TcpListenerState listener)
    {
        listener.Closed = true;
        _tcpListeners.Remove(listener.Port);
        foreach (var connection in _tcpConnections.Values.Where(c => ReferenceEquals(c.Listener, listener)).ToList())
            connection.Abort();
    }

    /// <summary>The application took an established connection from its listener.</summary>
    public void MarkAccepted(TcpControlBlock connection) => LeaveListener(connection);

    /// <summary>Active open to <paramref name="remote"/>:<paramref name="port"/> from an ephemeral port.</summary>
    /// <exception cref="SocketException">NetworkUnreachable, AddressNotAvailable, TooManyOpenSockets.</exception>
    public TcpControlBlock ConnectTcp(IpAddress remote, ushort port, ITcpConnectionEvents events, ushort localPort = 0)
    {
        if (port == 0 || remote.IsUnspecified)
            throw new SocketException((int)SocketError.AddressNotAvailable);
        if (remote.IsMulticast || !TrySelectSource(remote, out var local) || (remote.IsIpv4 && _interface.IsBroadcast(remote.Ipv4)))
            throw new SocketException((int)SocketError.NetworkUnreachable);
        if (!TcpHasRoom)
            throw new SocketException((int)SocketError.TooManyOpenSockets);
        const int range = UdpBindings.EphemeralLast - UdpBindings.EphemeralFirst + 1;
        // RFC 6056 3.3.1 (random start, then sequential): unpredictable to an off-path attacker.
        int start = System.Security.Cryptography.RandomNumberGenerator.GetInt32(range);
        for (int i = 0; i < range; i++)
        {
            var candidate = localPort != 0 ? localPort : (ushort)(UdpBindings.EphemeralFirst + (start + i) % range);
            var key = new TcpConnectionKey(local, candidate, remote, port);
            if (_tcpConnections.ContainsKey(key) || (localPort == 0 && _tcpListeners.ContainsKey(candidate)))
            {
                if (localPort != 0)
                    throw new SocketException((int)SocketError.AddressAlreadyInUse);
                continue;
            }
            var connection = NewConnection(key, NextIsn(key), events);
            Counters.Increment(StackCounter.TcpActiveOpens);
            connection.Connect();
            Reschedule(connection);
            return connection;
        }
        throw new SocketException((int)SocketError.TooManyOpenSockets);
    }

    void ReceiveTcp(IpAddress source, IpAddress destination, Span<byte> bytes)
    {
        if (!TcpSegment.TryParse(bytes, out var segment))
        {
            Counters.Increment(StackCounter.DropTcpMalformed);
            return;
        }
        if (!_checksumVouched && !segment.IsChecksumValid(source, destination))
        {
            Counters.Increment(StackCounter.DropTcpBadChecksum);
            return;
        }
        if (!IsOurUnicast(destination))
        {
            // TCP is unicast only (RFC 1122 4.2.3.10).
            Counters.Increment(destination.IsIpv4 ? StackCounter.DropIpv4NotForUs : StackCounter.DropIpv6NotForUs);
            return;
        }
        if (!segment.TryParseOptions(out var options))
        {
            Counters.Increment(StackCounter.DropTcpMalformed);
            return;
        }
        Counters.Increment(StackCounter.TcpSegmentsReceived);
        var key = new TcpConnectionKey(destination, segment.DestinationPort, source, segment.SourcePort);
        var flags = segment.Flags;
        if (_tcpConnections.TryGetValue(key, out var connection))
        {
            bool newSyn = (flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) == TcpFlags.Syn;
            if (!(newSyn && connection.AcceptsNewIncarnation(segment.SequenceNumber, options)))
            {
                connection.NoteActivity();
                connection.Process(segment, options);
                return;
            }
            // RFC 6191: a newer SYN ends TIME-WAIT early and opens a fresh connection.
            connection.Discard();
        }
        if (_tcpListeners.TryGetValue(segment.DestinationPort, out var listener))
        {
            ReceiveOnListener(listener, key, segment, options);
            return;
        }
        Counters.Increment(StackCounter.DropTcpNoListener);
        SendResetFor(key, segment);
    }

    void ReceiveOnListener(TcpListenerState listener, in TcpConnectionKey key, TcpSegment segment, in TcpOptions options)
    {
        var flags = segment.Flags;
        if ((flags & TcpFlags.Rst) != 0)
            return;
        if ((flags & TcpFlags.Ack) != 0)
        {
            // The last step of a handshake whose state we did not keep: a SYN cookie (RFC 4987 3.6). Any other
            // segment bearing an ACK, a SYN-ACK among them, is answered with RST (RFC 9293 3.10.7.2).
            if ((flags & TcpFlags.Syn) == 0 && _options.Tcp.SynCookies)
            {
                if (!listener.BacklogFull && Cookies.TryValidate(key, segment.SequenceNumber - 1, segment.AcknowledgmentNumber - 1, _now, out int mss))
                {
                    if (TcpHasRoom)
                    {
                        AcceptSynCookie(listener, key, segment, options, mss);
                        return;
                    }
                    Counters.Increment(StackCounter.DropTcpConnectionLimit);
                }
                else
                {
                    Counters.Increment(StackCounter.DropTcpSynCookieInvalid);
                }
            }
            SendResetFor(key, segment);
            return;
        }
        if ((flags & TcpFlags.Syn) == 0)
            return;

        // A SYN keeps state only while the connection table, the listener's SYN queue and buffer memory all have
        // room; past any of them it is answered with a cookie (RFC 4987 3.6), so legitimate clients still connect
        // while a flood of spoofed SYNs holds nothing.
        if (!TcpHasRoom || listener.SynQueueFull || listener.BacklogFull || ((ITcpNetwork)this).MemoryPressure)
        {
            if (_options.Tcp.SynCookies && !listener.BacklogFull)
            {
                SendSynCookie(key, segment, options);
                return;
            }
            Counters.Increment(TcpHasRoom ? StackCounter.DropTcpListenQueueFull : StackCounter.DropTcpConnectionLimit);
            return;
        }
        var passive = NewConnection(key, NextIsn(key), events: null);
        passive.Listener = listener;
        passive.ListenerQueue = ListenerQueue.HalfOpen;
        listener.HalfOpen++;
        Counters.Increment(StackCounter.TcpPassiveOpens);
        passive.AcceptSyn(segment.SequenceNumber, segment.Window, options);
        Reschedule(passive);
    }

    void AcceptSynCookie(TcpListenerState listener, in TcpConnectionKey key, TcpSegment segment, in TcpOptions options, int mss)
    {
        var connection = NewConnection(key, segment.AcknowledgmentNumber - 1, events: null);
        connection.Listener = listener;
        connection.AcceptCookie(segment.SequenceNumber - 1, mss, segment.AcknowledgmentNumber, segment.Window);
        Counters.Increment(StackCounter.TcpSynCookiesAccepted);
        Counters.Increment(StackCounter.TcpPassiveOpens);
        Counters.Increment(StackCounter.TcpConnectionsEstablished);
        ((ITcpNetwork)this).OnPassiveEstablished(connection);
        if (segment.Payload.Length > 0 || (segment.Flags & TcpFlags.Fin) != 0)
            connection.Process(segment, options);
        Reschedule(connection);
    }

    /// <summary>The window a SYN cookie's SYN-ACK offers: the initial window, or the floor while memory is at the budget.</summary>
    ushort CookieWindow => (ushort)Math.Min(((ITcpNetwork)this).MemoryExhausted ? TcpControlBlock.ExhaustedWindowFloor : _options.Tcp.InitialReceiveWindow, 65535);

    void SendSynCookie(in TcpConnectionKey key, TcpSegment segment, in TcpOptions options)
    {
        int peerMss = options.MaximumSegmentSize != 0 ? options.MaximumSegmentSize : key.DefaultMss;
        int ourMss = _link.Mtu - key.NetworkHeaderLength - TcpSegment.MinimumHeaderLength;
        uint cookie = Cookies.Create(key, segment.SequenceNumber, Math.Min(peerMss, ourMss), _now);
        var reply = TcpOptions.None;
        reply.MaximumSegmentSize = (ushort)Math.Min(peerMss, ourMss);
        using var lease = _buffers.Rent();
        int length = TcpSegment.WriteHeader(lease.Buffer.AsSpan(TransportOffset), key.LocalPort, key.RemotePort, cookie, segment.SequenceNumber + 1,
            TcpFlags.Syn | TcpFlags.Ack, CookieWindow, reply, 0, key.LocalAddress, key.RemoteAddress);
        _output.Send(lease.Buffer, TransportOffset, length, IpProtocol.Tcp, key.LocalAddress, key.RemoteAddress, _now);
        Counters.Increment(StackCounter.TcpSynCookiesSent);
        Counters.Increment(StackCounter.TcpSegmentsSent);
    }

    /// <summary>RFC 9293 3.10.7.1: the reset a closed port sends; never in reply to a reset.</summary>
    void SendResetFor(in TcpConnectionKey key, TcpSegment segment)
    {
        var flags = segment.Flags;
        if ((flags & TcpFlags.Rst) != 0)
            return;
        uint seq, ack;
        TcpFlags reply;
        if ((flags & TcpFlags.Ack) != 0)
        {
            seq = segment.AcknowledgmentNumber;
            ack = 0;
            reply = TcpFlags.Rst;
        }
        else
        {
            seq = 0;
            ack = segment.SequenceNumber + (uint)segment.Payload.Length + ((flags & TcpFlags.Syn) != 0 ? 1u : 0) + ((flags & TcpFlags.Fin) != 0 ? 1u : 0);
            reply = TcpFlags.Rst | TcpFlags.Ack;
        }
        using var lease = _buffers.Rent();
        int length = TcpSegment.WriteHeader(lease.Buffer.AsSpan(TransportOffset), key.LocalPort, key.RemotePort, seq, ack, reply, 0,
            TcpOptions.None, 0, key.LocalAddress, key.RemoteAddress);
        _output.Send(lease.Buffer, TransportOffset, length, IpProtocol.Tcp, key.LocalAddress, key.RemoteAddress, _now);
        Counters.Increment(StackCounter.TcpResetsSent);
        Counters.Increment(StackCounter.TcpSegmentsSent);
    }

    /// <summary>An ICMP error quoted a segment of ours from <paramref name="local"/> to <paramref name="remote"/>.</summary>
    void ReportTcpError(ReadOnlySpan<byte> transport, IpAddress local, IpAddress remote, SocketError error)
    {
        ushort localPort = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(transport);
        ushort remotePort = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(transport[2..]);
        uint sequence = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(transport[4..]);
        var key = new TcpConnectionKey(local, localPort, remote, remotePort);
        if (_tcpConnections.TryGetValue(key, out var connection))
        {
            connection.OnIcmpError(error, sequence);
            Reschedule(connection);
        }
    }

    /// <summary>
    /// Starts closing every connection gracefully for a stop: FIN after the data already written (half-open and
    /// connecting ones are aborted). Returns whether any connection has something left to deliver.
    /// </summary>
    public bool BeginTcpDrain()
    {
        foreach (var connection in _tcpConnections.Values.ToList())
        {
            if (connection.State is TcpState.SynSent or TcpState.SynReceived)
                connection.Abort();
            else if (connection.State is TcpState.Established or TcpState.CloseWait)
                connection.Shutdown();
        }
        return !TcpDrained;
    }

    /// <summary>True when no connection has data or a FIN waiting for acknowledgment.</summary>
    public bool TcpDrained
    {
        get
        {
            foreach (var connection in _tcpConnections.Values)
            {
                if (connection.State is not (TcpState.FinWait2 or TcpState.TimeWait or TcpState.Closed))
                    return false;
            }
            return true;
        }
    }

    void ShutdownTcp()
    {
        foreach (var connection in _tcpConnections.Values.ToList())
        {
            if (connection.State != TcpState.TimeWait)
                connection.Abort();
            else
                connection.Discard();
        }
        _tcpConnections.Clear();
        _tcpListeners.Clear();
        _tcpTimers.Clear();
    }
}
