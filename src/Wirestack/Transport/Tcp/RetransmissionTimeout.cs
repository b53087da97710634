namespace Wirestack.Transport.Tcp;

/// <summary>The retransmission timeout estimator of RFC 6298 (SRTT, RTTVAR, RTO with a floor and exponential backoff).</summary>
internal sealed class RetransmissionTimeout(long initialMicroseconds, long minimumMicroseconds, long maximumMicroseconds)
{
    const long ClockGranularity = 1_000;

    public long SmoothedRtt { get; private set; }
    public long RttVariance { get; private set; }
    public bool HasSample { get; private set; }
    public int Backoff { get; private set; }

    long _rto = initialMicroseconds;

    /// <summary>The current timeout, including backoff.</summary>
    public long Current => Math.Min(maximumMicroseconds, _rto << Math.Min(Backoff, 16));

    /// <summary>RFC 6298 2.2 and 2.3: folds in one measurement.</summary>
    public void AddSample(long rtt)
    {
        rtt = Math.Max(rtt, 1);
        if (!HasSample)
        {
            SmoothedRtt = rtt;
            RttVariance = rtt / 2;
            HasSample = true;
        }
        else
        {
            RttVariance = (3 * RttVariance + Math.Abs(SmoothedRtt - rtt)) / 4;
            SmoothedRtt = (7 * SmoothedRtt + rtt) / 8;
        }
        _rto = Math.Clamp(SmoothedRtt + Math.Max(ClockGranularity, 4 * RttVariance), minimumMicroseconds, maximumMicroseconds);
        Backoff = 0;
    }

    /// <summary>RFC 6298 5.5: doubles the timeout after it expires.</summary>
    public void BackOff() => Backoff++;

    public void ResetBackoff() => Backoff = 0;
}
