using System.Net;
using System.Net.Sockets;
using Wirestack.Devices;
using Wirestack.Engine;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>
/// Forwarding (issue 23): a client stack whose gateway is a forwarding stack reaches any address through it, and the
/// forwarder's application decides each flow before its handshake completes.
/// </summary>
public sealed class ForwardingTests
{
    [Theory(DisplayName = "Issue 23: a flow to any address is offered before its handshake completes; accepted, the connection's local end is the original destination and data crosses both ways")]
    [InlineData("203.0.113.7")]
    [InlineData("2001:db8::7")]
    public async Task AcceptedFlowCarriesData(string destination)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var tunnel = await ForwardingTunnel.StartAsync("10.23.1", null, ct);
        await using var forwarder = await tunnel.Forwarder.ForwardTcpAsync();
        var target = new IPEndPoint(IPAddress.Parse(destination), 443);
        var connecting = tunnel.Client.ConnectTcpAsync(target, ct);
        var request = await forwarder.AcceptAsync(ct);
        Assert.Equal(target, request.Destination);
        Assert.Equal(target.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Parse("10.23.1.1") : IPAddress.Parse("fd00:23::1"), request.Source.Address);
        // Nothing answers the client until the application decides (it may connect upstream first).
        await Task.Delay(200, ct);
        Assert.False(connecting.IsCompleted);

        await using var server = await request.AcceptAsync(ct);
        await using var client = await connecting;
        Assert.Equal(target, server.LocalEndPoint);
        Assert.Equal(client.LocalEndPoint, server.RemoteEndPoint);
        await client.WriteAsync("ping"u8.ToArray(), ct);
        var buffer = new byte[4];
        await server.ReadExactlyAsync(buffer, ct);
        Assert.Equal("ping"u8.ToArray(), buffer);
        await server.WriteAsync("pong"u8.ToArray(), ct);
        await client.ReadExactlyAsync(buffer, ct);
        Assert.Equal("pong"u8.ToArray(), buffer);
        Assert.Throws<InvalidOperationException>(request.Refuse);
    }

    [Fact(DisplayName = "Issue 23: a refused flow is 'connection refused' at the client (RST, RFC 9293 3.10.7.1), and so is one answered port-unreachable (RFC 1122 4.2.3.9)")]
    public async Task RefusedFlows()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var tunnel = await ForwardingTunnel.StartAsync("10.23.2", null, ct);
        await using var forwarder = await tunnel.Forwarder.ForwardTcpAsync();
        var refused = tunnel.Client.ConnectTcpAsync(new IPEndPoint(IPAddress.Parse("198.51.100.1"), 80), ct);
        (await forwarder.AcceptAsync(ct)).Refuse();
        Assert.Equal(SocketError.ConnectionRefused, (await Assert.ThrowsAsync<SocketException>(() => refused)).SocketErrorCode);
        var unreachable = tunnel.Client.ConnectTcpAsync(new IPEndPoint(IPAddress.Parse("2001:db8::80"), 80), ct);
        (await forwarder.AcceptAsync(ct)).Unreachable(ForwardUnreachable.Port);
        Assert.Equal(SocketError.ConnectionRefused, (await Assert.ThrowsAsync<SocketException>(() => unreachable)).SocketErrorCode);
    }

    [Fact(DisplayName = "Issue 23: a dropped SYN is as if lost: the client's retransmission is a new request; one left undecided past the decision timeout is dropped and counted, and accepting it then fails with TimedOut")]
    public async Task DroppedAndUndecided()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var tunnel = await ForwardingTunnel.StartAsync("10.23.3", new ForwardingSettings { DecisionTimeout = TimeSpan.FromMilliseconds(300) }, ct);
        await using var forwarder = await tunnel.Forwarder.ForwardTcpAsync();
        var connecting = tunnel.Client.ConnectTcpAsync(new IPEndPoint(IPAddress.Parse("192.0.2.44"), 8080), ct);
        var first = await forwarder.AcceptAsync(ct);
        first.Drop();
        var again = await forwarder.AcceptAsync(ct);
        Assert.Equal(first.Source, again.Source);
        await Task.Delay(600, ct);
        Assert.Equal(SocketError.TimedOut, (await Assert.ThrowsAsync<SocketException>(() => again.AcceptAsync(ct))).SocketErrorCode);
        Assert.True(tunnel.Forwarder.GetCounter(StackCounter.DropTcpForwardUndecided) >= 1);
        // Its next retransmission is offered again, and accepted.
        var third = await forwarder.AcceptAsync(ct);
        await using var server = await third.AcceptAsync(ct);
        await using var client = await connecting;
        Assert.Equal(server.RemoteEndPoint, client.LocalEndPoint);
    }

    [Fact(DisplayName = "Issue 23: forwarding is off unless the options ask for it, and one forwarder at a time")]
    public async Task ForwarderNeedsTheOption()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = await StackPair.StartAsync("10.23.4", ct);
        await Assert.ThrowsAsync<InvalidOperationException>(() => pair.Left.ForwardTcpAsync());
        await using var tunnel = await ForwardingTunnel.StartAsync("10.23.5", null, ct);
        await using var forwarder = await tunnel.Forwarder.ForwardTcpAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(() => tunnel.Forwarder.ForwardTcpAsync());
    }

    /// <summary>Records what the TCP layer offers, for the engine-level tests.</summary>
    sealed class RecordingForwarder : ITcpForwardEvents
    {
        public List<TcpForwardPending> Requests { get; } = [];
        public void OnRequest(TcpForwardPending request) => Requests.Add(request);
    }

    static EngineHarness ForwardingEngine(ForwardingSettings settings, out RecordingForwarder forwarder)
    {
        var h = new EngineHarness(EngineHarness.DefaultOptions() with { Forwarding = settings });
        forwarder = new RecordingForwarder();
        h.Engine.Tcp.SetForwarder(forwarder);
        return h;
    }

    static byte[] Syn(Ipv4Address source, Ipv4Address destination, ushort sourcePort, ushort destinationPort = 80)
    {
        var segment = new byte[TcpSegment.MinimumHeaderLength];
        new TcpHeader(sourcePort, destinationPort, 1000, 0, TcpFlags.Syn, 65535).Write(segment, TcpOptions.None, 0, source, destination);
        return Frames.Ethernet(Frames.StackMac, Frames.PeerMac, EtherType.Ipv4, Frames.Ipv4(source, destination, IpProtocol.Tcp, segment));
    }

    [Fact(DisplayName = "Issue 23 SYN flood to random destinations: handshakes waiting for a decision are bounded per source and in all (drops counted), and all are given back at the decision timeout")]
    public void PendingHandshakesAreBounded()
    {
        using var h = ForwardingEngine(new ForwardingSettings { MaxPendingConnections = 150, MaxPendingPerSource = 100, DecisionTimeout = TimeSpan.FromSeconds(5) }, out var forwarder);
        var random = new Random(23);
        for (int i = 0; i < 300; i++)
            h.Inject(Syn(Frames.PeerIp, new Ipv4Address((uint)random.Next(0x0B00_0000, 0x7F00_0000)), (ushort)(1024 + i)));
        Assert.Equal(100, h.Engine.Tcp.PendingForwardCount);
        var other = Ipv4Address.Parse("192.168.0.9");
        for (int i = 0; i < 100; i++)
            h.Inject(Syn(other, new Ipv4Address((uint)random.Next(0x0B00_0000, 0x7F00_0000)), (ushort)(1024 + i)));
        Assert.Equal(150, h.Engine.Tcp.PendingForwardCount);
        Assert.Equal(150, forwarder.Requests.Count);
        Assert.Equal(250, h.Count(StackCounter.DropTcpForwardPendingFull));
        Assert.Empty(h.Drain());
        h.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(0, h.Engine.Tcp.PendingForwardCount);
        Assert.Equal(150, h.Count(StackCounter.DropTcpForwardUndecided));
        // A retransmitted SYN while one waits is not offered twice.
        h.Inject(Syn(Frames.PeerIp, Ipv4Address.Parse("203.0.113.1"), 5000));
        h.Inject(Syn(Frames.PeerIp, Ipv4Address.Parse("203.0.113.1"), 5000));
        Assert.Equal(151, forwarder.Requests.Count);
        Assert.Equal(1, h.Count(StackCounter.TcpForwardSynRetransmitted));
    }

    [Fact(DisplayName = "Issue 23, RFC 5961 3.2 blind reset: a reset with a guessed 4-tuple but the wrong sequence number leaves a waiting handshake alone; the client's own reset ends it")]
    public void OnlyTheClientsResetEndsAWaitingHandshake()
    {
        using var h = ForwardingEngine(new ForwardingSettings(), out var forwarder);
        var destination = Ipv4Address.Parse("198.51.100.30");
        h.Inject(Syn(Frames.PeerIp, destination, 41000));
        byte[] Reset(uint seq)
        {
            var segment = new byte[TcpSegment.MinimumHeaderLength];
            new TcpHeader(41000, 80, seq, 0, TcpFlags.Rst, 0).Write(segment, TcpOptions.None, 0, Frames.PeerIp, destination);
            return Frames.Ethernet(Frames.StackMac, Frames.PeerMac, EtherType.Ipv4, Frames.Ipv4(Frames.PeerIp, destination, IpProtocol.Tcp, segment));
        }
        h.Inject(Reset(5000));
        Assert.Equal(1, h.Engine.Tcp.PendingForwardCount);
        h.Inject(Reset(1001));
        Assert.Equal(0, h.Engine.Tcp.PendingForwardCount);
        Assert.False(forwarder.Requests[0].IsPending);
    }

    [Fact(DisplayName = "Issue 23, RFC 792 and RFC 9293 3.10.7.1: a refused flow gets RST|ACK and an unreachable one ICMP type 3 with the asked code, both from the original destination, the ICMP error quoting the SYN")]
    public void AnswersComeFromTheOriginalDestination()
    {
        using var h = ForwardingEngine(new ForwardingSettings(), out var forwarder);
        var destination = Ipv4Address.Parse("198.51.100.20");
        h.Inject(Syn(Frames.PeerIp, destination, 40000));
        Assert.True(h.Engine.Tcp.RefuseForwarded(forwarder.Requests[0]));
        Assert.False(h.Engine.Tcp.RefuseForwarded(forwarder.Requests[0]));
        var reset = Assert.Single(h.Drain());
        Assert.True(EthernetFrame.TryParse(reset, out var eth));
        Assert.True(Ipv4Packet.TryParse(eth.Payload, out var ip));
        Assert.True(TcpSegment.TryParse(ip.Payload, out var rst));
        Assert.Equal((destination, Frames.PeerIp), (ip.Source, ip.Destination));
        Assert.Equal((TcpFlags.Rst | TcpFlags.Ack, 1001u, (ushort)80, (ushort)40000), (rst.Flags, rst.AcknowledgmentNumber, rst.SourcePort, rst.DestinationPort));

        h.Inject(Syn(Frames.PeerIp, destination, 40001));
        Assert.True(h.Engine.Tcp.UnreachableForwarded(forwarder.Requests[1], ForwardUnreachable.Prohibited));
        var error = Assert.Single(h.Drain());
        Assert.True(EthernetFrame.TryParse(error, out eth));
        Assert.True(Ipv4Packet.TryParse(eth.Payload, out ip));
        Assert.True(Icmpv4Message.TryParse(ip.Payload, out var icmp));
        Assert.Equal((destination, Frames.PeerIp), (ip.Source, ip.Destination));
        Assert.Equal((Icmpv4Type.DestinationUnreachable, (byte)13), (icmp.Type, icmp.Code));
        Assert.True(QuotedPacket.TryParse(icmp.Payload, out var quoted));
        Assert.True(TcpSegment.TryReadQuoted(quoted.Payload, out ushort port, out _, out uint seq));
        Assert.Equal((Frames.PeerIp, destination, (ushort)40001, 1000u), (quoted.Source.Ipv4, quoted.Destination.Ipv4, port, seq));
    }

    [Fact(DisplayName = "Issue 23: with no forwarder, packets to other addresses are dropped as not for us; with one, only TCP is forwarded: UDP to another address never reaches a local socket on its port")]
    public void OnlyForwardedTcpReachesTheForwarder()
    {
        using var h = new EngineHarness(EngineHarness.DefaultOptions() with { Forwarding = new ForwardingSettings() });
        var elsewhere = Ipv4Address.Parse("203.0.113.9");
        h.Inject(Syn(Frames.PeerIp, elsewhere, 40000));
        Assert.Empty(h.Drain());
        Assert.Equal(1, h.Count(StackCounter.DropIpv4NotForUs));

        h.Engine.Tcp.SetForwarder(new RecordingForwarder());
        var socket = new RecordingReceiver();
        h.Engine.Udp.Bind(53, socket);
        h.Inject(Frames.Ethernet(Frames.StackMac, Frames.PeerMac, EtherType.Ipv4,
            Frames.Ipv4(Frames.PeerIp, elsewhere, IpProtocol.Udp, Frames.UdpMessage(Frames.PeerIp, elsewhere, 5353, 53, [1, 2, 3]))));
        Assert.Empty(socket.Datagrams);
        Assert.Equal(2, h.Count(StackCounter.DropIpv4NotForUs));
        Assert.Empty(h.Drain());
    }
}
