using Microsoft.Extensions.Logging;

namespace Wirestack.Device.Dashboard;

/// <summary>The seed's log levels (0 none … 4 verbose), changeable at run time from the dashboard.</summary>
internal sealed class LogLevelSwitch(int verbosity)
{
    volatile int _verbosity = verbosity;

    public int Verbosity
    {
        get => _verbosity;
        set => _verbosity = Math.Clamp(value, 0, 4);
    }

    public bool IsEnabled(LogLevel level) => level >= Minimum;

    LogLevel Minimum => _verbosity switch
    {
        0 => LogLevel.None,
        1 => LogLevel.Error,
        2 => LogLevel.Information,
        3 => LogLevel.Debug,
        _ => LogLevel.Trace,
    };
}
