namespace Wirestack.Network;

/// <summary>A token bucket on the engine's clock: <c>ratePerSecond</c> tokens accrue, up to <c>burst</c>.</summary>
internal sealed class TokenBucket(int ratePerSecond, int burst)
{
    double _tokens = burst;
    long _last = long.MinValue;

    public bool TryTake(long nowMicroseconds) => TryTake(nowMicroseconds, 1);

    /// <summary>
    /// Takes a token when one has accrued, and <paramref name="cost"/> in all, going into debt for the rest: what a
    /// random cost costs does not decide whether the take succeeds (that would favour the cheap draws), and the debt
    /// keeps the long-run rate at the mean cost.
    /// </summary>
    public bool TryTake(long nowMicroseconds, int cost)
    {
        if (_last != long.MinValue && nowMicroseconds > _last)
            _tokens = Math.Min(burst, _tokens + (nowMicroseconds - _last) * (ratePerSecond / 1_000_000.0));
        _last = Math.Max(_last, nowMicroseconds);
        if (_tokens < 1)
            return false;
        _tokens -= cost;
        return true;
    }
}
