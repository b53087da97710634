using System.Net.Sockets;
using Wirestack.Transport.Tcp;

namespace Wirestack.Tests;

/// <summary>Records what a connection reports to its application side, and plays a simple application.</summary>
internal sealed class RecordingConnection : ITcpConnectionEvents
{
    public TcpControlBlock? Connection;
    public bool Established;
    public SocketError? ClosedWith;
    public readonly MemoryStream Received = new();

    public void OnEstablished() => Established = true;

    public void OnReadable()
    {
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
