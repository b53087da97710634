using Microsoft.Extensions.Logging;

namespace Wirestack.Tunnel;

/// <summary>
/// A relay's accept loop: each flow the forwarder offers is handled on its own, and when the forwarder closes or the
/// tunnel stops, the loop returns once every flow it started has finished. A flow that fails unexpectedly is logged
/// and ends alone; the tunnel goes on.
/// </summary>
internal static class RelayLoop
{
    public static async Task RunAsync<T>(Func<CancellationToken, ValueTask<T>> accept, Func<T, Task> handle, ILogger logger, CancellationToken stop)
    {
        var running = new HashSet<Task>();
        try
        {
            while (true)
            {
                var flow = Guard(handle, await accept(stop).ConfigureAwait(false), logger);
                lock (running)
                    running.Add(flow);
                _ = flow.ContinueWith(done => { lock (running) running.Remove(done); }, CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
        }
        Task[] remaining;
        lock (running)
            remaining = [.. running];
        await Task.WhenAll(remaining).ConfigureAwait(false);
    }

    static async Task Guard<T>(Func<T, Task> handle, T offer, ILogger logger)
    {
        try
        {
            await handle(offer).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            logger.LogError(e, "a forwarded flow failed: {Offer}", offer);
        }
    }
}
