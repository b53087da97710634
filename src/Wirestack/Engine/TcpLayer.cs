using System.Diagnostics.CodeAnalysis;
using System.Net.Sockets;
using Wirestack.Network;
using Wirestack.Transport;
using Wirestack.Transport.Buffers;
using Wirestack.Transport.Tcp;
using Wirestack.Wire;

namespace Wirestack.Engine;

/// <summary>What a transport needs from the IP layers below it, besides the output path.</summary>
internal interface ITransportHost
{
    /// <summary>
    /// The source address for a new exchange with <paramref name="remote"/>: the IPv4 address, or the IPv6 address
    /// RFC 6724 picks. False when the family has no usable address or no route.
    /// </summary>
    bool TrySelectSource(IpAddress remote, out IpAddress local);

    /// <summary>True for an address of ours that may carry ordinary traffic (either family).</summary>
    bool IsOurUnicast(IpAddress address);

    /// <summary>True for the IPv4 limited or subnet broadcast address.</summary>
    bool IsBroadcast(IpAddress address);

    /// <summary>Upper-layer reachability confirmation (RFC 4861 7.3.1) of <paramref name="remote"/>'s next hop.</summary>
    void ConfirmReachable(IpAddress remote);

    /// <summary>True when a packet to <paramref name="destination"/>, not ours, is taken for forwarding.</summary>
    bool IsForwardable(IpAddress destination);

    /// <summary>
    /// An ICMP destination unreachable (rate-limited) from <paramref name="from"/> to <paramref name="to"/> about a
    /// packet <paramref name="to"/> sent it, whose transport header was <paramref name="transport"/>: a forwarded flow
    /// answered as its destination or a router on the way would.
    /// </summary>
    void SendUnreachable(IpAddress from, IpAddress to, byte protocol, ReadOnlySpan<byte> transport, ForwardUnreachable reason);
}

/// <summary>
/// The TCP layer (RFC 9293 3.10.7 demultiplexing): connections by 4-tuple, listeners by port, resets for closed ports,
/// SYN cookies under load, TIME-WAIT bounds and reuse, orphans, and one timer heap for all connections. It owns every
/// connection; segments leave through the one IP output path, each built in a leased transmit buffer.
/// </summary>
internal sealed partial class TcpLayer : ITcpNetwork
{
    const int TransportOffset = TransmitBuffers.TransportOffset;

    readonly TcpSettings _settings;
    readonly ForwardingSettings? _forwarding;
    readonly IpOutput _output;
    readonly LinkLayer _link;
    readonly TransmitBuffers _buffers;
    readonly ITransportHost _host;
    readonly StackCounters _counters;
    readonly bool _poisonReturnedBuffers;
    readonly Dictionary<TcpConnectionKey, TcpControlBlock> _connections = [];
    readonly Dictionary<ushort, TcpListenerState> _listeners = [];
    readonly PriorityQueue<TcpControlBlock, long> _timers = new();
    readonly Queue<TcpControlBlock> _timeWaitOrder = new();
    readonly Queue<TcpControlBlock> _orphanOrder = new();
    int _orphanCount;
    InitialSequenceNumbers? _isn;
    SynCookies? _synCookies;
    int _timeWaitCount;
    BufferChunkPool? _bufferPool;
    long _now;
    readonly List<TcpControlBlock> _batchEnd = [];
    bool _inReceiveBatch;

    public TcpLayer(StackOptions options, IpOutput output, LinkLayer link, TransmitBuffers buffers, ITransportHost host, StackCounters counters)
    {
        _settings = options.Tcp;
        _forwarding = options.Forwarding;
        _poisonReturnedBuffers = options.PoisonReturnedBuffers;
        _output = output;
        _link = link;
        _buffers = buffers;
        _host = host;
        _counters = counters;
    }

    /// <summary>The engine's clock, set before anything runs (segments, timers, application commands).</summary>
    public void SetTime(long now) => _now = now;

    /// <summary>Where every connection's buffer chunks come from; it counts the bytes in use.</summary>
    public BufferChunkPool BufferPool => _bufferPool ??= new BufferChunkPool(Math.Min(_settings.MemoryBudget / 4, 64L << 20))
    {
        Poison = _poisonReturnedBuffers ? (byte)0xDB : null,
    };

    /// <summary>Bytes of TCP buffer memory held (by live connections, and by closed ones an application still reads).</summary>
    public long BufferBytes => _bufferPool?.BytesInUse ?? 0;

    bool ITcpNetwork.MemoryPressure => BufferBytes >= _settings.MemoryBudget / 4 * 3;

    bool ITcpNetwork.MemoryExhausted => BufferBytes >= _settings.MemoryBudget;

    /// <summary>True when one more connection fits the connection limit (memory is taken on demand, not here).</summary>
    bool HasRoom => _connections.Count - _timeWaitCount < _settings.MaxConnections;

    TcpControlBlock NewConnection(in TcpConnectionKey key, uint iss, ITcpConnectionEvents? events)
    {
        var connection = new TcpControlBlock(this, key, iss, events);
        _connections.Add(key, connection);
        return connection;
    }

    // The ISN and cookie key always comes from RandomNumberGenerator: a test seed never reaches a secret.
    InitialSequenceNumbers Isn => _isn ??= new InitialSequenceNumbers();

    /// <summary>Tests only: a fixed initial sequence number for new connections (to exercise wrap-around).</summary>
    internal uint? InitialSequenceOverride { get; set; }

    uint NextIsn(in TcpConnectionKey key) => InitialSequenceOverride ?? Isn.Next(key, _now);
    internal SynCookies Cookies => _synCookies ??= new SynCookies(Isn);

    /// <summary>Connections in any state but LISTEN, TIME-WAIT included.</summary>
    public int ConnectionCount => _connections.Count;

    public int TimeWaitCount => _timeWaitCount;

    public IEnumerable<TcpControlBlock> Connections => _connections.Values;

    long ITcpNetwork.Now => _now;
    TcpSettings ITcpNetwork.Settings => _settings;
    StackCounters ITcpNetwork.Counters => _counters;
    int ITcpNetwork.Mtu => _link.Mtu;
    int ITcpNetwork.PathMtu(IpAddress destination) => _output.PathMtu(destination, _now);
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

    bool ITcpNetwork.InReceiveBatch => _inReceiveBatch;

    void ITcpNetwork.DeferToBatchEnd(TcpControlBlock connection) => _batchEnd.Add(connection);

    /// <summary>The engine starts taking in the frames waiting at the device.</summary>
    public void BeginReceiveBatch() => _inReceiveBatch = true;

    /// <summary>The frames are in: the ACKs and readable signals connections left for this moment go out.</summary>
    public void EndReceiveBatch()
    {
        _inReceiveBatch = false;
        foreach (var connection in _batchEnd)
            connection.EndReceiveBatch();
        _batchEnd.Clear();
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
            _timers.Enqueue(connection, deadline);
        }
    }

    public void RunTimers()
    {
        ExpirePending();
        while (_timers.TryPeek(out var connection, out long at) && at <= _now)
        {
            _timers.Dequeue();
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

    public long? NextDeadline
    {
        get
        {
            long? pending = NextPendingDeadline;
            long? timers = _timers.TryPeek(out _, out long at) ? at : null;
            return pending is null ? timers : timers is null ? pending : Math.Min(pending.Value, timers.Value);
        }
    }

    void ITcpNetwork.ConfirmReachable(IpAddress remote) => _host.ConfirmReachable(remote);

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
        while (_orphanCount > _settings.MaxOrphans && _orphanOrder.TryDequeue(out var oldest))
        {
            if (oldest.IsOrphan)
            {
                _counters.Increment(StackCounter.TcpConnectionsTimedOut);
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
    public int OrphanCount => _orphanCount;

    /// <summary>Tests only: entries in the orphan queue, finished ones not yet dropped included.</summary>
    internal int OrphanQueueLength => _orphanOrder.Count;

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
        while (_timeWaitCount > _settings.MaxTimeWait && _timeWaitOrder.TryDequeue(out var oldest))
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
        if (_connections.TryGetValue(connection.Key, out var current) && ReferenceEquals(current, connection))
            _connections.Remove(connection.Key);
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
    public TcpListenerState Listen(int port, int backlog, ITcpListenerEvents events)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue);
        ArgumentOutOfRangeException.ThrowIfLessThan(backlog, 1);
        if (_listeners.ContainsKey((ushort)port))
            throw new SocketException((int)SocketError.AddressAlreadyInUse);
        var listener = new TcpListenerState((ushort)port, backlog, events);
        _listeners.Add((ushort)port, listener);
        return listener;
    }

    /// <summary>Stops a listener; connections not yet accepted are reset.</summary>
    public void CloseListener(TcpListenerState listener)
    {
        listener.Closed = true;
        _listeners.Remove(listener.Port);
        foreach (var connection in _connections.Values.Where(c => ReferenceEquals(c.Listener, listener)).ToList())
            connection.Abort();
    }

    /// <summary>The application took an established connection from its listener.</summary>
    public void MarkAccepted(TcpControlBlock connection) => LeaveListener(connection);

    /// <summary>Active open to <paramref name="remote"/>:<paramref name="port"/> from an ephemeral port.</summary>
    /// <exception cref="SocketException">NetworkUnreachable, AddressNotAvailable, TooManyOpenSockets.</exception>
    public TcpControlBlock Connect(IpAddress remote, ushort port, ITcpConnectionEvents events, ushort localPort = 0)
    {
        if (port == 0 || remote.IsUnspecified)
            throw new SocketException((int)SocketError.AddressNotAvailable);
        if (remote.IsMulticast || !_host.TrySelectSource(remote, out var local) || _host.IsBroadcast(remote))
            throw new SocketException((int)SocketError.NetworkUnreachable);
        if (!HasRoom)
            throw new SocketException((int)SocketError.TooManyOpenSockets);
        const int range = UdpBindings.EphemeralLast - UdpBindings.EphemeralFirst + 1;
        // RFC 6056 3.3.1 (random start, then sequential): unpredictable to an off-path attacker.
        int start = System.Security.Cryptography.RandomNumberGenerator.GetInt32(range);
        for (int i = 0; i < range; i++)
        {
            var candidate = localPort != 0 ? localPort : (ushort)(UdpBindings.EphemeralFirst + (start + i) % range);
            var key = new TcpConnectionKey(local, candidate, remote, port);
            if (_connections.ContainsKey(key) || (localPort == 0 && _listeners.ContainsKey(candidate)))
            {
                if (localPort != 0)
                    throw new SocketException((int)SocketError.AddressAlreadyInUse);
                continue;
            }
            var connection = NewConnection(key, NextIsn(key), events);
            _counters.Increment(StackCounter.TcpActiveOpens);
            connection.Connect();
            Reschedule(connection);
            return connection;
        }
        throw new SocketException((int)SocketError.TooManyOpenSockets);
    }

    /// <summary>
    /// A segment from <paramref name="source"/> to <paramref name="destination"/>; <paramref name="checksumVouched"/>
    /// when the device checked its checksum already.
    /// </summary>
    public void Receive(IpAddress source, IpAddress destination, Span<byte> bytes, bool checksumVouched)
    {
        if (!TcpSegment.TryParse(bytes, out var segment))
        {
            _counters.Increment(StackCounter.DropTcpMalformed);
            return;
        }
        if (!checksumVouched && !segment.IsChecksumValid(source, destination))
        {
            _counters.Increment(StackCounter.DropTcpBadChecksum);
            return;
        }
        if (!segment.TryParseOptions(out var options))
        {
            _counters.Increment(StackCounter.DropTcpMalformed);
            return;
        }
        _counters.Increment(StackCounter.TcpSegmentsReceived);
        var key = new TcpConnectionKey(destination, segment.DestinationPort, source, segment.SourcePort);
        var flags = segment.Flags;
        if (_connections.TryGetValue(key, out var connection))
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
        if (!_host.IsOurUnicast(destination))
        {
            // Forwarded (a flow to another address), or not for us: TCP is unicast only (RFC 1122 4.2.3.10).
            if (Forwards(destination))
                ReceiveForwarded(key, segment, options);
            else
                _counters.Increment(destination.IsIpv4 ? StackCounter.DropIpv4NotForUs : StackCounter.DropIpv6NotForUs);
            return;
        }
        if (_listeners.TryGetValue(segment.DestinationPort, out var listener))
        {
            ReceiveOnListener(listener, key, segment, options);
            return;
        }
        _counters.Increment(StackCounter.DropTcpNoListener);
        SendResetFor(key, segment);
    }

    /// <summary>An ICMP error quoted a segment of ours from <paramref name="local"/> to <paramref name="remote"/>.</summary>
    public void OnIcmpError(ReadOnlySpan<byte> transport, IpAddress local, IpAddress remote, SocketError error)
    {
        if (Find(transport, local, remote, out var connection, out uint sequence))
        {
            connection.OnIcmpError(error, sequence);
            Reschedule(connection);
        }
    }

    /// <summary>
    /// RFC 8201 4: the path toward <paramref name="remote"/> carries at most <paramref name="pathMtu"/>; the connection
    /// whose segment (quoted by its first 8 bytes in <paramref name="transport"/>) was too big resends at that size.
    /// </summary>
    public void OnPathMtu(ReadOnlySpan<byte> transport, IpAddress local, IpAddress remote, int pathMtu)
    {
        if (Find(transport, local, remote, out var connection, out uint sequence))
        {
            connection.OnPathMtu(pathMtu, sequence);
            Reschedule(connection);
        }
    }

    /// <summary>The connection a quoted segment of ours (its first 8 bytes at least) belongs to, and its sequence number.</summary>
    bool Find(ReadOnlySpan<byte> transport, IpAddress local, IpAddress remote, [NotNullWhen(true)] out TcpControlBlock? connection, out uint sequence)
    {
        sequence = 0;
        connection = null;
        if (!TcpSegment.TryReadQuoted(transport, out ushort localPort, out ushort remotePort, out sequence))
            return false;
        return _connections.TryGetValue(new TcpConnectionKey(local, localPort, remote, remotePort), out connection);
    }

    /// <summary>Every connection fails with <paramref name="error"/> (the address they use is gone: a DHCP lease ended).</summary>
    public void FailConnections(SocketError error)
    {
        foreach (var connection in _connections.Values.ToList())
            connection.Fail(error);
    }

    /// <summary>
    /// Starts closing every connection gracefully for a stop: FIN after the data already written (half-open and
    /// connecting ones are aborted). Returns whether any connection has something left to deliver.
    /// </summary>
    public bool BeginDrain()
    {
        foreach (var connection in _connections.Values.ToList())
        {
            if (connection.State is TcpState.SynSent or TcpState.SynReceived)
                connection.Abort();
            else if (connection.State is TcpState.Established or TcpState.CloseWait)
                connection.Shutdown();
        }
        return !Drained;
    }

    /// <summary>True when no connection has data or a FIN waiting for acknowledgment.</summary>
    public bool Drained
    {
        get
        {
            foreach (var connection in _connections.Values)
            {
                if (connection.State is not (TcpState.FinWait2 or TcpState.TimeWait or TcpState.Closed))
                    return false;
            }
            return true;
        }
    }

    /// <summary>Every connection is reset (TIME-WAIT ones forgotten); listeners and timers go. The stack stops.</summary>
    public void Shutdown()
    {
        foreach (var connection in _connections.Values.ToList())
        {
            if (connection.State != TcpState.TimeWait)
                connection.Abort();
            else
                connection.Discard();
        }
        _connections.Clear();
        _listeners.Clear();
        _timers.Clear();
        SetForwarder(null);
    }
}
