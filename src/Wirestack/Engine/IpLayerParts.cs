using Wirestack.Network;

namespace Wirestack.Engine;

/// <summary>
/// What both IP layers are built on: the layers below them (link, neighbours, the one output path and its buffers),
/// the state they share (the reassembler, the ICMP error bucket, counters, the random source) and the transports they
/// deliver to.
/// </summary>
internal sealed record IpLayerParts(LinkLayer Link, NeighborResolver Neighbors, IpOutput Output, TransmitBuffers Buffers, Reassembler Reassembler,
    IcmpErrorLimiter IcmpErrorLimiter, TcpLayer Tcp, UdpLayer Udp, StackCounters Counters, Random Random);
