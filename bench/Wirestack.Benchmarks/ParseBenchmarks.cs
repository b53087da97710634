using BenchmarkDotNet.Attributes;
using Wirestack.Wire;

namespace Wirestack.Benchmarks;

/// <summary>Parsing and validating an Ethernet + IPv4 + UDP frame the way the engine's input path does.</summary>
[MemoryDiagnoser]
public class ParseBenchmarks
{
    readonly byte[] _frame = new byte[14 + 20 + 8 + 64];
    static readonly Ipv4Address Source = Ipv4Address.Parse("192.168.0.1");
    static readonly Ipv4Address Destination = Ipv4Address.Parse("192.168.0.2");

    [GlobalSetup]
    public void Setup()
    {
        EthernetFrame.WriteHeader(_frame, MacAddress.Parse("02:00:01:02:03:77"), MacAddress.Parse("02:00:00:00:00:01"), EtherType.Ipv4);
        new Random(2).NextBytes(_frame.AsSpan(42));
        UdpDatagram.WriteHeader(_frame.AsSpan(34), 5000, 7, 64, Source, Destination);
        new Ipv4Header(Source, Destination, IpProtocol.Udp, 64, 1).Write(_frame.AsSpan(14), 20 + 8 + 64);
    }

    [Benchmark]
    public int ParseEthernetIpv4Udp()
    {
        if (!EthernetFrame.TryParse(_frame, out var frame) || frame.EtherType != EtherType.Ipv4)
            return -1;
        if (!Ipv4Packet.TryParse(frame.Payload, out var ip) || !ip.IsHeaderChecksumValid || ip.Protocol != IpProtocol.Udp)
            return -2;
        if (!UdpDatagram.TryParse(ip.Payload, out var udp) || !udp.IsChecksumValid(ip.Source, ip.Destination))
            return -3;
        return udp.DestinationPort + udp.Payload.Length;
    }
}
