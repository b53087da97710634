using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using Wirestack.Devices;
using Wirestack.Engine;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Benchmarks;

/// <summary>
/// The engine's per-frame path with no device cost: one echo request in, one reply out; one UDP datagram in and
/// delivered; one sent. The allocation column is the point: the steady state must allocate nothing. With
/// <see cref="SendOffloads"/> the device finishes transport checksums (a TAP with the virtio-net header).
/// </summary>
[MemoryDiagnoser]
public class EngineBenchmarks
{
    sealed class ReplayDevice : INetworkDevice, ISendOffloads
    {
        public bool Offloads;
        public byte[] Frame = [];
        public bool Pending;
        public LinkMedium Medium => LinkMedium.Ethernet;
        public int Mtu => 1500;
        public bool IsLinkUp => true;
        public int Sent;

        // The peer answers the engine's ARP requests, as a live one does: without it the engine's neighbour entry for
        // it fails its probes some seconds of engine time into a run, and every reply after that measures the queue
        // for an unresolved neighbour instead of the path to a known one.
        readonly byte[] _arpReply = new byte[42];
        bool _arpReplyPending;

        public bool TryReceive(Span<byte> buffer, long nowMicroseconds, out int length)
        {
            length = 0;
            if (_arpReplyPending)
            {
                _arpReplyPending = false;
                _arpReply.CopyTo(buffer);
                length = _arpReply.Length;
                return true;
            }
            if (!Pending)
                return false;
            Pending = false;
            Frame.CopyTo(buffer);
            length = Frame.Length;
            return true;
        }

        public bool TrySend(ReadOnlySpan<byte> frame, long nowMicroseconds)
        {
            Sent++;
            if (frame.Length >= 42 && BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) == EtherType.Arp
                && ArpPacket.TryParse(frame[14..], out var arp) && arp.Operation == ArpOperation.Request && arp.TargetProtocolAddress == PeerIp)
            {
                EthernetFrame.WriteHeader(_arpReply, Ours, Peer, EtherType.Arp);
                ArpPacket.Write(_arpReply.AsSpan(14), ArpOperation.Reply, Peer, PeerIp, Ours, OurIp);
                _arpReplyPending = true;
            }
            return true;
        }

        public bool EnableSendOffloads() => Offloads;
        ISendOffloads? INetworkDevice.SendOffloads => this;

        public bool TrySend(ReadOnlySpan<byte> frame, in VirtioNetHeader header, long nowMicroseconds) => TrySend(frame, nowMicroseconds);

        public void WaitForFrames(int timeoutMilliseconds, DeviceWakeup wakeup)
        {
        }

        public void Dispose()
        {
        }
    }

    sealed class CountingReceiver : IUdpReceiver
    {
        public int Count;
        public bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress remoteAddress, ushort remotePort, IpAddress localAddress)
        {
            Count++;
            return true;
        }

        public void DeliverError(System.Net.Sockets.SocketError error, IpAddress remoteAddress, ushort remotePort)
        {
        }
    }

    static readonly MacAddress Peer = MacAddress.Parse("02:00:00:00:00:01");
    static readonly MacAddress Ours = MacAddress.Parse("02:00:01:02:03:77");
    static readonly Ipv4Address PeerIp = Ipv4Address.Parse("192.168.0.1");
    static readonly Ipv4Address OurIp = Ipv4Address.Parse("192.168.0.2");

    readonly ReplayDevice _device = new();
    readonly byte[] _payload = new byte[1400];
    NetworkEngine _engine = null!;
    UdpBinding _sender = null!;
    byte[] _echo = [];
    byte[] _udp = [];
    long _now;

    [Params(false, true)]
    public bool SendOffloads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _device.Offloads = SendOffloads;
        _engine = new NetworkEngine(_device, new StackOptions { Ipv4 = Ipv4Settings.Static("192.168.0.2/24"), NeighborReachableTime = TimeSpan.FromDays(1) });
        _engine.Udp.Bind(7, new CountingReceiver());
        _sender = _engine.Udp.Bind(9, new CountingReceiver());
        _device.Frame = new byte[42];
        EthernetFrame.WriteHeader(_device.Frame, Ours, Peer, EtherType.Arp);
        ArpPacket.Write(_device.Frame.AsSpan(14), ArpOperation.Request, Peer, PeerIp, MacAddress.Zero, OurIp);
        _device.Pending = true;
        _engine.Poll(0);

        _echo = Build(IpProtocol.Icmp, 64, (message) => Icmpv4Message.WriteHeader(message, Icmpv4Type.EchoRequest, 0, 0x00010001));
        _udp = Build(IpProtocol.Udp, 64, (datagram) => UdpDatagram.WriteHeader(datagram, 5000, 7, datagram.Length - 8, PeerIp, OurIp));
    }

    static byte[] Build(byte protocol, int payload, SpanAction write)
    {
        int transport = (protocol == IpProtocol.Udp ? 8 : 8) + payload;
        var frame = new byte[14 + 20 + transport];
        EthernetFrame.WriteHeader(frame, Ours, Peer, EtherType.Ipv4);
        new Random(3).NextBytes(frame.AsSpan(42));
        write(frame.AsSpan(34));
        new Ipv4Header(PeerIp, OurIp, protocol, 64, 1).Write(frame.AsSpan(14), 20 + transport);
        return frame;
    }

    delegate void SpanAction(Span<byte> span);

    [Benchmark]
    public int EchoRequestToReply()
    {
        _device.Frame = _echo;
        _device.Pending = true;
        _engine.Poll(++_now);
        return _device.Sent;
    }

    [Benchmark]
    public int UdpDatagramDelivered()
    {
        _device.Frame = _udp;
        _device.Pending = true;
        _engine.Poll(++_now);
        return _device.Sent;
    }

    [Benchmark]
    public System.Net.Sockets.SocketError UdpDatagramSent() => _engine.Udp.Send(_sender, PeerIp, 5000, _payload);
}
