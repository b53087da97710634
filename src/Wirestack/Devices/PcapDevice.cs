using System.Buffers.Binary;
using Wirestack.Wire;

namespace Wirestack.Devices;

/// <summary>
/// Wraps a device and writes every frame it receives and sends to a classic libpcap file
/// (LINKTYPE_ETHERNET for TAP, LINKTYPE_RAW for TUN) that tcpdump, Wireshark and tshark read.
/// </summary>
/// <remarks>
/// The inner device's offloads stay on: frames are written as the stack receives and sends them, as tcpdump on the
/// host shows a TAP with offloads, so a TCP segment of up to 64 KiB is one record and a checksum the device finishes
/// shows as not yet computed.
/// </remarks>
public sealed class PcapDevice : INetworkDevice, IReceiveOffloads, ISendOffloads
{
    const uint Magic = 0xA1B2C3D4;   // microsecond timestamps
    const int SnapLength = 262144;
    const int LinkTypeEthernet = 1;
    const int LinkTypeRaw = 101;

    readonly INetworkDevice _inner;
    readonly Stream _output;
    readonly bool _ownsOutput;
    readonly long _wallClockAtStartMicroseconds;
    long? _firstNow;
    long _lastFlush;

    /// <summary>
    /// Writes the capture to <paramref name="path"/>, replacing any file there, readable by its owner only (captures
    /// hold whatever crossed the link, passwords included).
    /// </summary>
    public PcapDevice(INetworkDevice inner, string path)
        // The old file (or a link planted in its place) is removed and the new one created afresh, so its mode is ours
        // and no link is followed.
        : this(inner, Interop.OwnerOnlyFile.CreateFresh(path, FileShare.Read, bufferSize: 1 << 16), ownsOutput: true)
    {
    }

    /// <summary>Writes the capture to <paramref name="output"/>.</summary>
    public PcapDevice(INetworkDevice inner, Stream output, bool ownsOutput = false)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(output);
        _inner = inner;
        _output = output;
        _ownsOutput = ownsOutput;
        _wallClockAtStartMicroseconds = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
        Span<byte> header = stackalloc byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], 0);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], SnapLength);
        BinaryPrimitives.WriteInt32LittleEndian(header[20..], inner.Medium == LinkMedium.Ethernet ? LinkTypeEthernet : LinkTypeRaw);
        _output.Write(header);
        _output.Flush();
    }

    /// <summary>Frames written to the capture so far.</summary>
    public long FramesWritten { get; private set; }

    /// <inheritdoc/>
    public LinkMedium Medium => _inner.Medium;

    /// <inheritdoc/>
    public int Mtu => _inner.Mtu;

    /// <inheritdoc/>
    public bool IsLinkUp => _inner.IsLinkUp;

    /// <inheritdoc/>
    public long? NextFrameDueMicroseconds => _inner.NextFrameDueMicroseconds;

    /// <inheritdoc/>
    public bool TryReceive(Span<byte> buffer, long nowMicroseconds, out int length)
    {
        if (!_inner.TryReceive(buffer, nowMicroseconds, out length))
            return false;
        Record(buffer[..length], nowMicroseconds);
        return true;
    }

    /// <inheritdoc/>
    public bool TrySend(ReadOnlySpan<byte> frame, long nowMicroseconds)
    {
        Record(frame, nowMicroseconds);
        return _inner.TrySend(frame, nowMicroseconds);
    }

    IReceiveOffloads? INetworkDevice.ReceiveOffloads => _inner.ReceiveOffloads is null ? null : this;

    ISendOffloads? INetworkDevice.SendOffloads => _inner.SendOffloads is null ? null : this;

    bool IReceiveOffloads.EnableReceiveOffloads() => _inner.ReceiveOffloads!.EnableReceiveOffloads();

    int IReceiveOffloads.MaxReceiveLength => _inner.ReceiveOffloads!.MaxReceiveLength;

    // The frame TryReceive returned last came from the inner device's last receive: its header is that one's.
    VirtioNetHeader IReceiveOffloads.LastHeader => _inner.ReceiveOffloads!.LastHeader;

    bool ISendOffloads.EnableSendOffloads() => _inner.SendOffloads!.EnableSendOffloads();

    bool ISendOffloads.TrySend(ReadOnlySpan<byte> frame, in VirtioNetHeader header, long nowMicroseconds)
    {
        Record(frame, nowMicroseconds);
        return _inner.SendOffloads!.TrySend(frame, header, nowMicroseconds);
    }

    /// <inheritdoc/>
    public void WaitForFrames(int timeoutMilliseconds, DeviceWakeup wakeup)
    {
        // Flush before sleeping so a reader of the file sees everything up to now.
        _output.Flush();
        _inner.WaitForFrames(timeoutMilliseconds, wakeup);
    }

    void Record(ReadOnlySpan<byte> frame, long nowMicroseconds)
    {
        _firstNow ??= nowMicroseconds;
        long timestamp = _wallClockAtStartMicroseconds + (nowMicroseconds - _firstNow.Value);
        int captured = Math.Min(frame.Length, SnapLength);
        Span<byte> record = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)(timestamp / 1_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], (uint)(timestamp % 1_000_000));
        BinaryPrimitives.WriteInt32LittleEndian(record[8..], captured);
        BinaryPrimitives.WriteInt32LittleEndian(record[12..], frame.Length);
        _output.Write(record);
        _output.Write(frame[..captured]);
        FramesWritten++;
        if (nowMicroseconds - _lastFlush >= 1_000_000)
        {
            _output.Flush();
            _lastFlush = nowMicroseconds;
        }
    }

    /// <summary>Flushes the capture and disposes the wrapped device.</summary>
    public void Dispose()
    {
        _output.Flush();
        if (_ownsOutput)
            _output.Dispose();
        _inner.Dispose();
    }
}
