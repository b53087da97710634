using Wirestack.Devices;
using Wirestack.Transport.Tcp;

namespace Wirestack.Tests;

public sealed class TcpEngineTests
{
    [Fact(DisplayName = "RFC 9293 3.5: three-way handshake, data both ways, orderly close")]
    public void HandshakeTransferClose()
    {
        using var net = new TwoEngines();
        var listener = new RecordingListener();
        net.B.Tcp.Listen(80, 16, listener);
        var client = new RecordingConnection();
        Assert.True(net.RunUntil(() => net.A.State == StackState.Ready && net.B.State == StackState.Ready, TimeSpan.FromSeconds(1)));
        var connection = net.A.Tcp.Connect(TwoEngines.AddressB, 80, client);
        client.Connection = connection;
        Assert.True(net.RunUntil(() => client.Established && listener.Accepted.Count == 1, TimeSpan.FromSeconds(2)));
        var server = listener.Accepted[0];
        var payload = Frames.RandomBytes(200_000, 1);
        var feeder = new Feeder(connection, payload);
        Assert.True(net.RunUntil(() => { feeder.Pump(); return server.Received.Length == payload.Length; }, TimeSpan.FromSeconds(10)));
        Assert.Equal(payload, server.Received.ToArray());

        var reply = Frames.RandomBytes(50_000, 2);
        var back = new Feeder(server.Connection!, reply);
        Assert.True(net.RunUntil(() => { back.Pump(); return client.Received.Length == reply.Length; }, TimeSpan.FromSeconds(10)));
        Assert.Equal(reply, client.Received.ToArray());

        connection.Shutdown();
        Assert.True(net.RunUntil(() => server.Connection!.PeerFinished, TimeSpan.FromSeconds(2)));
        server.Connection!.Shutdown();
        Assert.True(net.RunUntil(() => server.ClosedWith is not null && client.ClosedWith is not null, TimeSpan.FromSeconds(2)));
        Assert.Equal(System.Net.Sockets.SocketError.Success, server.ClosedWith);
        Assert.Equal(TcpState.TimeWait, connection.State);
        Assert.Equal(TcpState.Closed, server.Connection.State);
    }
}

public sealed class TcpSimultaneousTests
{
    [Fact(DisplayName = "RFC 9293 3.5 figure 7: simultaneous open reaches ESTABLISHED on both sides and carries data")]
    public void SimultaneousOpen()
    {
        using var net = new TwoEngines();
        Assert.True(net.RunUntil(() => net.A.State == StackState.Ready && net.B.State == StackState.Ready, TimeSpan.FromSeconds(1)));
        var a = new RecordingConnection();
        var b = new RecordingConnection();
        // Both SYNs leave before either arrives.
        a.Connection = net.A.Tcp.Connect(TwoEngines.AddressB, 6000, a, localPort: 5000);
        b.Connection = net.B.Tcp.Connect(TwoEngines.AddressA, 5000, b, localPort: 6000);
        Assert.True(net.RunUntil(() => a.Established && b.Established, TimeSpan.FromSeconds(5)));
        var feeder = new Feeder(a.Connection, [1, 2, 3]);
        Assert.True(net.RunUntil(() => { feeder.Pump(); return b.Received.Length == 3; }, TimeSpan.FromSeconds(2)));
    }

    [Fact(DisplayName = "RFC 9293 3.6 figure 13: simultaneous close goes through CLOSING to TIME-WAIT on both sides")]
    public void SimultaneousClose()
    {
        using var net = new TwoEngines();
        var listener = new RecordingListener();
        net.B.Tcp.Listen(80, 4, listener);
        Assert.True(net.RunUntil(() => net.A.State == StackState.Ready && net.B.State == StackState.Ready, TimeSpan.FromSeconds(1)));
        var client = new RecordingConnection();
        client.Connection = net.A.Tcp.Connect(TwoEngines.AddressB, 80, client);
        Assert.True(net.RunUntil(() => client.Established && listener.Accepted.Count == 1, TimeSpan.FromSeconds(2)));
        var server = listener.Accepted[0].Connection!;
        client.Connection.Shutdown();
        server.Shutdown();
        Assert.Equal(TcpState.FinWait1, client.Connection.State);
        Assert.Equal(TcpState.FinWait1, server.State);
        Assert.True(net.RunUntil(() => client.Connection.State == TcpState.TimeWait && server.State == TcpState.TimeWait, TimeSpan.FromSeconds(2)));
        Assert.Equal(System.Net.Sockets.SocketError.Success, client.ClosedWith);
        Assert.Equal(System.Net.Sockets.SocketError.Success, listener.Accepted[0].ClosedWith);
    }
}
