using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>A TCP segment the stack sent, copied out of its frame.</summary>
internal sealed record SentSegment(ushort SourcePort, ushort DestinationPort, uint Seq, uint Ack, TcpFlags Flags, ushort Window, byte[] Payload, TcpOptions Options)
{
    public bool Has(TcpFlags flag) => (Flags & flag) == flag;
}

/// <summary>Plays the far end of a TCP connection segment by segment against an <see cref="EngineHarness"/>.</summary>
internal sealed class TcpPeer(EngineHarness harness, ushort localPort = 40000, ushort remotePort = 80, Ipv4Address? address = null)
{
    public Ipv4Address Address { get; } = address ?? Frames.PeerIp;

    public ushort LocalPort { get; } = localPort;
    public ushort RemotePort { get; } = remotePort;

    public void Send(uint seq, uint ack, TcpFlags flags, byte[]? payload = null, ushort window = 65535, TcpOptions? options = null)
    {
        payload ??= [];
        var opts = options ?? TcpOptions.None;
        var segment = new byte[TcpSegment.MinimumHeaderLength + opts.WireLength + payload.Length];
        payload.CopyTo(segment, TcpSegment.MinimumHeaderLength + opts.WireLength);
        TcpSegment.WriteHeader(segment, LocalPort, RemotePort, seq, ack, flags, window, opts, payload.Length, Address, Frames.StackIp);
        harness.Inject(Frames.Ethernet(Frames.StackMac, Frames.PeerMac, EtherType.Ipv4, Frames.Ipv4(Address, Frames.StackIp, IpProtocol.Tcp, segment)));
    }

    /// <summary>TCP segments the stack sent since the last call (other frames are ignored).</summary>
    public List<SentSegment> Received()
    {
        var result = new List<SentSegment>();
        foreach (var frame in harness.Drain())
        {
            if (!EthernetFrame.TryParse(frame, out var eth) || eth.EtherType != EtherType.Ipv4)
                continue;
            if (!Ipv4Packet.TryParse(eth.Payload, out var ip) || ip.Protocol != IpProtocol.Tcp)
                continue;
            Assert.True(TcpSegment.TryParse(ip.Payload, out var tcp));
            Assert.True(tcp.IsChecksumValid(ip.Source, ip.Destination));
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
