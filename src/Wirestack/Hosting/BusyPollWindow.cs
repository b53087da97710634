namespace Wirestack.Hosting;

/// <summary>
/// How long the event loop keeps looking for traffic after the last it handled before it sleeps. Waking a sleeping
/// thread costs tens of microseconds (on a virtual machine often over a hundred, and a millisecond when the scheduler
/// puts it behind another thread), so traffic that comes back soon is best caught awake; but looking costs a core.
/// The window therefore learns from the gaps between bursts, as a hypervisor's halt polling does for an idle vCPU:
/// a gap that the window missed but the ceiling would have caught widens the window to cover it next time (with a
/// quarter to spare for jitter); gaps longer than the ceiling, several in a row, halve it, down to a short floor that
/// still catches the ACK or request right behind a burst. An idle stack or one with sparse traffic sleeps; one whose traffic comes
/// back within the ceiling keeps looking. Time is the caller's, in microseconds.
/// </summary>
internal sealed class BusyPollWindow
{
    /// <summary>The window never shrinks below this (or the ceiling, if lower): the exchange right behind a burst.</summary>
    internal const long FloorMicroseconds = 50;

    /// <summary>
    /// Long gaps in a row before the window shrinks. One is not enough: a sleep that woke late makes the gap look
    /// longer than the traffic's, and shrinking on it would miss the next packet too, and so on.
    /// </summary>
    internal const int LongGapsBeforeShrinking = 4;

    readonly long _ceiling;
    readonly long _floor;
    long _window;
    long _lastActivity;
    bool _active;
    int _longGaps;

    /// <param name="ceilingMicroseconds">The longest the loop looks; zero never looks.</param>
    public BusyPollWindow(long ceilingMicroseconds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ceilingMicroseconds);
        _ceiling = ceilingMicroseconds;
        _floor = Math.Min(FloorMicroseconds, ceilingMicroseconds);
        _window = _floor;
    }

    /// <summary>How long the loop now looks after the last traffic.</summary>
    public long WindowMicroseconds => _window;

    /// <summary>The loop answered traffic or ran an application's work at <paramref name="now"/>.</summary>
    public void Activity(long now)
    {
        if (_active)
        {
            long gap = now - _lastActivity;
            if (gap <= _ceiling)
            {
                _longGaps = 0;
                if (gap > _window)
                    _window = Math.Min(_ceiling, gap + gap / 4);
            }
            else if (++_longGaps >= LongGapsBeforeShrinking)
            {
                _window = Math.Max(_floor, _window / 2);
            }
        }
        _active = true;
        _lastActivity = now;
    }

    /// <summary>Whether the loop should look again rather than sleep at <paramref name="now"/>.</summary>
    public bool KeepsLooking(long now) => _active && now - _lastActivity < _window;
}
