using System.Net;
using System.Net.Sockets;
using Wirestack.Devices;
using Wirestack.Engine;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>Collects what the engine hands a bound UDP port.</summary>
internal sealed class RecordingReceiver(int capacity = int.MaxValue) : IUdpReceiver
{
    public List<(byte[] Payload, IpAddress From, ushort FromPort)> Datagrams { get; } = [];
    public List<(SocketError Error, IpAddress Remote, ushort RemotePort)> Errors { get; } = [];

    public bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress remoteAddress, ushort remotePort, IpAddress localAddress)
    {
        if (Datagrams.Count >= capacity)
            return false;
        Datagrams.Add((payload.ToArray(), remoteAddress, remotePort));
        return true;
    }

    public void DeliverError(SocketError error, IpAddress remoteAddress, ushort remotePort) => Errors.Add((error, remoteAddress, remotePort));
}

/// <summary>One engine on an in-memory link whose far end the test drives frame by frame, on a virtual clock.</summary>
internal sealed class EngineHarness : IDisposable
{
    /// <param name="offloads">
    /// The stack's end takes and sends offloaded frames as a TAP with the virtio-net header does; the peer's end
    /// (read by the test) does not, so what the stack leaves to the device arrives finished, as from a host's NIC.
    /// </param>
    public EngineHarness(StackOptions? options = null, int mtu = 1500, bool learnPeer = true, bool discardStartup = true, bool offloads = false)
    {
        (StackSide, PeerSide) = InMemoryLink.CreatePair(mtu, LinkMedium.Ethernet, 4096, offloads);
        Engine = new NetworkEngine(StackSide, options ?? DefaultOptions());
        // Bring the link up and configured, then discard the announcement.
        Engine.Poll(Now);
        if (discardStartup)
            Drain();
        if (learnPeer)
        {
            Inject(Frames.Arp(ArpOperation.Request, Frames.PeerMac, Frames.PeerIp, MacAddress.Zero, Frames.StackIp));
            Drain();
        }
    }

    // Scripted IPv4 tests expect exactly the frames they provoke, so IPv6 (router solicitations, DAD, MLD) is off
    // unless a test turns it on.
    public static StackOptions DefaultOptions() => new()
    {
        Ipv4 = Ipv4Settings.Static("192.168.0.2/24"),
        Ipv6 = Ipv6Settings.Disabled(),
        RandomSeed = 7,
    };

    public InMemoryDevice StackSide { get; }
    public InMemoryDevice PeerSide { get; }
    public NetworkEngine Engine { get; }
    public long Now { get; private set; }

    public long Count(StackCounter counter) => Engine.Counters[counter];

    bool _holding;

    /// <summary>Delivers a frame to the engine and polls it (inside <see cref="Burst"/>, leaves it waiting at the device).</summary>
    public void Inject(byte[] frame)
    {
        Assert.True(PeerSide.TrySend(frame, Now));
        if (!_holding)
            Engine.Poll(Now);
    }

    /// <summary>The frames <paramref name="send"/> injects wait at the device and are taken in by one poll, as a burst is.</summary>
    public void Burst(Action send)
    {
        _holding = true;
        try
        {
            send();
        }
        finally
        {
            _holding = false;
        }
        Engine.Poll(Now);
    }

    public void Advance(TimeSpan by)
    {
        Now += by.Ticks / TimeSpan.TicksPerMicrosecond;
        Engine.Poll(Now);
    }

    /// <summary>
    /// Answer ARP requests for the peer's address, as the peer would (on by default, so reachability probes after the
    /// reachable time do not break tests about other things); answered requests are not returned by <see cref="Drain"/>.
    /// </summary>
    public bool AnswerArpForPeer { get; set; } = true;

    /// <summary>The frames the engine sent since the last call.</summary>
    public List<byte[]> Drain()
    {
        var frames = new List<byte[]>();
        var buffer = new byte[70000];
        while (PeerSide.TryReceive(buffer, Now, out int length))
        {
            if (AnswerArpForPeer && EthernetFrame.TryParse(buffer.AsSpan(0, length), out var eth) && eth.EtherType == EtherType.Arp
                && ArpPacket.TryParse(eth.Payload, out var arp) && arp.Operation == ArpOperation.Request && arp.TargetProtocolAddress == Frames.PeerIp
                && arp.SenderProtocolAddress != arp.TargetProtocolAddress)
            {
                Inject(Frames.Arp(ArpOperation.Reply, Frames.PeerMac, Frames.PeerIp, arp.SenderHardwareAddress, arp.SenderProtocolAddress, to: arp.SenderHardwareAddress));
                continue;
            }
            frames.Add(buffer[..length]);
        }
        return frames;
    }

    public void Dispose()
    {
        StackSide.Dispose();
        PeerSide.Dispose();
    }
}

/// <summary>Two engines joined by an in-memory link (optionally impaired), driven on one virtual clock.</summary>
internal sealed class TwoEngines : IDisposable
{
    readonly INetworkDevice _a, _b;

    /// <param name="offloads">
    /// Both ends send offloaded frames (partial checksums, 64 KiB TCP segments); an end that is not impaired takes
    /// them whole, an impaired one gets them finished and cut to the MSS first, as from a host's NIC.
    /// </param>
    /// <param name="decorateA">Wraps A's end of the link (after any impairment), as a pcap writer would.</param>
    public TwoEngines(ImpairmentOptions? impairAtoB = null, ImpairmentOptions? impairBtoA = null, int mtu = 1500, TcpSettings? tcp = null,
        StackOptions? optionsA = null, StackOptions? optionsB = null, bool offloads = false, Func<INetworkDevice, INetworkDevice>? decorateA = null)
    {
        tcp ??= new TcpSettings();
        var (a, b) = InMemoryLink.CreatePair(mtu, LinkMedium.Ethernet, 4096, offloads);
        _a = impairBtoA is null ? a : new ImpairedDevice(a, impairBtoA);
        if (decorateA is not null)
            _a = decorateA(_a);
        _b = impairAtoB is null ? b : new ImpairedDevice(b, impairAtoB);
        A = new NetworkEngine(_a, optionsA ?? new StackOptions { Ipv4 = Ipv4Settings.Static("10.0.0.1/24"), MacAddress = MacAddress.Parse("02:00:00:00:0a:01"), RandomSeed = 1, Tcp = tcp });
        B = new NetworkEngine(_b, optionsB ?? new StackOptions { Ipv4 = Ipv4Settings.Static("10.0.0.2/24"), MacAddress = MacAddress.Parse("02:00:00:00:0a:02"), RandomSeed = 2, Tcp = tcp });
    }

    public static readonly Ipv4Address AddressA = Ipv4Address.Parse("10.0.0.1");
    public static readonly Ipv4Address AddressB = Ipv4Address.Parse("10.0.0.2");

    public NetworkEngine A { get; }
    public NetworkEngine B { get; }
    public long Now { get; private set; }

    /// <summary>Polls both engines, advancing the clock to the next deadline (at most <paramref name="step"/>), until <paramref name="done"/> or the limit.</summary>
    public bool RunUntil(Func<bool> done, TimeSpan limit, long stepMicroseconds = 1000)
    {
        long end = Now + limit.Ticks / TimeSpan.TicksPerMicrosecond;
        while (Now <= end)
        {
            A.Poll(Now);
            B.Poll(Now);
            if (done())
                return true;
            long next = Now + stepMicroseconds;
            if (A.NextDeadlineMicroseconds is { } da && da > Now)
                next = Math.Min(next, da);
            if (B.NextDeadlineMicroseconds is { } db && db > Now)
                next = Math.Min(next, db);
            Now = Math.Max(next, Now + 1);
        }
        return done();
    }

    public void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
    }
}

internal static class EndPoints
{
    public static IPEndPoint Of(Ipv4Address address, int port) => new(address.ToIPAddress(), port);
}
