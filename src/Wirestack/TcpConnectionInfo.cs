namespace Wirestack;

/// <summary>A connection's state and counters, like Linux TCP_INFO.</summary>
/// <param name="State">RFC 9293 state.</param>
/// <param name="SmoothedRtt">SRTT (RFC 6298).</param>
/// <param name="RttVariance">RTTVAR.</param>
/// <param name="RetransmissionTimeout">Current RTO, with backoff.</param>
/// <param name="CongestionWindow">cwnd in bytes.</param>
/// <param name="SlowStartThreshold">ssthresh in bytes, -1 while unset.</param>
/// <param name="BytesInFlight">Sent and not yet acknowledged.</param>
/// <param name="Retransmits">Consecutive timeouts now (resets on progress).</param>
/// <param name="TotalRetransmittedSegments">Segments retransmitted over the connection's life.</param>
/// <param name="SendMss">Largest segment payload we send.</param>
/// <param name="ReceiveMss">Largest segment payload we announced.</param>
/// <param name="SendWindow">The peer's window (scaled).</param>
/// <param name="ReceiveWindow">The window we last advertised.</param>
/// <param name="SackEnabled">SACK negotiated.</param>
/// <param name="WindowScalingEnabled">Window scaling negotiated.</param>
/// <param name="TimestampsEnabled">Timestamps negotiated.</param>
/// <param name="BytesSent">Payload bytes sent (first transmissions).</param>
/// <param name="BytesReceived">Payload bytes received in order.</param>
public sealed record TcpConnectionInfo(TcpState State, TimeSpan SmoothedRtt, TimeSpan RttVariance, TimeSpan RetransmissionTimeout,
    long CongestionWindow, long SlowStartThreshold, long BytesInFlight, int Retransmits, long TotalRetransmittedSegments,
    int SendMss, int ReceiveMss, long SendWindow, long ReceiveWindow, bool SackEnabled, bool WindowScalingEnabled, bool TimestampsEnabled,
    long BytesSent, long BytesReceived);
