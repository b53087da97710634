using Wirestack.Wire;

namespace Wirestack.Network;

/// <summary>
/// IP identifications (the IPv4 header's, the IPv6 Fragment header's) made as RFC 7739 5.4's double-hash algorithm
/// makes them: a counter per bucket of flows, the bucket chosen by one keyed hash of the addresses and protocol and
/// the value offset by another. Toward one destination the identification still steps by one (unique for as long as
/// reassembly needs), but a host that watches its own flows learns nothing of the traffic to others (the idle scan of
/// RFC 7739 3.5) and cannot predict the identifications sent to a third host (the fragment injection of 3.4), as it
/// could with one global counter.
/// </summary>
internal sealed class PacketIdentifiers
{
    const int Buckets = 4096;
    readonly uint[] _counters = new uint[Buckets];
    readonly long _bucketKey, _offsetKey;

    public PacketIdentifiers(Random random)
    {
        _bucketKey = random.NextInt64();
        _offsetKey = random.NextInt64();
        for (int i = 0; i < Buckets; i++)
            _counters[i] = (uint)random.NextInt64(uint.MaxValue + 1L);
    }

    /// <summary>The next identification for a packet from <paramref name="source"/> to <paramref name="destination"/>.</summary>
    public uint Next(IpAddress source, IpAddress destination, byte protocol)
    {
        uint flow = FlowHash(source, destination, protocol);
        return Offset(flow) + ++_counters[flow % Buckets];
    }

    /// <summary>The bucket whose counter a flow steps (tests pick flows that do not share one).</summary>
    internal int BucketOf(IpAddress source, IpAddress destination, byte protocol) => (int)(FlowHash(source, destination, protocol) % Buckets);

    // One keyed hash of the flow picks the bucket (its low bits) and, mixed with the second key, the offset: the two
    // hashes of RFC 7739 5.4 for the price of one (each packet sent pays it).
    uint FlowHash(IpAddress source, IpAddress destination, byte protocol) => (uint)HashCode.Combine(_bucketKey, source, destination, protocol);

    uint Offset(uint flow)
    {
        ulong mixed = (flow ^ (ulong)_offsetKey) * 0x9E37_79B9_7F4A_7C15UL;
        return (uint)(mixed >> 32) ^ (uint)(_offsetKey >> 32);
    }
}
