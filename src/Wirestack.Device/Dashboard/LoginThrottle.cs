using System.Net;

namespace Wirestack.Device.Dashboard;

/// <summary>
/// Failed logins per source (an IPv4 address, an IPv6 /64: <see cref="ClientSource"/>): from the <see cref="FreeFailures"/>th failure on a source must wait, 1 s at
/// first and twice as long after each further failure, up to <see cref="MaxDelay"/> (so the attempt after five quick
/// failures gets 429); a success clears it, and a source quiet for
/// <see cref="Forget"/> starts over. Bounded: at most <paramref name="capacity"/> sources are remembered, the least
/// recently failing goes first, so a scan from many addresses cannot grow it.
/// </summary>
internal sealed class LoginThrottle(TimeProvider clock, int capacity = 4096)
{
    public const int FreeFailures = 5;
    public static readonly TimeSpan MaxDelay = TimeSpan.FromMinutes(15);
    public static readonly TimeSpan Forget = TimeSpan.FromHours(1);

    sealed class Record
    {
        public int Failures;
        public DateTimeOffset LastFailure;
        public DateTimeOffset BlockedUntil;
    }

    readonly Dictionary<UInt128, Record> _sources = [];
    readonly Lock _lock = new();

    /// <summary>How long <paramref name="source"/> must still wait before a login is even checked; zero when it may try.</summary>
    public TimeSpan RetryAfter(IPAddress address)
    {
        var source = ClientSource.Of(address);
        lock (_lock)
        {
            if (!_sources.TryGetValue(source, out var record))
                return TimeSpan.Zero;
            var now = clock.GetUtcNow();
            if (now - record.LastFailure > Forget)
            {
                _sources.Remove(source);
                return TimeSpan.Zero;
            }
            return record.BlockedUntil > now ? record.BlockedUntil - now : TimeSpan.Zero;
        }
    }

    /// <summary>True when <paramref name="address"/>'s source has failed lately (and is not yet forgotten).</summary>
    public bool HasFailed(IPAddress address)
    {
        var source = ClientSource.Of(address);
        lock (_lock)
            return _sources.TryGetValue(source, out var record) && clock.GetUtcNow() - record.LastFailure <= Forget;
    }

    /// <summary>Records a failure; returns the wait it imposes (zero while failures are still free).</summary>
    public TimeSpan Fail(IPAddress address)
    {
        var source = ClientSource.Of(address);
        lock (_lock)
        {
            var now = clock.GetUtcNow();
            if (!_sources.TryGetValue(source, out var record) || now - record.LastFailure > Forget)
            {
                if (record is null && _sources.Count >= capacity)
                    _sources.Remove(_sources.MinBy(s => s.Value.LastFailure).Key);
                record = new Record();
                _sources[source] = record;
            }
            record.Failures++;
            record.LastFailure = now;
            if (record.Failures < FreeFailures)
                return TimeSpan.Zero;
            var delay = TimeSpan.FromSeconds(Math.Min(Math.Pow(2, record.Failures - FreeFailures), MaxDelay.TotalSeconds));
            record.BlockedUntil = now + delay;
            return delay;
        }
    }

    public void Succeed(IPAddress address)
    {
        var source = ClientSource.Of(address);
        lock (_lock)
            _sources.Remove(source);
    }

    public int Count
    {
        get
        {
            lock (_lock)
                return _sources.Count;
        }
    }
}
