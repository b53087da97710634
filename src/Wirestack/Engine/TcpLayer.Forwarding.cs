using Wirestack.Transport.Tcp;
using Wirestack.Wire;

namespace Wirestack.Engine;

/// <summary>Where the TCP layer offers handshakes to addresses not its own: the application's forwarder.</summary>
internal interface ITcpForwardEvents
{
    /// <summary>A new flow's SYN, waiting for a decision (on the engine's thread: take it and return).</summary>
    void OnRequest(TcpForwardPending request);
}

/// <summary>A handshake to an address not ours, held until the application decides: what the SYN said, and nothing more.</summary>
internal sealed class TcpForwardPending(TcpConnectionKey key, uint sequence, ushort window, TcpOptions options, byte[] quote, long deadline)
{
    /// <summary>Local end: the flow's original destination; remote: its client.</summary>
    public TcpConnectionKey Key { get; } = key;
    public uint Sequence { get; } = sequence;
    public ushort Window { get; } = window;
    public TcpOptions Options { get; } = options;

    /// <summary>The SYN's TCP header, which an ICMP error about the flow quotes behind an IP header.</summary>
    public byte[] Quote { get; } = quote;

    public long Deadline { get; } = deadline;

    /// <summary>Still waiting (not decided, expired or abandoned).</summary>
    public bool IsPending { get; set; } = true;
}

// Forwarding (DESIGN "every flow, not only ours"): a SYN to an address that is not ours is held, bounded in all and
// per source, and offered to the application, which accepts it (the SYN-ACK goes out from the original destination),
// refuses it with a reset, answers it with an ICMP unreachable, or drops it. Accepted flows are ordinary connections
// whose local end is the original destination.
internal sealed partial class TcpLayer
{
    readonly Dictionary<TcpConnectionKey, TcpForwardPending> _pending = [];
    readonly Queue<TcpForwardPending> _pendingOrder = new();
    readonly Dictionary<IpAddress, int> _pendingPerSource = [];
    ITcpForwardEvents? _forwarder;

    public bool HasForwarder => _forwarder is not null;

    /// <summary>Tests: handshakes waiting for a decision.</summary>
    public int PendingForwardCount => _pending.Count;

    /// <summary>Offers handshakes to other addresses to <paramref name="forwarder"/> from now on (null: no more; those waiting are dropped).</summary>
    /// <exception cref="InvalidOperationException">Forwarding is off in the stack's options, or another forwarder is set.</exception>
    public void SetForwarder(ITcpForwardEvents? forwarder)
    {
        if (forwarder is not null)
        {
            if (_forwarding is null)
                throw new InvalidOperationException("Forwarding is off: set StackOptions.Forwarding.");
            if (_forwarder is not null)
                throw new InvalidOperationException("A TCP forwarder is already set.");
        }
        _forwarder = forwarder;
        if (forwarder is null)
        {
            foreach (var pending in _pending.Values.ToList())
                Take(pending);
        }
    }

    /// <summary>True when a segment to <paramref name="destination"/>, not ours, goes to the forwarder.</summary>
    bool Forwards(IpAddress destination) => _forwarder is not null && _host.IsForwardable(destination);

    /// <summary>A segment of no known connection to an address not ours.</summary>
    void ReceiveForwarded(in TcpConnectionKey key, TcpSegment segment, in TcpOptions options)
    {
        var flags = segment.Flags;
        if ((flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) != TcpFlags.Syn)
        {
            if (_pending.TryGetValue(key, out var waiting))
            {
                // The client gave up on the handshake: a reset at exactly the sequence number after its SYN (RFC 5961
                // 3.2: a guessed 4-tuple alone must not cancel another's handshake); anything else is early and ignored.
                if ((flags & TcpFlags.Rst) != 0 && segment.SequenceNumber == waiting.Sequence + 1)
                    Take(waiting);
                return;
            }
            // As the destination would answer a segment of a connection it does not know (RFC 9293 3.10.7.1).
            _counters.Increment(StackCounter.DropTcpNoListener);
            SendResetFor(key, segment);
            return;
        }
        if (_pending.ContainsKey(key))
        {
            // A retransmitted SYN: the decision is still coming.
            _counters.Increment(StackCounter.TcpForwardSynRetransmitted);
            return;
        }
        var forwarding = _forwarding!;
        var share = SourceShare.Of(key.RemoteAddress);
        _pendingPerSource.TryGetValue(share, out int held);
        if (_pending.Count >= forwarding.MaxPendingConnections || held >= forwarding.MaxPendingPerSource || !HasRoom)
        {
            _counters.Increment(StackCounter.DropTcpForwardPendingFull);
            return;
        }
        var quote = segment.HeaderBytes.ToArray();
        var pending = new TcpForwardPending(key, segment.SequenceNumber, segment.Window, options, quote,
            _now + forwarding.DecisionTimeout.Ticks / TimeSpan.TicksPerMicrosecond);
        _pending.Add(key, pending);
        _pendingOrder.Enqueue(pending);
        _pendingPerSource[share] = held + 1;
        _counters.Increment(StackCounter.TcpForwardRequests);
        _forwarder!.OnRequest(pending);
    }

    /// <summary>Takes <paramref name="pending"/> out of the table; false when it was no longer waiting.</summary>
    bool Take(TcpForwardPending pending)
    {
        if (!pending.IsPending)
            return false;
        pending.IsPending = false;
        _pending.Remove(pending.Key);
        var share = SourceShare.Of(pending.Key.RemoteAddress);
        if (_pendingPerSource.TryGetValue(share, out int held) && held > 1)
            _pendingPerSource[share] = held - 1;
        else
            _pendingPerSource.Remove(share);
        return true;
    }

    /// <summary>Accepts: the SYN-ACK goes out from the original destination. Null when the handshake is no longer waiting or the table is full (it is reset then).</summary>
    public TcpControlBlock? AcceptForwarded(TcpForwardPending pending, ITcpConnectionEvents events)
    {
        if (!Take(pending))
            return null;
        if (!HasRoom || _connections.ContainsKey(pending.Key))
        {
            _counters.Increment(StackCounter.DropTcpConnectionLimit);
            SendReset(pending.Key, 0, pending.Sequence + 1, TcpFlags.Rst | TcpFlags.Ack);
            return null;
        }
        var connection = NewConnection(pending.Key, NextIsn(pending.Key), events);
        _counters.Increment(StackCounter.TcpPassiveOpens);
        connection.AcceptSyn(pending.Sequence, pending.Window, pending.Options);
        Reschedule(connection);
        return connection;
    }

    /// <summary>Refuses with a reset, as a closed port would (RFC 9293 3.10.7.1); the client sees "connection refused".</summary>
    public bool RefuseForwarded(TcpForwardPending pending)
    {
        if (!Take(pending))
            return false;
        SendReset(pending.Key, 0, pending.Sequence + 1, TcpFlags.Rst | TcpFlags.Ack);
        return true;
    }

    /// <summary>Answers with an ICMP destination unreachable about the SYN, from the original destination.</summary>
    public bool UnreachableForwarded(TcpForwardPending pending, ForwardUnreachable reason)
    {
        if (!Take(pending))
            return false;
        _host.SendUnreachable(pending.Key.LocalAddress, pending.Key.RemoteAddress, IpProtocol.Tcp, pending.Quote, reason);
        return true;
    }

    /// <summary>Drops the SYN as if it were lost (the client retries, and its retry is a new request).</summary>
    public bool DropForwarded(TcpForwardPending pending) => Take(pending);

    /// <summary>When the oldest undecided handshake expires; null when none waits.</summary>
    long? NextPendingDeadline
    {
        get
        {
            while (_pendingOrder.TryPeek(out var head) && !head.IsPending)
                _pendingOrder.Dequeue();
            return _pendingOrder.TryPeek(out var oldest) ? oldest.Deadline : null;
        }
    }

    /// <summary>Handshakes the application did not decide in time are dropped (oldest first: the queue is in arrival order).</summary>
    void ExpirePending()
    {
        while (_pendingOrder.TryPeek(out var head) && (!head.IsPending || head.Deadline <= _now))
        {
            _pendingOrder.Dequeue();
            if (Take(head))
                _counters.Increment(StackCounter.DropTcpForwardUndecided);
        }
    }
}
