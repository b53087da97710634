namespace Wirestack.Hosting;

/// <summary>
/// An auto-reset signal one thread sets and one waiter awaits. A set with no waiter is remembered, so a wake-up
/// between checking a condition and waiting is never lost.
/// </summary>
internal sealed class AsyncSignal
{
    TaskCompletionSource? _waiter;
    int _signaled;

    public void Set()
    {
        Volatile.Write(ref _signaled, 1);
        Interlocked.Exchange(ref _waiter, null)?.TrySetResult();
    }

    public Task WaitAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _signaled, 0) == 1)
            return Task.CompletedTask;
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _waiter, waiter);
        if (Interlocked.Exchange(ref _signaled, 0) == 1)
        {
            Interlocked.CompareExchange(ref _waiter, null, waiter);
            return Task.CompletedTask;
        }
        return cancellationToken.CanBeCanceled ? waiter.Task.WaitAsync(cancellationToken) : waiter.Task;
    }
}
