using BenchmarkDotNet.Attributes;
using Wirestack.Devices;
using Wirestack.Engine;
using Wirestack.Transport.Tcp;
using Wirestack.Wire;

namespace Wirestack.Benchmarks;

/// <summary>
/// TCP's per-segment paths inside the engine with no device cost: a full-sized in-order data segment received
/// (checksum, window checks, copy into the receive ring, ACK every second segment) and a full-sized segment sent
/// (copy from the send ring, header, checksum). Allocated bytes per operation must be 0.
/// </summary>
[MemoryDiagnoser]
public class TcpBenchmarks
{
    sealed class ScriptDevice : INetworkDevice
    {
        public readonly Queue<byte[]> Inbound = new();
        public int Sent;
        public byte[] LastSent = new byte[2048];
        public LinkMedium Medium => LinkMedium.Ethernet;
        public int Mtu => 1500;
        public bool IsLinkUp => true;

        public bool TryReceive(Span<byte> buffer, long nowMicroseconds, out int length)
        {
            length = 0;
            if (!Inbound.TryDequeue(out var frame))
                return false;
            frame.CopyTo(buffer);
            length = frame.Length;
            return true;
        }

        public bool TrySend(ReadOnlySpan<byte> frame, long nowMicroseconds)
        {
            Sent++;
            frame.CopyTo(LastSent);
            return true;
        }

        public void WaitForFrames(int timeoutMilliseconds, DeviceWakeup wakeup)
        {
        }

        public void Dispose()
        {
        }
    }

    sealed class Sink : ITcpListenerEvents, ITcpConnectionEvents
    {
        public TcpControlBlock? Connection;
        public ITcpConnectionEvents OnConnectionReady(TcpControlBlock connection)
        {
            Connection = connection;
            return this;
        }

        public void OnEstablished()
        {
        }

        public void OnReadable()
        {
        }

        public void OnWritable()
        {
        }

        public void OnClosed(System.Net.Sockets.SocketError error)
        {
        }
    }

    static readonly MacAddress Peer = MacAddress.Parse("02:00:00:00:00:01");
    static readonly MacAddress Ours = MacAddress.Parse("02:00:01:02:03:77");
    static readonly Ipv4Address PeerIp = Ipv4Address.Parse("192.168.0.1");
    static readonly Ipv4Address OurIp = Ipv4Address.Parse("192.168.0.2");

    readonly ScriptDevice _device = new();
    readonly Sink _sink = new();
    NetworkEngine _engine = null!;
    readonly byte[] _segment = new byte[14 + 20 + 20 + 1460];
    readonly byte[] _drain = new byte[1 << 20];
    readonly byte[] _ack = new byte[54];
    readonly byte[] _payload = new byte[1460];
    uint _peerSeq = 1000;
    uint _stackIss;
    long _now;

    [GlobalSetup]
    public void Setup()
    {
        _engine = new NetworkEngine(_device, new StackOptions
        {
            Ipv4 = Ipv4Settings.Static("192.168.0.2/24"),
            NeighborReachableTime = TimeSpan.FromDays(1),
            Tcp = new TcpSettings { Timestamps = false, ReceiveBufferSize = 4 << 20, SendBufferSize = 4 << 20 },
        });
        _engine.Tcp.Listen(80, 16, _sink);
        var arp = new byte[42];
        EthernetFrame.WriteHeader(arp, Ours, Peer, EtherType.Arp);
        ArpPacket.Write(arp.AsSpan(14), ArpOperation.Request, Peer, PeerIp, MacAddress.Zero, OurIp);
        _device.Inbound.Enqueue(arp);
        _engine.Poll(++_now);

        var syn = TcpOptions.None;
        syn.MaximumSegmentSize = 1460;
        syn.WindowScale = 10;
        syn.SackPermitted = true;
        _device.Inbound.Enqueue(Segment(_peerSeq, 0, TcpFlags.Syn, 0, syn));
        _engine.Poll(++_now);
        _stackIss = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(_device.LastSent.AsSpan(14 + 20 + 4));
        _peerSeq++;
        _device.Inbound.Enqueue(Segment(_peerSeq, _stackIss + 1, TcpFlags.Ack, 0, TcpOptions.None));
        _engine.Poll(++_now);
    }

    byte[] Segment(uint seq, uint ack, TcpFlags flags, int payload, in TcpOptions options)
    {
        int headerLength = 20 + options.WireLength;
        var frame = new byte[14 + 20 + headerLength + payload];
        EthernetFrame.WriteHeader(frame, Ours, Peer, EtherType.Ipv4);
        new TcpHeader(40000, 80, seq, ack, flags, 65535).Write(frame.AsSpan(34), options, payload, PeerIp, OurIp);
        new Ipv4Header(PeerIp, OurIp, IpProtocol.Tcp, 64, 1).Write(frame.AsSpan(14), 20 + headerLength + payload);
        return frame;
    }

    [Benchmark]
    public int ReceiveFullSegment()
    {
        // Rewrite sequence number and checksum in place so the frame is always the next in-order segment.
        EthernetFrame.WriteHeader(_segment, Ours, Peer, EtherType.Ipv4);
        new TcpHeader(40000, 80, _peerSeq, _stackIss + 1, TcpFlags.Ack, 65535).Write(_segment.AsSpan(34), TcpOptions.None, 1460, PeerIp, OurIp);
        new Ipv4Header(PeerIp, OurIp, IpProtocol.Tcp, 64, 1).Write(_segment.AsSpan(14), 20 + 20 + 1460);
        _peerSeq += 1460;
        _device.Inbound.Enqueue(_segment);
        _engine.Poll(++_now);
        var ring = _sink.Connection!.Receive.Ring;
        if (ring.Count > 1 << 19)
            ring.Read(_drain);
        return _device.Sent;
    }

    [Benchmark]
    public int SendFullSegment()
    {
        var connection = _sink.Connection!;
        connection.Write(_payload);
        connection.OnApplicationWrite();
        // Acknowledge everything so the window never closes.
        uint acked = connection.SndMax;
        EthernetFrame.WriteHeader(_ack, Ours, Peer, EtherType.Ipv4);
        new TcpHeader(40000, 80, _peerSeq, acked, TcpFlags.Ack, 65535).Write(_ack.AsSpan(34), TcpOptions.None, 0, PeerIp, OurIp);
        new Ipv4Header(PeerIp, OurIp, IpProtocol.Tcp, 64, 1).Write(_ack.AsSpan(14), 40);
        _device.Inbound.Enqueue(_ack);
        _engine.Poll(++_now);
        return _device.Sent;
    }
}
