using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>A TCP segment the stack sent, copied out of its frame.</summary>
internal sealed record SentSegment(ushort SourcePort, ushort DestinationPort, uint Seq, uint Ack, TcpFlags Flags, ushort Window, byte[] Payload, TcpOptions Options)
{
    public bool Has(TcpFlags flag) => (Flags & flag) == flag;
}

/// <summary>
/// Plays the far end of a TCP connection segment by segment against an <see cref="EngineHarness"/>, over IPv4 or,
/// given IPv6 addresses, over IPv6.
/// </summary>
internal sealed class TcpPeer(EngineHarness harness, ushort localPort = 40000, ushort remotePort = 80, IpAddress? address = null, IpAddress? stackAddress = null)
{
    public IpAddress Address { get; } = address ?? Frames.PeerIp;

    public IpAddress StackAddress { get; } = stackAddress ?? Frames.StackIp;

    public ushort LocalPort { get; } = localPort;
    public ushort RemotePort { get; } = remotePort;

    public void Send(uint seq, uint ack, TcpFlags flags, byte[]? payload = null, ushort window = 65535, TcpOptions? options = null)
    {
        payload ??= [];
        var opts = options ?? TcpOptions.None;
        var segment = new byte[TcpSegment.MinimumHeaderLength + opts.WireLength + payload.Length];
        payload.CopyTo(segment, TcpSegment.MinimumHeaderLength + opts.WireLength);
        new TcpHeader(LocalPort, RemotePort, seq, ack, flags, window).Write(segment, opts, payload.Length, Address, StackAddress);
        harness.Inject(Address.IsIpv4
            ? Frames.Ethernet(Frames.StackMac, Frames.PeerMac, EtherType.Ipv4, Frames.Ipv4(Address.Ipv4, StackAddress.Ipv4, IpProtocol.Tcp, segment))
            : Ipv6Frames.Packet(Address, StackAddress, IpProtocol.Tcp, segment));
    }

    /// <summary>TCP segments the stack sent since the last call (other frames are ignored).</summary>
    public List<SentSegment> Received()
    {
        var result = new List<SentSegment>();
        foreach (var frame in harness.Drain())
        {
            if (!EthernetFrame.TryParse(frame, out var eth))
                continue;
            IpAddress source, destination;
            Span<byte> payload;
            if (eth.EtherType == EtherType.Ipv4 && Ipv4Packet.TryParse(eth.Payload, out var ip) && ip.Protocol == IpProtocol.Tcp)
            {
                (source, destination) = (ip.Source, ip.Destination);
                payload = ip.Payload;
            }
            else if (eth.EtherType == EtherType.Ipv6 && Ipv6Packet.TryParse(eth.Payload, out var ip6) && ip6.NextHeader == IpProtocol.Tcp)
            {
                (source, destination) = (ip6.Source, ip6.Destination);
                payload = ip6.Payload;
            }
            else
                continue;
            Assert.True(TcpSegment.TryParse(payload, out var tcp));
            Assert.True(tcp.IsChecksumValid(source, destination));
            Assert.True(tcp.TryParseOptions(out var options));
            result.Add(new SentSegment(tcp.SourcePort, tcp.DestinationPort, tcp.SequenceNumber, tcp.AcknowledgmentNumber, tcp.Flags, tcp.Window, tcp.Payload.ToArray(), options));
        }
        return result;
    }

    public static TcpOptions SynOptions(bool timestamps = true, uint tsval = 1000)
    {
        var options = TcpOptions.None;
        options.MaximumSegmentSize = 1460;
        options.WindowScale = 7;
        options.SackPermitted = true;
        if (timestamps)
        {
            options.HasTimestamps = true;
            options.TimestampValue = tsval;
        }
        return options;
    }

    public static TcpOptions Timestamps(uint value, uint echo)
    {
        var options = TcpOptions.None;
        options.HasTimestamps = true;
        options.TimestampValue = value;
        options.TimestampEcho = echo;
        return options;
    }
}
