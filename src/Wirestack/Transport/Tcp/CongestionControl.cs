namespace Wirestack.Transport.Tcp;

/// <summary>
/// A congestion controller: owns cwnd and ssthresh (bytes). The connection reports ACKs and congestion events;
/// loss recovery itself (what to retransmit) stays with the connection.
/// </summary>
internal abstract class CongestionController(int maximumSegmentSize)
{
    protected int Mss { get; } = maximumSegmentSize;

    public long Window { get; protected set; } = InitialWindow(maximumSegmentSize);

    public long SlowStartThreshold { get; protected set; } = long.MaxValue / 4;

    /// <summary>RFC 6928: min(10 MSS, max(2 MSS, 14600 bytes)).</summary>
    public static long InitialWindow(int mss) => Math.Min(10L * mss, Math.Max(2L * mss, 14600));

    public static CongestionController Create(CongestionControlAlgorithm algorithm, int mss) => algorithm switch
    {
        CongestionControlAlgorithm.NewReno => new NewRenoController(mss),
        _ => new CubicController(mss),
    };

    /// <summary>New data was acknowledged outside recovery.</summary>
    public abstract void OnAck(long ackedBytes, long flightBeforeAck, long now, long smoothedRtt);

    /// <summary>Loss detected by duplicate ACKs or SACK: enter recovery (RFC 5681 3.2 step 2 / RFC 9438 4.6).</summary>
    public abstract void OnCongestion(long flightSize, long now);

    /// <summary>The retransmission timer expired (RFC 5681 3.1 equation 4; loss window of one segment).</summary>
    public virtual void OnTimeout(long flightSize, long now)
    {
        OnCongestion(flightSize, now);
        Window = Mss;
    }

    /// <summary>Sets the window during fast recovery (inflation and deflation are the connection's business).</summary>
    public void SetWindow(long window) => Window = Math.Max(window, Mss);

    /// <summary>Leaving recovery: cwnd = ssthresh (RFC 6582 3.2 step 3, conservative form).</summary>
    public virtual void OnRecoveryEnd(long flightSize) => Window = Math.Max(Math.Min(SlowStartThreshold, flightSize + Mss), Mss);
}

/// <summary>NewReno: slow start, then one MSS per RTT (RFC 5681 3.1 with appropriate byte counting, RFC 3465).</summary>
internal sealed class NewRenoController(int mss) : CongestionController(mss)
{
    long _accumulated;

    public override void OnAck(long ackedBytes, long flightBeforeAck, long now, long smoothedRtt)
    {
        if (Window < SlowStartThreshold)
        {
            Window += Math.Min(ackedBytes, 2L * Mss);
            return;
        }
        _accumulated += ackedBytes;
        if (_accumulated >= Window)
        {
            _accumulated -= Window;
            Window += Mss;
        }
    }

    public override void OnCongestion(long flightSize, long now)
    {
        SlowStartThreshold = Math.Max(flightSize / 2, 2L * Mss);
        Window = SlowStartThreshold;
        _accumulated = 0;
    }
}

/// <summary>CUBIC (RFC 9438): window grows as a cubic function of time since the last reduction, with a Reno-friendly floor.</summary>
internal sealed class CubicController(int mss) : CongestionController(mss)
{
    const double C = 0.4;
    const double Beta = 0.7;

    double _windowMax;          // W_max in segments
    double _k;                  // seconds
    long _epochStart = -1;      // microseconds
    double _renoEstimate;       // W_est in segments
    long _accumulated;

    public override void OnAck(long ackedBytes, long flightBeforeAck, long now, long smoothedRtt)
    {
        if (Window < SlowStartThreshold)
        {
            Window += Math.Min(ackedBytes, 2L * Mss);
            return;
        }
        double cwnd = (double)Window / Mss;
        if (_epochStart < 0)
        {
            _epochStart = now;
            if (cwnd < _windowMax)
            {
                _k = Math.Cbrt((_windowMax - cwnd) / C);
            }
            else
            {
                _k = 0;
                _windowMax = cwnd;
            }
            _renoEstimate = cwnd;
        }
        double t = (now - _epochStart + Math.Max(smoothedRtt, 1000)) / 1e6;
        double target = C * Math.Pow(t - _k, 3) + _windowMax;
        // RFC 9438 4.3: Reno-friendly region with alpha = 3(1-beta)/(1+beta).
        _renoEstimate += 3 * (1 - Beta) / (1 + Beta) * ackedBytes / Window;
        target = Math.Max(target, _renoEstimate);
        target = Math.Min(target, 1.5 * cwnd);
        if (target > cwnd)
        {
            // Increase by (target - cwnd) / cwnd segments per acknowledged segment.
            _accumulated += (long)((target - cwnd) / cwnd * ackedBytes);
            long whole = _accumulated / Mss * Mss;
            if (whole > 0)
            {
                Window += whole;
                _accumulated -= whole;
            }
        }
    }

    public override void OnCongestion(long flightSize, long now)
    {
        double cwnd = (double)Window / Mss;
        // RFC 9438 4.7 fast convergence.
        _windowMax = cwnd < _windowMax ? cwnd * (1 + Beta) / 2 : cwnd;
        SlowStartThreshold = Math.Max((long)(Window * Beta), 2L * Mss);
        Window = SlowStartThreshold;
        _epochStart = -1;
        _accumulated = 0;
    }

    public override void OnTimeout(long flightSize, long now)
    {
        base.OnTimeout(flightSize, now);
        _epochStart = -1;
    }
}
