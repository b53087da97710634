using System.Net;
using Wirestack.Devices;
using Wirestack.Engine;
using Wirestack.Wire;
using static Wirestack.Tests.Ipv6Frames;

namespace Wirestack.Tests;

public sealed class EchoForwardingTests
{
    static readonly Ipv4Address Elsewhere = Ipv4Address.Parse("198.51.100.7");
    static readonly IpAddress ElsewhereV6 = IpAddress.Parse("2001:db8:99::5");

    sealed class RecordingEchoForwarder(int capacity = int.MaxValue) : IEchoForwardEvents
    {
        public List<EchoForwardPending> Requests { get; } = [];

        public bool HasRoom => Requests.Count < capacity;

        public bool OnRequest(EchoForwardPending request)
        {
            if (Requests.Count >= capacity)
                return false;
            Requests.Add(request);
            return true;
        }
    }

    static byte[] EchoTo(Ipv4Address destination, ushort identifier, ushort sequence, byte[] data) =>
        Frames.Ethernet(Frames.StackMac, Frames.PeerMac, EtherType.Ipv4,
            Frames.Ipv4(Frames.PeerIp, destination, IpProtocol.Icmp, Frames.EchoRequestMessage(identifier, sequence, data)));

    static EngineHarness Ipv4Engine(out RecordingEchoForwarder forwarder, int capacity = int.MaxValue)
    {
        var h = new EngineHarness(EngineHarness.DefaultOptions() with { Forwarding = new ForwardingSettings() });
        forwarder = new RecordingEchoForwarder(capacity);
        h.Engine.SetEchoForwarder(forwarder);
        return h;
    }

    static EngineHarness Ipv6Engine(out RecordingEchoForwarder forwarder)
    {
        var h = new EngineHarness(Options() with { Forwarding = new ForwardingSettings() });
        h.Step(TimeSpan.FromSeconds(3));
        var ours = LinkLocal(h);
        h.Inject(NeighborSolicitation(ours, PeerLinkLocal, ours.SolicitedNode, Frames.PeerMac));
        h.Drain();
        forwarder = new RecordingEchoForwarder();
        h.Engine.SetEchoForwarder(forwarder);
        return h;
    }

    [Fact(DisplayName = "Issue 23, RFC 792: an echo request to any address reaches the echo forwarder whole; the reply comes from the original destination with its identifier, sequence number and data")]
    public void Ipv4EchoIsForwardedAndAnsweredAsTheDestination()
    {
        using var h = Ipv4Engine(out var forwarder);
        var data = Frames.RandomBytes(56, 4);
        h.Inject(EchoTo(Elsewhere, 0x4242, 7, data));
        Assert.Empty(h.Drain());
        var request = Assert.Single(forwarder.Requests);
        Assert.Equal((Frames.PeerIp, Elsewhere), (request.Source.Ipv4, request.Destination.Ipv4));
        Assert.Equal(1, h.Count(StackCounter.EchoForwardRequests));

        h.Engine.ReplyToForwardedEcho(request);
        Assert.True(EthernetFrame.TryParse(Assert.Single(h.Drain()), out var eth));
        Assert.True(Ipv4Packet.TryParse(eth.Payload, out var ip));
        Assert.Equal((Elsewhere, Frames.PeerIp, IpProtocol.Icmp), (ip.Source, ip.Destination, ip.Protocol));
        Assert.True(Icmpv4Message.TryParse(ip.Payload, out var reply));
        Assert.True(reply.IsChecksumValid);
        Assert.Equal((Icmpv4Type.EchoReply, (ushort)0x4242, (ushort)7), (reply.Type, reply.Identifier, reply.SequenceNumber));
        Assert.Equal(data, reply.Payload.ToArray());
    }

    [Fact(DisplayName = "Issue 23, RFC 792 and RFC 1812 4.3.2.3: an echo the upstream could not reach is answered with a destination unreachable from the original destination, quoting the request")]
    public void Ipv4EchoUnreachableQuotesTheRequest()
    {
        using var h = Ipv4Engine(out var forwarder);
        h.Inject(EchoTo(Elsewhere, 0x4242, 8, [1, 2, 3, 4]));
        h.Engine.UnreachableForwardedEcho(forwarder.Requests[0], ForwardUnreachable.Host);
        Assert.True(EthernetFrame.TryParse(Assert.Single(h.Drain()), out var eth));
        Assert.True(Ipv4Packet.TryParse(eth.Payload, out var ip));
        Assert.Equal((Elsewhere, Frames.PeerIp), (ip.Source, ip.Destination));
        Assert.True(Icmpv4Message.TryParse(ip.Payload, out var error));
        Assert.Equal((Icmpv4Type.DestinationUnreachable, UnreachableCode.Host), (error.Type, error.Code));
        Assert.True(QuotedPacket.TryParse(error.Payload, out var quoted));
        Assert.Equal((Frames.PeerIp, Elsewhere, IpProtocol.Icmp), (quoted.Source.Ipv4, quoted.Destination.Ipv4, quoted.Protocol));
        Assert.Equal((byte)Icmpv4Type.EchoRequest, quoted.Payload[0]);
        Assert.Equal(8, quoted.Payload[7]);
    }

    [Fact(DisplayName = "Issue 23, RFC 4443 4.1 and 4.2: an ICMPv6 echo request to any address is forwarded, and the reply from the original destination carries its body with a valid checksum")]
    public void Ipv6EchoIsForwardedAndAnsweredAsTheDestination()
    {
        using var h = Ipv6Engine(out var forwarder);
        byte[] body = [0x12, 0x34, 0x00, 0x09, .. Frames.RandomBytes(32, 5)];
        h.Inject(IcmpPacket(Icmpv6Type.EchoRequest, 0, body, PeerLinkLocal, ElsewhereV6, hopLimit: 64));
        var request = Assert.Single(forwarder.Requests);
        Assert.Equal((PeerLinkLocal, ElsewhereV6), (request.Source, request.Destination));

        h.Engine.ReplyToForwardedEcho(request);
        var reply = Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.EchoReply));
        Assert.Equal((ElsewhereV6, PeerLinkLocal), (reply.Source, reply.Destination));
        Assert.Equal(body, reply.IcmpBody);
        Assert.Equal(0, Checksum.Compute(reply.Payload, Checksum.PseudoHeaderSum(reply.Source, reply.Destination, IpProtocol.Icmpv6, reply.Payload.Length)));

        h.Inject(IcmpPacket(Icmpv6Type.EchoRequest, 0, body, PeerLinkLocal, ElsewhereV6, hopLimit: 64));
        h.Engine.UnreachableForwardedEcho(forwarder.Requests[1], ForwardUnreachable.Prohibited);
        // An echo request too short for its identifier and sequence number is not offered.
        h.Inject(IcmpPacket(Icmpv6Type.EchoRequest, 0, [], PeerLinkLocal, ElsewhereV6, hopLimit: 64));
        Assert.Equal(2, forwarder.Requests.Count);
        var error = Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.DestinationUnreachable));
        Assert.Equal((ElsewhereV6, PeerLinkLocal, Icmpv6Code.AdministrativelyProhibited), (error.Source, error.Destination, error.IcmpCode));
    }

    [Fact(DisplayName = "Issue 23: without an echo forwarder a ping to another address is dropped as not for us; with one, a ping to our own address is still answered by us, and other ICMP to other addresses is not forwarded")]
    public void OnlyForeignEchoRequestsAreForwarded()
    {
        using var h = new EngineHarness(EngineHarness.DefaultOptions() with { Forwarding = new ForwardingSettings() });
        h.Inject(EchoTo(Elsewhere, 1, 1, [1]));
        Assert.Empty(h.Drain());
        Assert.Equal(1, h.Count(StackCounter.DropIpv4NotForUs));

        var forwarder = new RecordingEchoForwarder();
        h.Engine.SetEchoForwarder(forwarder);
        h.Inject(Frames.ToStack(IpProtocol.Icmp, Frames.EchoRequestMessage(1, 2, [1])));
        Assert.Single(h.Drain());
        Assert.Empty(forwarder.Requests);

        var timestamp = new byte[20];
        Icmpv4Message.WriteHeader(timestamp, (Icmpv4Type)13, 0, 0);
        h.Inject(Frames.Ethernet(Frames.StackMac, Frames.PeerMac, EtherType.Ipv4, Frames.Ipv4(Frames.PeerIp, Elsewhere, IpProtocol.Icmp, timestamp)));
        Assert.Empty(forwarder.Requests);
        Assert.Equal(2, h.Count(StackCounter.DropIpv4NotForUs));
        Assert.Throws<InvalidOperationException>(() => h.Engine.SetEchoForwarder(new RecordingEchoForwarder()));
    }

    [Fact(DisplayName = "Issue 23 ping flood to random destinations: requests past what the application may have waiting are dropped and counted, and the engine holds nothing for them")]
    public void PingFloodIsBoundedByTheApplicationQueue()
    {
        using var h = Ipv4Engine(out var forwarder, capacity: 4);
        for (int i = 0; i < 50; i++)
            h.Inject(EchoTo(new Ipv4Address(0xC633_6400u + (uint)i), 1, (ushort)i, new byte[64]));
        Assert.Equal(4, forwarder.Requests.Count);
        Assert.Equal(4, h.Count(StackCounter.EchoForwardRequests));
        Assert.Equal(46, h.Count(StackCounter.DropEchoForwardQueueFull));
        Assert.Empty(h.Drain());
    }

    [Fact(DisplayName = "Issue 23: the public echo forwarder gives each request's addresses, identifier, sequence number and data, takes one answer only, and queues at most MaxPendingEchoRequests")]
    public async Task PublicForwarderQueuesBoundedRequests()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var (peer, device) = InMemoryLink.CreatePair();
        using var _ = peer;
        await using var stack = await NetworkStack.StartAsync(device, new StackOptions
        {
            Ipv4 = Ipv4Settings.Static("192.168.0.2/24"),
            Ipv6 = Ipv6Settings.Disabled(),
            MacAddress = Frames.StackMac,
            Forwarding = new ForwardingSettings { MaxPendingEchoRequests = 3 },
        }, cancellationToken);
        await stack.WaitUntilReadyAsync(cancellationToken);
        await using var forwarder = await stack.ForwardEchoAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(stack.ForwardEchoAsync);
        for (int i = 0; i < 5; i++)
            Assert.True(peer.TrySend(EchoTo(Elsewhere, 0x0102, (ushort)(10 + i), [9, 8, 7]), 0));
        while (stack.GetCounter(StackCounter.EchoForwardRequests) + stack.GetCounter(StackCounter.DropEchoForwardQueueFull) < 5)
            await Task.Delay(10, cancellationToken);
        var request = await forwarder.AcceptAsync(cancellationToken);
        Assert.Equal((IPAddress.Parse("192.168.0.1"), IPAddress.Parse("198.51.100.7")), (request.Source, request.Destination));
        Assert.Equal(((ushort)0x0102, (ushort)10), (request.Identifier, request.SequenceNumber));
        Assert.Equal([9, 8, 7], request.Data.ToArray());
        request.Drop();
        Assert.Throws<InvalidOperationException>(request.Reply);
        await forwarder.AcceptAsync(cancellationToken);
        await forwarder.AcceptAsync(cancellationToken);
        Assert.Equal(3, stack.GetCounter(StackCounter.EchoForwardRequests));
        Assert.Equal(2, stack.GetCounter(StackCounter.DropEchoForwardQueueFull));
    }
}
