using Wirestack.Network;
using Wirestack.Transport.Tcp;
using Wirestack.Wire;

namespace Wirestack.Engine;

// Passive opens (RFC 9293 3.10.7.2): the SYN queue, SYN cookies when it or memory is full (RFC 4987 3.6), and the
// resets a closed port sends.
internal sealed partial class TcpLayer
{
    void ReceiveOnListener(TcpListenerState listener, in TcpConnectionKey key, TcpSegment segment, in TcpOptions options)
    {
        var flags = segment.Flags;
        if ((flags & TcpFlags.Rst) != 0)
            return;
        if ((flags & TcpFlags.Ack) != 0)
        {
            // The last step of a handshake whose state we did not keep: a SYN cookie (RFC 4987 3.6). Any other
            // segment bearing an ACK, a SYN-ACK among them, is answered with RST (RFC 9293 3.10.7.2).
            if ((flags & TcpFlags.Syn) == 0 && _settings.SynCookies)
            {
                if (!listener.BacklogFull && listener.TakesCookies(_now) && Cookies.TryValidate(key, segment.SequenceNumber - 1, segment.AcknowledgmentNumber - 1, _now, out int mss))
                {
                    if (HasRoom)
                    {
                        AcceptSynCookie(listener, key, segment, options, mss);
                        return;
                    }
                    _counters.Increment(StackCounter.DropTcpConnectionLimit);
                }
                else
                {
                    _counters.Increment(StackCounter.DropTcpSynCookieInvalid);
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
        if (!HasRoom || listener.SynQueueFull || listener.BacklogFull || ((ITcpNetwork)this).MemoryPressure)
        {
            if (_settings.SynCookies && !listener.BacklogFull)
            {
                listener.CookieSent(_now);
                SendSynCookie(key, segment, options);
                return;
            }
            _counters.Increment(HasRoom ? StackCounter.DropTcpListenQueueFull : StackCounter.DropTcpConnectionLimit);
            return;
        }
        var passive = NewConnection(key, NextIsn(key), events: null);
        passive.Listener = listener;
        passive.ListenerQueue = ListenerQueue.HalfOpen;
        listener.HalfOpen++;
        _counters.Increment(StackCounter.TcpPassiveOpens);
        passive.AcceptSyn(segment.SequenceNumber, segment.Window, options);
        Reschedule(passive);
    }

    void AcceptSynCookie(TcpListenerState listener, in TcpConnectionKey key, TcpSegment segment, in TcpOptions options, int mss)
    {
        var connection = NewConnection(key, segment.AcknowledgmentNumber - 1, events: null);
        connection.Listener = listener;
        connection.AcceptCookie(segment.SequenceNumber - 1, mss, segment.AcknowledgmentNumber, segment.Window);
        _counters.Increment(StackCounter.TcpSynCookiesAccepted);
        _counters.Increment(StackCounter.TcpPassiveOpens);
        _counters.Increment(StackCounter.TcpConnectionsEstablished);
        ((ITcpNetwork)this).OnPassiveEstablished(connection);
        if (segment.Payload.Length > 0 || (segment.Flags & TcpFlags.Fin) != 0)
            connection.Process(segment, options);
        Reschedule(connection);
    }

    /// <summary>The window a SYN cookie's SYN-ACK offers: the initial window, or the floor while memory is at the budget.</summary>
    ushort CookieWindow => (ushort)Math.Min(((ITcpNetwork)this).MemoryExhausted ? TcpControlBlock.ExhaustedWindowFloor : _settings.InitialReceiveWindow, 65535);

    void SendSynCookie(in TcpConnectionKey key, TcpSegment segment, in TcpOptions options)
    {
        int peerMss = options.MaximumSegmentSize != 0 ? options.MaximumSegmentSize : key.DefaultMss;
        int ourMss = _link.Mtu - key.NetworkHeaderLength - TcpSegment.MinimumHeaderLength;
        uint cookie = Cookies.Create(key, segment.SequenceNumber, Math.Min(peerMss, ourMss), _now);
        var reply = TcpOptions.None;
        reply.MaximumSegmentSize = (ushort)Math.Min(peerMss, ourMss);
        using var lease = _buffers.Rent();
        int length = new TcpHeader(key.LocalPort, key.RemotePort, cookie, segment.SequenceNumber + 1, TcpFlags.Syn | TcpFlags.Ack, CookieWindow)
            .Write(lease.Buffer.AsSpan(TransportOffset), reply, 0, key.LocalAddress, key.RemoteAddress);
        _output.Send(lease.Buffer, TransportOffset, length, IpProtocol.Tcp, key.LocalAddress, key.RemoteAddress, _now);
        _counters.Increment(StackCounter.TcpSynCookiesSent);
        _counters.Increment(StackCounter.TcpSegmentsSent);
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
        SendReset(key, seq, ack, reply);
    }

    void SendReset(in TcpConnectionKey key, uint seq, uint ack, TcpFlags reply)
    {
        using var lease = _buffers.Rent();
        int length = new TcpHeader(key.LocalPort, key.RemotePort, seq, ack, reply, Window: 0)
            .Write(lease.Buffer.AsSpan(TransportOffset), TcpOptions.None, 0, key.LocalAddress, key.RemoteAddress);
        _output.Send(lease.Buffer, TransportOffset, length, IpProtocol.Tcp, key.LocalAddress, key.RemoteAddress, _now);
        _counters.Increment(StackCounter.TcpResetsSent);
        _counters.Increment(StackCounter.TcpSegmentsSent);
    }
}
