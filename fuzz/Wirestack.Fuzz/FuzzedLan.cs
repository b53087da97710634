using System.Net;
using System.Net.Sockets;
using Wirestack.Devices;
using Wirestack.Engine;
using Wirestack.Transport;
using Wirestack.Transport.Tcp;
using Wirestack.Wire;

namespace Wirestack.Fuzz;

/// <summary>
/// The stack under test (A) and an honest stack of ours (B) on one Ethernet link, on a virtual clock, with a third
/// sender on the link: the fuzzer. A runs what the device runs (IPv4 static or by DHCP, IPv6 with SLAAC, mDNS, a TCP
/// and a UDP echo service); B is A's gateway and, when A uses DHCP, its DHCP server, and streams a known pattern
/// through A's TCP echo, so that handshakes, leases, neighbour and NDP states are reached and a broken stream shows.
/// </summary>
internal sealed class FuzzedLan : IDisposable
{
    const int StreamLength = 32 * 1024;
    static readonly MacAddress MacA = MacAddress.Parse("02:00:01:02:03:77");
    static readonly MacAddress MacB = MacAddress.Parse("02:00:00:00:00:01");

    readonly InMemoryDevice _deviceA, _wireA, _deviceB, _wireB;
    readonly byte[] _frame = new byte[VirtioNetHeader.FrameBufferLength];
    readonly StreamClient _client = new(StreamLength);
    readonly UdpEcho _udpEcho = new();
    long _now;

    /// <param name="configuration">
    /// Bit 0: A's end of the link carries the virtio-net header (offloads both ways, as a TAP with it). Bit 1: A
    /// leases its IPv4 address from B's DHCP server. Bit 2: A serves DHCP itself (static address only). Bit 3: A
    /// forwards TCP and UDP to addresses not its own (a flow's destination port picks the decision: accept and echo,
    /// refuse, answer unreachable, or leave undecided; UDP sessions echo from the destination).
    /// </param>
    public FuzzedLan(byte configuration)
    {
        Offloads = (configuration & 1) != 0;
        bool dhcpClient = (configuration & 2) != 0;
        bool dhcpServer = !dhcpClient && (configuration & 4) != 0;
        bool forwarding = (configuration & 8) != 0;
        (_deviceA, _wireA) = InMemoryLink.CreatePair(1500, LinkMedium.Ethernet, 4096, Offloads);
        (_deviceB, _wireB) = InMemoryLink.CreatePair(1500, LinkMedium.Ethernet, 4096, offloads: false);
        A = new NetworkEngine(_deviceA, new StackOptions
        {
            MacAddress = MacA,
            Ipv4 = dhcpClient ? Ipv4Settings.FromDhcp() : Ipv4Settings.Static("192.168.0.2/24", "192.168.0.1", "192.168.0.1"),
            Ipv6 = Ipv6Settings.Automatic(),
            Mdns = new MdnsSettings { HostName = "wirestack", Services = [new MdnsService { InstanceName = "wirestack", ServiceType = "_http._tcp", Port = 80 }] },
            DhcpServer = dhcpServer ? new DhcpServerSettings { PoolStart = IPAddress.Parse("192.168.0.100"), PoolEnd = IPAddress.Parse("192.168.0.120") } : null,
            Forwarding = forwarding ? new ForwardingSettings { MaxPendingConnections = 64, MaxPendingPerSource = 32, MaxUdpSessions = 64 } : null,
            RandomSeed = 1,
        });
        B = new NetworkEngine(_deviceB, new StackOptions
        {
            MacAddress = MacB,
            Ipv4 = Ipv4Settings.Static("192.168.0.1/24"),
            Ipv6 = Ipv6Settings.Automatic(),
            DhcpServer = dhcpClient ? new DhcpServerSettings { PoolStart = IPAddress.Parse("192.168.0.50"), PoolEnd = IPAddress.Parse("192.168.0.60") } : null,
            RandomSeed = 2,
        });
        A.Tcp.Listen(7, 16, new EchoListener());
        if (forwarding)
        {
            var forwarder = new Forwarder(A);
            A.Tcp.SetForwarder(forwarder);
            A.Udp.SetForwarder(forwarder);
            A.SetEchoForwarder(forwarder);
        }
        _udpEcho.Binding = A.Udp.Bind(7, _udpEcho);
        _udpEcho.Engine = A;
    }

    public NetworkEngine A { get; }
    public NetworkEngine B { get; }
    public bool Offloads { get; }

    /// <summary>A frame from the fuzzer to A, with the virtio-net header a TAP would put in front when offloads are on.</summary>
    public void Inject(ReadOnlySpan<byte> frame, VirtioNetHeader header) => _deviceA.Deliver(frame, Offloads ? header : default);

    /// <summary>Runs both stacks for <paramref name="duration"/> of virtual time, carrying frames between them.</summary>
    public void Run(TimeSpan duration)
    {
        long end = _now + duration.Ticks / TimeSpan.TicksPerMicrosecond;
        int rounds = 0;
        while (true)
        {
            A.Poll(_now);
            B.Poll(_now);
            StartStream();
            bool moved = Carry(_wireA, _deviceB) | Carry(_wireB, _deviceA);
            if (moved && ++rounds < 100)
                continue;
            rounds = 0;
            if (_now >= end)
                return;
            long next = Math.Min(end, _now + 200_000);
            if (A.NextDeadlineMicroseconds is { } a && a > _now)
                next = Math.Min(next, a);
            if (B.NextDeadlineMicroseconds is { } b && b > _now)
                next = Math.Min(next, b);
            _now = Math.Max(next, _now + 1);
        }
    }

    /// <summary>Sees every frame the two stacks exchange (the corpus is seeded from them).</summary>
    public Action<ReadOnlyMemory<byte>>? Observe { get; set; }

    /// <summary>What one end sent, to the other: every frame, whatever its destination (the link is a hub).</summary>
    bool Carry(InMemoryDevice from, InMemoryDevice to)
    {
        bool any = false;
        while (from.TryReceive(_frame, _now, out int length))
        {
            Observe?.Invoke(_frame.AsMemory(0, length).ToArray());
            to.Deliver(_frame.AsSpan(0, length));
            any = true;
        }
        return any;
    }

    void StartStream()
    {
        if (_client.Connection is null && A.Interface.IsConfigured)
            _client.Connection = B.Tcp.Connect(A.Interface.Address, 7, _client);
    }

    /// <summary>
    /// After the input: what A holds has gone back to what its live connections need, and B's stream came back whole.
    /// </summary>
    public void CheckInvariants()
    {
        InvariantViolation.Check(A.TransmitBuffersLeased == 0, $"{A.TransmitBuffersLeased} transmit buffers still leased");
        InvariantViolation.Check(A.Neighbors.QueuedBytes == 0 && (A.Ipv6Neighbors?.QueuedBytes ?? 0) == 0, "packets still wait for neighbours");
        InvariantViolation.Check(A.Neighbors.UnresolvedCount == 0 && (A.Ipv6Neighbors?.UnresolvedCount ?? 0) == 0, "resolutions still under way");
        InvariantViolation.Check(A.Reassembler.Count == 0, $"{A.Reassembler.Count} partial datagrams held");
        InvariantViolation.Check(A.Tcp.PendingForwardCount == 0, $"{A.Tcp.PendingForwardCount} forwarded handshakes still wait for a decision");
        InvariantViolation.Check(A.Udp.ForwardSessionCount == 0, $"{A.Udp.ForwardSessionCount} forwarded UDP sessions outlived their idle timeout");
        foreach (var connection in A.Tcp.Connections)
        {
            InvariantViolation.Check(connection.State is TcpState.Established or TcpState.CloseWait,
                $"a connection to {connection.Key.RemoteAddress}:{connection.Key.RemotePort} lingers in {connection.State}");
        }
        InvariantViolation.Check(A.Tcp.BufferBytes == A.Tcp.Connections.Sum(c => c.BufferBytes), "TCP buffer memory held by no connection");
        InvariantViolation.Check(_client.Connection is not null, "B never connected to A's echo service");
        InvariantViolation.Check(_client.ClosedWith is null, $"B's stream through A failed: {_client.ClosedWith}");
        InvariantViolation.Check(_client.Received == StreamLength, $"B's stream came back {_client.Received} of {StreamLength} bytes");
    }

    public void Dispose()
    {
        A.Shutdown();
        B.Shutdown();
        _deviceA.Dispose();
        _wireA.Dispose();
        _deviceB.Dispose();
        _wireB.Dispose();
    }

    /// <summary>A's TCP echo: what arrives goes back, as fast as the send buffer takes it.</summary>
    sealed class EchoListener : ITcpListenerEvents
    {
        public ITcpConnectionEvents OnConnectionReady(TcpControlBlock connection) => new Echo { Connection = connection };
    }

    /// <summary>
    /// A's forwarder: a flow's destination port decides (accept and echo, refuse, unreachable, undecided); UDP echoes;
    /// an echo request's sequence number decides (reply, unreachable, no answer).
    /// </summary>
    sealed class Forwarder(NetworkEngine engine) : ITcpForwardEvents, IUdpForwardEvents, IEchoForwardEvents
    {
        public bool HasRoom => true;

        public bool OnRequest(EchoForwardPending request)
        {
            switch (request.Message[7] % 3)
            {
                case 0:
                    engine.ReplyToForwardedEcho(request);
                    break;
                case 1:
                    engine.UnreachableForwardedEcho(request, ForwardUnreachable.Port);
                    break;
            }
            return true;
        }

        public void OnRequest(TcpForwardPending request)
        {
            switch (request.Key.LocalPort % 4)
            {
                case 0:
                    var echo = new Echo();
                    echo.Connection = engine.Tcp.AcceptForwarded(request, echo);
                    break;
                case 1:
                    engine.Tcp.RefuseForwarded(request);
                    break;
                case 2:
                    engine.Tcp.UnreachableForwarded(request, ForwardUnreachable.Host);
                    break;
            }
        }

        public IUdpForwardReceiver OnSession(UdpForwardSessionState session) => new SessionEcho(engine, session);
    }

    sealed class SessionEcho(NetworkEngine engine, UdpForwardSessionState session) : IUdpForwardReceiver
    {
        public bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress destination, ushort port)
        {
            engine.Udp.SendForwarded(session, destination, port, payload);
            return true;
        }

        public void OnClosed()
        {
        }
    }

    sealed class Echo : ITcpConnectionEvents
    {
        readonly byte[] _pending = new byte[16384];
        int _start, _count;

        public TcpControlBlock? Connection { get; set; }

        public void OnEstablished()
        {
        }

        public void OnReadable() => Flush();

        public void OnWritable() => Flush();

        public void OnClosed(SocketError error)
        {
        }

        void Flush()
        {
            if (Connection is not { } connection)
                return;
            while (true)
            {
                if (_count == 0)
                {
                    _start = 0;
                    _count = connection.Receive.Ring.Read(_pending);
                    if (_count == 0)
                        return;
                    connection.OnApplicationRead();
                }
                int written = connection.Write(_pending.AsSpan(_start, _count));
                if (written == 0)
                    return;
                connection.OnApplicationWrite();
                _start += written;
                _count -= written;
            }
        }
    }

    /// <summary>B's side: writes a known pattern and checks that every byte echoed back is the one it sent.</summary>
    sealed class StreamClient(int length) : ITcpConnectionEvents
    {
        readonly byte[] _buffer = new byte[16384];
        int _sent;

        public TcpControlBlock? Connection { get; set; }
        public int Received { get; private set; }
        public SocketError? ClosedWith { get; private set; }

        static byte Pattern(int offset) => (byte)(offset * 7 + (offset >> 8));

        public void OnEstablished() => OnWritable();

        public void OnWritable()
        {
            while (Connection is not null && _sent < length)
            {
                int chunk = Math.Min(_buffer.Length, length - _sent);
                for (int i = 0; i < chunk; i++)
                    _buffer[i] = Pattern(_sent + i);
                int written = Connection.Write(_buffer.AsSpan(0, chunk));
                if (written == 0)
                    return;
                Connection.OnApplicationWrite();
                _sent += written;
            }
        }

        public void OnReadable()
        {
            if (Connection is null)
                return;
            int n;
            while ((n = Connection.Receive.Ring.Read(_buffer)) > 0)
            {
                for (int i = 0; i < n; i++)
                    InvariantViolation.Check(_buffer[i] == Pattern(Received + i), $"byte {Received + i} of the echoed stream differs");
                Received += n;
            }
            Connection.OnApplicationRead();
        }

        public void OnClosed(SocketError error)
        {
            if (error != SocketError.Success || Received < length)
                ClosedWith = error;
        }
    }

    /// <summary>A's UDP echo on port 7.</summary>
    sealed class UdpEcho : IUdpReceiver
    {
        public UdpBinding? Binding;
        public NetworkEngine? Engine;

        public bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress remoteAddress, ushort remotePort, IpAddress localAddress)
        {
            Engine!.Udp.Send(Binding!, remoteAddress, remotePort, payload);
            return true;
        }

        public void DeliverError(SocketError error, IpAddress remoteAddress, ushort remotePort)
        {
        }
    }
}
