using System.Net.Sockets;
using Wirestack.Transport.Tcp;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>Records what a connection reports to its application side, and plays a simple application.</summary>
internal sealed class RecordingConnection : ITcpConnectionEvents
{
    public TcpControlBlock? Connection;
    public bool Established;
    public SocketError? ClosedWith;
    public readonly MemoryStream Received = new();

    public void OnEstablished() => Established = true;

    /// <summary>How many times the connection said it had something to read.</summary>
    public int ReadableSignals;

    public void OnReadable()
    {
        ReadableSignals++;
        if (Connection is null)
            return;
        var buffer = new byte[65536];
        int n;
        while ((n = Connection.Receive.Ring.Read(buffer)) > 0)
            Received.Write(buffer, 0, n);
        Connection.OnApplicationRead();
    }

    public void OnWritable()
    {
    }

    public void OnClosed(SocketError error) => ClosedWith = error;
}

internal sealed class RecordingListener : ITcpListenerEvents
{
    public readonly List<RecordingConnection> Accepted = [];
    public bool AutoRead { get; init; } = true;

    public ITcpConnectionEvents OnConnectionReady(TcpControlBlock connection)
    {
        var events = new RecordingConnection { Connection = AutoRead ? connection : null, Established = true };
        Accepted.Add(events);
        return events;
    }
}

/// <summary>Writes a payload into a connection's send ring as space frees up.</summary>
internal sealed class Feeder(TcpControlBlock connection, byte[] payload)
{
    int _offset;

    public bool Done => _offset == payload.Length;

    public void Pump()
    {
        if (_offset < payload.Length)
        {
            _offset += connection.Write(payload.AsSpan(_offset));
            connection.OnApplicationWrite();
        }
    }
}

/// <summary>Connections the TCP tests start from.</summary>
internal static class TcpFixtures
{
    /// <summary>A listener on port 80 and an established connection from the scripted peer (no timestamps unless asked), the handshake taking <paramref name="rtt"/>.</summary>
    public static (EngineHarness H, TcpPeer Peer, RecordingListener Listener, uint StackIss) Established(StackOptions? options = null, bool timestamps = false,
        uint peerIss = 1_000_000, bool autoRead = true, TimeSpan? rtt = null, bool offloads = false)
    {
        var h = new EngineHarness(options, offloads: offloads);
        var listener = new RecordingListener { AutoRead = autoRead };
        h.Engine.Tcp.Listen(80, 8, listener);
        var peer = new TcpPeer(h);
        peer.Send(peerIss, 0, TcpFlags.Syn, options: TcpPeer.SynOptions(timestamps));
        var synAck = Assert.Single(peer.Received());
        Assert.True(synAck.Has(TcpFlags.Syn | TcpFlags.Ack));
        if (rtt is { } roundTrip)
            h.Advance(roundTrip);
        Assert.Equal(peerIss + 1, synAck.Ack);
        peer.Send(peerIss + 1, synAck.Seq + 1, TcpFlags.Ack, options: timestamps ? TcpPeer.Timestamps(1001, synAck.Options.TimestampValue) : null);
        Assert.Single(listener.Accepted);
        return (h, peer, listener, synAck.Seq);
    }
}
