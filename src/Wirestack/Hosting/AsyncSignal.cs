using System.Threading.Tasks.Sources;

namespace Wirestack.Hosting;

/// <summary>
/// An auto-reset signal one thread sets and one waiter at a time awaits. A set with no waiter is remembered, so a
/// wake-up between checking a condition and waiting is never lost (a waiter may instead wake once for nothing, and
/// re-checks). Waiting allocates nothing: the signal is its own reusable <see cref="IValueTaskSource"/>, so a
/// connection's reads and writes cost no garbage per wait. The waiter resumes on the thread pool, never on the
/// thread that set the signal (the engine's loop).
/// </summary>
internal sealed class AsyncSignal : IValueTaskSource
{
    const int Idle = 0, Waiting = 1;

    ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    CancellationTokenRegistration _cancellation;
    int _signaled;
    int _state;

    public void Set()
    {
        // Remembered first, then handed to a waiter if there is one: a waiter that published itself after this
        // looked finds the flag (see WaitAsync).
        Volatile.Write(ref _signaled, 1);
        if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
            _core.SetResult(true);
    }

    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _signaled, 0) == 1)
            return default;
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled(cancellationToken);
        _core.Reset();
        short version = _core.Version;
        Interlocked.Exchange(ref _state, Waiting);
        // A set that came between the first look and publishing the waiter: take the waiter back, unless that set
        // (or a later one) already completed it.
        if (Interlocked.Exchange(ref _signaled, 0) == 1 && Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
            return default;
        if (cancellationToken.CanBeCanceled)
            _cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((AsyncSignal)state!).Cancel(token), this);
        return new ValueTask(this, version);
    }

    void Cancel(CancellationToken token)
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
            _core.SetException(new OperationCanceledException(token));
    }

    void IValueTaskSource.GetResult(short token)
    {
        // The awaiter only looks at the task after WaitAsync returned, so the registration is in place by now.
        _cancellation.Dispose();
        _cancellation = default;
        _core.GetResult(token);
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
