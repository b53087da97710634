using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Wirestack.Device;

/// <summary>
/// The running device as a hosted service: the stack and its dashboard, reset after reset, until the host stops;
/// when the device ends by itself (an error), it stops the host, keeping its exit code.
/// </summary>
internal sealed class DeviceService(Func<ILoggerFactory, CancellationToken, Task<int>> run, ILoggerFactory loggerFactory, IHostApplicationLifetime lifetime)
    : BackgroundService
{
    /// <summary>0 after an orderly stop; 1 when the device stopped on an error.</summary>
    public int ExitCode { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            ExitCode = await run(loggerFactory, stoppingToken);
        }
        finally
        {
            lifetime.StopApplication();
        }
    }
}
