using System.Net;
using System.Net.Sockets;
using Wirestack.Devices;
using Wirestack.Engine;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>Forwarded UDP (issue 23, RFC 4787): sessions per client end point, replies from any address, bounds and idle timeouts.</summary>
public sealed class UdpForwardingTests
{
    [Theory(DisplayName = "Issue 23, RFC 4787 REQ-1: a client's datagrams to any addresses form one session with their destinations; a reply from the destination reaches it, and under endpoint-independent filtering so does a third peer's (REQ-8)")]
    [InlineData("203.0.113.53", "198.51.100.9")]
    [InlineData("2001:db8::53", "2001:db8::9")]
    public async Task SessionsMapEndpointIndependently(string first, string third)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var tunnel = await ForwardingTunnel.StartAsync("10.24.1", new ForwardingSettings(), ct);
        await using var forwarder = await tunnel.Forwarder.ForwardUdpAsync();
        using var socket = await tunnel.Client.BindUdpAsync();
        var dns = new IPEndPoint(IPAddress.Parse(first), 53);
        var game = new IPEndPoint(IPAddress.Parse(first), 27015);
        await socket.SendToAsync("query"u8.ToArray(), dns, ct);
        await socket.SendToAsync("hello"u8.ToArray(), game, ct);
        await using var session = await forwarder.AcceptAsync(ct);
        Assert.Equal(socket.LocalEndPoint.Port, session.Client.Port);
        var datagram = await session.ReceiveAsync(ct);
        Assert.Equal((dns, "query"), (datagram.Destination, System.Text.Encoding.ASCII.GetString(datagram.Payload)));
        Assert.Equal(game, (await session.ReceiveAsync(ct)).Destination);

        await session.SendAsync("answer"u8.ToArray(), dns, ct);
        var reply = await socket.ReceiveAsync(ct);
        Assert.Equal((dns, "answer"), (reply.RemoteEndPoint, System.Text.Encoding.ASCII.GetString(reply.Buffer)));
        var peer = new IPEndPoint(IPAddress.Parse(third), 7777);
        await session.SendAsync("from a peer"u8.ToArray(), peer, ct);
        Assert.Equal(peer, (await socket.ReceiveAsync(ct)).RemoteEndPoint);
        var otherFamily = new IPEndPoint(dns.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Parse("2001:db8::1") : IPAddress.Parse("192.0.2.1"), 53);
        Assert.Equal(SocketError.AddressNotAvailable, (await Assert.ThrowsAsync<SocketException>(() => session.SendAsync("x"u8.ToArray(), otherFamily, ct).AsTask())).SocketErrorCode);
    }

    [Fact(DisplayName = "Issue 23: a session's waiting datagrams drain without waiting (TryReceive), in order, and a destination's end point is made once for the run of datagrams to it")]
    public async Task TryReceiveDrainsInOrder()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var tunnel = await ForwardingTunnel.StartAsync("10.24.4", new ForwardingSettings(), ct);
        await using var forwarder = await tunnel.Forwarder.ForwardUdpAsync();
        using var socket = await tunnel.Client.BindUdpAsync();
        var destination = new IPEndPoint(IPAddress.Parse("203.0.113.80"), 4433);
        for (byte i = 0; i < 5; i++)
            await socket.SendToAsync(new[] { i }, destination, ct);
        await using var session = await forwarder.AcceptAsync(ct);
        var first = await session.ReceiveAsync(ct);
        var seen = new List<byte> { first.Payload[0] };
        while (seen.Count < 5)
        {
            if (session.TryReceive(out var next))
            {
                seen.Add(next.Payload[0]);
                Assert.Same(first.Destination, next.Destination);
            }
            else
            {
                await Task.Delay(5, ct);
            }
        }
        Assert.Equal([0, 1, 2, 3, 4], seen);
        Assert.False(session.TryReceive(out _));
        await session.DisposeAsync();
        Assert.False(session.TryReceive(out _));
    }

    [Fact(DisplayName = "Issue 23, RFC 4787 REQ-8 address-dependent filtering: only addresses the client sent to may answer it, from any of their ports")]
    public async Task AddressDependentFiltering()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var tunnel = await ForwardingTunnel.StartAsync("10.24.2", new ForwardingSettings { UdpFiltering = UdpFiltering.AddressDependent }, ct);
        await using var forwarder = await tunnel.Forwarder.ForwardUdpAsync();
        using var socket = await tunnel.Client.BindUdpAsync();
        var server = new IPEndPoint(IPAddress.Parse("203.0.113.80"), 3478);
        await socket.SendToAsync("bind"u8.ToArray(), server, ct);
        await using var session = await forwarder.AcceptAsync(ct);
        await session.ReceiveAsync(ct);
        var otherPort = new IPEndPoint(server.Address, 3479);
        await session.SendAsync("ok"u8.ToArray(), otherPort, ct);
        Assert.Equal(otherPort, (await socket.ReceiveAsync(ct)).RemoteEndPoint);
        var stranger = new IPEndPoint(IPAddress.Parse("198.51.100.66"), 3478);
        Assert.Equal(SocketError.AccessDenied, (await Assert.ThrowsAsync<SocketException>(() => session.SendAsync("no"u8.ToArray(), stranger, ct).AsTask())).SocketErrorCode);
    }

    sealed class RecordingUdpForwarder : IUdpForwardEvents
    {
        public List<(UdpForwardSessionState Session, Receiver Receiver)> Sessions { get; } = [];

        public IUdpForwardReceiver OnSession(UdpForwardSessionState session)
        {
            var receiver = new Receiver();
            Sessions.Add((session, receiver));
            return receiver;
        }

        public sealed class Receiver : IUdpForwardReceiver
        {
            public int Datagrams;
            public bool Closed;
            public bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress destination, ushort port) => ++Datagrams > 0;
            public void OnClosed() => Closed = true;
        }
    }

    static byte[] Datagram(Ipv4Address source, ushort sourcePort, Ipv4Address destination, ushort destinationPort = 53) =>
        Frames.Ethernet(Frames.StackMac, Frames.PeerMac, EtherType.Ipv4,
            Frames.Ipv4(source, destination, IpProtocol.Udp, Frames.UdpMessage(source, destination, sourcePort, destinationPort, [1, 2, 3])));

    [Fact(DisplayName = "Issue 23, RFC 4787 REQ-5 and REQ-6 on the engine clock: a session ends 2 minutes after its last datagram either way, and traffic keeps it open")]
    public void IdleSessionsEnd()
    {
        using var h = new EngineHarness(EngineHarness.DefaultOptions() with { Forwarding = new ForwardingSettings() });
        var forwarder = new RecordingUdpForwarder();
        h.Engine.Udp.SetForwarder(forwarder);
        var elsewhere = Ipv4Address.Parse("203.0.113.53");
        h.Inject(Datagram(Frames.PeerIp, 40000, elsewhere));
        var (session, receiver) = Assert.Single(forwarder.Sessions);
        h.Advance(TimeSpan.FromSeconds(100));
        Assert.Equal(SocketError.Success, h.Engine.Udp.SendForwarded(session, elsewhere, 53, [9]));
        h.Advance(TimeSpan.FromSeconds(100));
        Assert.False(receiver.Closed);
        h.Inject(Datagram(Frames.PeerIp, 40000, Ipv4Address.Parse("198.51.100.1")));
        Assert.Single(forwarder.Sessions);
        Assert.Equal(2, receiver.Datagrams);
        h.Advance(TimeSpan.FromSeconds(119));
        Assert.False(receiver.Closed);
        h.Advance(TimeSpan.FromSeconds(1));
        Assert.True(receiver.Closed);
        Assert.Equal(0, h.Engine.Udp.ForwardSessionCount);
        Assert.Equal(SocketError.NotConnected, h.Engine.Udp.SendForwarded(session, elsewhere, 53, [9]));
    }

    [Fact(DisplayName = "Issue 23 flood of new UDP flows (a scan from many ports): sessions stay at their bound, the one idle longest makes room, and an active session survives")]
    public void SessionsAreBounded()
    {
        using var h = new EngineHarness(EngineHarness.DefaultOptions() with { Forwarding = new ForwardingSettings { MaxUdpSessions = 10 } });
        var forwarder = new RecordingUdpForwarder();
        h.Engine.Udp.SetForwarder(forwarder);
        var elsewhere = Ipv4Address.Parse("203.0.113.53");
        h.Inject(Datagram(Frames.PeerIp, 50000, elsewhere));
        for (int i = 0; i < 30; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(10));
            // The first client keeps talking; the scan's ports each send once.
            h.Inject(Datagram(Frames.PeerIp, 50000, elsewhere));
            h.Inject(Datagram(Frames.PeerIp, (ushort)(40000 + i), elsewhere));
        }
        Assert.Equal(10, h.Engine.Udp.ForwardSessionCount);
        Assert.Equal(21, h.Count(StackCounter.UdpForwardSessionsEvicted));
        Assert.False(forwarder.Sessions[0].Receiver.Closed);
        Assert.Equal(31, forwarder.Sessions[0].Receiver.Datagrams);
    }

    [Fact(DisplayName = "Issue 23 UDP flood from one source (a port scan): at its share it ends its own sessions, not other clients' (an idle one from another source survives), and its active session gets a second chance")]
    public void OneSourceCannotTakeOthersSessions()
    {
        using var h = new EngineHarness(EngineHarness.DefaultOptions() with
        {
            Forwarding = new ForwardingSettings { MaxUdpSessions = 100, MaxUdpSessionsPerSource = 5 },
        });
        var forwarder = new RecordingUdpForwarder();
        h.Engine.Udp.SetForwarder(forwarder);
        var elsewhere = Ipv4Address.Parse("203.0.113.53");
        var other = Ipv4Address.Parse("192.168.0.77");
        h.Inject(Datagram(other, 6000, elsewhere));
        h.Inject(Datagram(Frames.PeerIp, 50000, elsewhere));
        for (int i = 0; i < 30; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(10));
            h.Inject(Datagram(Frames.PeerIp, 50000, elsewhere));
            h.Inject(Datagram(Frames.PeerIp, (ushort)(40000 + i), elsewhere));
        }
        Assert.Equal(6, h.Engine.Udp.ForwardSessionCount);
        Assert.Equal(26, h.Count(StackCounter.UdpForwardSessionsEvicted));
        Assert.False(forwarder.Sessions[0].Receiver.Closed);
        Assert.False(forwarder.Sessions[1].Receiver.Closed);
        Assert.Equal(31, forwarder.Sessions[1].Receiver.Datagrams);
    }
}
