using Wirestack.Devices;
using Wirestack.Engine;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>The virtio-net header (virtio 1.x 5.1.6) and what the engine makes of offloaded frames.</summary>
public sealed class OffloadTests
{
    [Fact(DisplayName = "virtio 5.1.6: every header field is read and written in host (little-endian) order, the ECN bit apart from the GSO type")]
    public void HeaderRoundTrip()
    {
        var header = new VirtioNetHeader(VirtioNetHeader.NeedsChecksum, GsoType.TcpV6, Ecn: true, HeaderLength: 74, GsoSize: 1428, ChecksumStart: 54, ChecksumOffset: 16);
        var bytes = new byte[VirtioNetHeader.Length];
        header.Write(bytes);
        Assert.Equal(new byte[] { 1, 0x84, 74, 0, 0x94, 0x05, 54, 0, 16, 0 }, bytes);
        Assert.Equal(header, VirtioNetHeader.Read(bytes));
        Assert.True(header.ChecksumVouched);
        Assert.False(default(VirtioNetHeader).ChecksumVouched);
        Assert.True((default(VirtioNetHeader) with { Flags = VirtioNetHeader.DataValid }).ChecksumVouched);
    }

    [Theory(DisplayName = "virtio 5.1.6 hostile headers: a GSO size of 0, a segmentation never offered (UDP), a checksum place or header length past the frame are refused")]
    [InlineData(1, 0, 0, 0, 0, 1)]
    [InlineData(3, 1400, 0, 0, 0, 1)]
    [InlineData(5, 1400, 0, 0, 0, 1)]
    [InlineData(2, 1400, 0, 0, 0, 1)]
    [InlineData(0, 0, 1000, 16, 0, 2)]
    [InlineData(0, 0, 981, 18, 0, 2)]
    [InlineData(0, 0, 0, 0, 1001, 3)]
    [InlineData(1, 1448, 34, 16, 66, 0)]
    [InlineData(0, 0, 980, 16, 0, 0)]
    public void HostileHeaders(int gso, int gsoSize, int checksumStart, int checksumOffset, int headerLength, int expected)
    {
        var header = new VirtioNetHeader(checksumStart > 0 ? VirtioNetHeader.NeedsChecksum : (byte)0, (GsoType)gso, false, (ushort)headerLength, (ushort)gsoSize,
            (ushort)checksumStart, (ushort)checksumOffset);
        Assert.Equal((VirtioNetHeaderCheck)expected, header.Check(frameLength: 1000));
    }

    [Fact(DisplayName = "Offloads: a datagram whose checksum the host left partial (NEEDS_CSUM) is delivered; without the flag the same bytes are a bad checksum")]
    public void PartialChecksumIsVouched()
    {
        using var h = new OffloadHarness();
        var receiver = new RecordingReceiver();
        h.Engine.Udp.Bind(53, receiver);
        var udp = Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 40000, 53, [1, 2, 3]);
        udp[6] ^= 0x5A; // what a partial checksum looks like to a full check: wrong
        h.Inject(Frames.ToStack(IpProtocol.Udp, udp), default);
        Assert.Equal(1, h.Count(StackCounter.DropUdpBadChecksum));
        h.Inject(Frames.ToStack(IpProtocol.Udp, udp), new VirtioNetHeader(VirtioNetHeader.NeedsChecksum, GsoType.None, false, 0, 0, 34, 6));
        Assert.Single(receiver.Datagrams);
    }

    [Fact(DisplayName = "Offloads: a header that does not fit its frame (GSO size 0) and a frame longer than any segment the kernel hands over are counted and dropped")]
    public void InvalidOffloadsAreDropped()
    {
        using var h = new OffloadHarness();
        var receiver = new RecordingReceiver();
        h.Engine.Udp.Bind(53, receiver);
        var frame = Frames.ToStack(IpProtocol.Udp, Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 40000, 53, [1, 2, 3]));
        h.Inject(frame, new VirtioNetHeader(0, GsoType.TcpV4, false, 0, 0, 0, 0));
        var tooLong = new byte[70000];
        frame.CopyTo(tooLong, 0);
        h.Inject(tooLong, default);
        Assert.Equal(2, h.Count(StackCounter.DropOffloadInvalid));
        Assert.Empty(receiver.Datagrams);
    }

    [Fact(DisplayName = "Offloads: a vouched-for checksum covers one frame, not a datagram reassembled from fragments (RFC 791 checks the whole)")]
    public void FragmentsAreCheckedWhole()
    {
        using var h = new OffloadHarness();
        var receiver = new RecordingReceiver();
        h.Engine.Udp.Bind(53, receiver);
        var udp = Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 40000, 53, Frames.RandomBytes(100, 3));
        udp[^1] ^= 0x40;
        foreach (var fragment in Frames.Fragments(IpProtocol.Udp, udp, 56, identification: 9))
            h.Inject(fragment, new VirtioNetHeader(VirtioNetHeader.DataValid, GsoType.None, false, 0, 0, 0, 0));
        Assert.Equal(1, h.Count(StackCounter.DropUdpBadChecksum));
        Assert.Empty(receiver.Datagrams);
    }

    [Fact(DisplayName = "Offloads: a super-frame is counted as coalesced, and an engine on a device without offloads keeps MTU-sized buffers")]
    public void SuperFramesAreCounted()
    {
        using var h = new OffloadHarness();
        var receiver = new RecordingReceiver();
        h.Engine.Udp.Bind(53, receiver);
        var frame = Frames.ToStack(IpProtocol.Udp, Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 40000, 53, Frames.RandomBytes(30000, 4)));
        h.Inject(frame, new VirtioNetHeader(VirtioNetHeader.DataValid, GsoType.TcpV4, false, 42, 1448, 0, 0));
        Assert.Equal(1, h.Count(StackCounter.GsoFramesReceived));
        Assert.Equal(30000, Assert.Single(receiver.Datagrams).Payload.Length);

        using var plain = new EngineHarness();
        var plainReceiver = new RecordingReceiver();
        plain.Engine.Udp.Bind(53, plainReceiver);
        plain.Inject(frame);
        Assert.Empty(plainReceiver.Datagrams);
    }

    /// <summary>An engine on a device that reports a virtio-net header for each frame, as an offloading TAP does.</summary>
    sealed class OffloadHarness : IDisposable
    {
        readonly OffloadingDevice _device;

        public OffloadHarness()
        {
            var (stackSide, peerSide) = InMemoryLink.CreatePair();
            _device = new OffloadingDevice(stackSide);
            PeerSide = peerSide;
            Engine = new NetworkEngine(_device, EngineHarness.DefaultOptions());
            Engine.Poll(0);
            Inject(Frames.Arp(ArpOperation.Request, Frames.PeerMac, Frames.PeerIp, MacAddress.Zero, Frames.StackIp), default);
        }

        public InMemoryDevice PeerSide { get; }
        public NetworkEngine Engine { get; }

        public long Count(StackCounter counter) => Engine.Counters[counter];

        public void Inject(byte[] frame, VirtioNetHeader header)
        {
            _device.Headers.Enqueue(header);
            Assert.True(PeerSide.TrySend(frame, 0));
            Engine.Poll(0);
        }

        public void Dispose()
        {
            _device.Dispose();
            PeerSide.Dispose();
        }
    }

    sealed class OffloadingDevice(InMemoryDevice inner) : INetworkDevice, IReceiveOffloads
    {
        public Queue<VirtioNetHeader> Headers { get; } = new();
        public VirtioNetHeader LastHeader { get; private set; }
        public int MaxReceiveLength => 65536 + 18 + 1;
        IReceiveOffloads? INetworkDevice.ReceiveOffloads => this;
        public LinkMedium Medium => inner.Medium;
        public int Mtu => inner.Mtu;
        public bool IsLinkUp => inner.IsLinkUp;

        public bool EnableReceiveOffloads() => true;

        public bool TryReceive(Span<byte> buffer, long nowMicroseconds, out int length)
        {
            if (!inner.TryReceive(buffer, nowMicroseconds, out length))
                return false;
            LastHeader = Headers.Count > 0 ? Headers.Dequeue() : default;
            return true;
        }

        public bool TrySend(ReadOnlySpan<byte> frame, long nowMicroseconds) => inner.TrySend(frame, nowMicroseconds);

        public void WaitForFrames(int timeoutMilliseconds, DeviceWakeup wakeup) => inner.WaitForFrames(timeoutMilliseconds, wakeup);

        public void Dispose() => inner.Dispose();
    }
}
