using System.Net.Sockets;
using Wirestack.Transport.Buffers;
using Wirestack.Wire;

namespace Wirestack.Transport.Tcp;

/// <summary>What a connection tells its application side. Called on the engine thread; implementations must not block.</summary>
internal interface ITcpConnectionEvents
{
    /// <summary>The handshake completed.</summary>
    void OnEstablished();

    /// <summary>Data or the peer's FIN arrived.</summary>
    void OnReadable();

    /// <summary>Send buffer space was freed.</summary>
    void OnWritable();

    /// <summary>The connection is gone: Success after an orderly close, otherwise why it failed.</summary>
    void OnClosed(SocketError error);
}

/// <summary>What a connection needs from the engine below it.</summary>
internal interface ITcpNetwork
{
    long Now { get; }

    TcpSettings Settings { get; }

    StackCounters Counters { get; }

    /// <summary>The IP MTU of the interface.</summary>
    int Mtu { get; }

    /// <summary>The path MTU toward <paramref name="destination"/> as known now (RFC 8201), at most <see cref="Mtu"/>.</summary>
    int PathMtu(IpAddress destination);

    /// <summary>
    /// A buffer to build one segment in, with room for IP and link headers before <see cref="SegmentOffset"/>;
    /// disposing the lease gives it back once <see cref="SendSegment"/> has taken the segment.
    /// </summary>
    Network.TransmitLease RentSegmentBuffer();

    /// <summary>Where a segment's TCP header starts in a buffer from <see cref="RentSegmentBuffer"/>.</summary>
    int SegmentOffset { get; }

    /// <summary>
    /// True when the device finishes segments on the way out: checksums are left partial (the pseudo-header sum in
    /// the field), and one segment may carry up to 64 KiB for the device or the host's kernel to cut to the MSS.
    /// </summary>
    bool SegmentationOffload { get; }

    /// <summary>
    /// Sends the segment at <see cref="SegmentOffset"/> of <paramref name="buffer"/>, <paramref name="length"/> bytes, on
    /// <paramref name="key"/>'s path; with <see cref="SegmentationOffload"/>, to be cut into
    /// <paramref name="segmentSize"/>-byte pieces of payload when that is above 0.
    /// </summary>
    void SendSegment(in TcpConnectionKey key, byte[] buffer, int length, int segmentSize);

    /// <summary>The connection's deadline changed.</summary>
    void Reschedule(TcpControlBlock connection);

    /// <summary>A passive connection completed its handshake: hand it to its listener.</summary>
    void OnPassiveEstablished(TcpControlBlock connection);

    /// <summary>The application closed the connection while it still has data or a FIN to deliver.</summary>
    void OnOrphaned(TcpControlBlock connection);

    /// <summary>The connection entered TIME-WAIT.</summary>
    void OnTimeWait(TcpControlBlock connection);

    /// <summary>The peer acknowledged new data: its next hop is reachable (RFC 4861 7.3.1 upper-layer confirmation).</summary>
    void ConfirmReachable(IpAddress remote);

    /// <summary>Where connection buffers come from.</summary>
    BufferChunkPool BufferPool { get; }

    /// <summary>
    /// Buffer memory is past the soft part of the budget: windows stop growing and listeners prefer SYN cookies.
    /// </summary>
    bool MemoryPressure { get; }

    /// <summary>Buffer memory is at the budget: connections get no memory beyond a small floor each.</summary>
    bool MemoryExhausted { get; }

    /// <summary>The connection reached CLOSED from <paramref name="previous"/>: forget it.</summary>
    void OnClosed(TcpControlBlock connection, TcpState previous);

    /// <summary>
    /// True while the engine takes in the frames that were waiting at the device: a connection may then leave its
    /// ACK and its readable signal to the end of the batch (<see cref="DeferToBatchEnd"/>), as Linux acknowledges what
    /// GRO merged with one ACK and wakes the reader once.
    /// </summary>
    bool InReceiveBatch { get; }

    /// <summary>Calls <see cref="TcpControlBlock.EndReceiveBatch"/> once the frames of this batch are in.</summary>
    void DeferToBatchEnd(TcpControlBlock connection);
}

/// <summary>The 4-tuple naming a connection; both addresses are of one family.</summary>
internal readonly record struct TcpConnectionKey(IpAddress LocalAddress, ushort LocalPort, IpAddress RemoteAddress, ushort RemotePort)
{
    /// <summary>True for a connection over IPv4.</summary>
    public bool IsIpv4 => RemoteAddress.IsIpv4;

    /// <summary>The network header in front of this connection's segments: 20 bytes for IPv4, 40 for IPv6.</summary>
    public int NetworkHeaderLength => IsIpv4 ? Ipv4Packet.MinimumHeaderLength : Ipv6Packet.HeaderLength;

    /// <summary>The MSS assumed when the peer sends none: 536 for IPv4 (RFC 9293 3.7.1), 1220 for IPv6 (RFC 8200 8.3).</summary>
    public int DefaultMss => IsIpv4 ? 536 : 1220;
}
