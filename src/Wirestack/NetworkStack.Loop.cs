using Wirestack.Engine;
using Wirestack.Hosting;

namespace Wirestack;

// The event loop: the one thread the engine runs on, the work other threads post to it, and how it waits.
public sealed partial class NetworkStack
{
    /// <summary>
    /// Runs <paramref name="work"/> on the event loop and completes with its result: inline when already on the loop
    /// (or before it started, when nothing else touches the engine), else posted. No caller thread ever waits on the loop.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The stack is stopping.</exception>
    internal Task<T> InvokeAsync<T>(Func<NetworkEngine, T> work)
    {
        ThrowIfFailed();
        ObjectDisposedException.ThrowIf(_stopping, this);
        if (Thread.CurrentThread == _loop || Volatile.Read(ref _started) == 0)
        {
            try
            {
                return Task.FromResult(work(_engine));
            }
            catch (Exception e)
            {
                return Task.FromException<T>(e);
            }
        }
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _commands.Enqueue(engine =>
        {
            try
            {
                completion.TrySetResult(work(engine));
            }
            catch (Exception e)
            {
                completion.TrySetException(e);
            }
        });
        WakeLoop();
        if (_stopping)
            completion.TrySetException(new ObjectDisposedException(nameof(NetworkStack)));
        return completion.Task;
    }

    /// <summary>
    /// Starts an operation of an engine service on the loop and completes when the service answers, later, on the loop
    /// (<paramref name="start"/> gets the engine and the answer's callback, and returns how to abandon the operation).
    /// Cancelling the token completes the task at once and abandons the operation on the loop; a stack that stops
    /// first fails it with <see cref="ObjectDisposedException"/>.
    /// </summary>
    internal async Task<T> RunOperationAsync<T>(Func<NetworkEngine, Action<T>, Action?> start, CancellationToken cancellationToken)
    {
        ThrowIfFailed();
        cancellationToken.ThrowIfCancellationRequested();
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Action? abandon = null;
        if (!TryPost(engine =>
            {
                if (completion.Task.IsCompleted)
                    return;
                try
                {
                    abandon = start(engine, answer => completion.TrySetResult(answer));
                }
                catch (Exception e)
                {
                    completion.TrySetException(e);
                }
            }))
            throw new ObjectDisposedException(nameof(NetworkStack));
        // Both the start and the abandonment run on the loop, in the order posted: abandon is set when it is read.
        using var registration = cancellationToken.UnsafeRegister(_ =>
        {
            if (completion.TrySetCanceled(cancellationToken))
                TryPost(_ => abandon?.Invoke());
        }, null);
        if (await Task.WhenAny(completion.Task, _stopped.Task).ConfigureAwait(false) != completion.Task)
            throw new ObjectDisposedException(nameof(NetworkStack));
        return await completion.Task.ConfigureAwait(false);
    }

    /// <summary>Posts fire-and-forget work to the loop (dropped if the stack is stopping).</summary>
    internal void Post(Action<NetworkEngine> work) => TryPost(work);

    /// <summary>
    /// Posts work to the loop; false when the stack is stopping. Work posted while the loop stops still runs: the loop
    /// drains its queue on the way out, and <see cref="DisposeAsync"/> drains it once more after the loop is gone.
    /// </summary>
    internal bool TryPost(Action<NetworkEngine> work)
    {
        if (_stopping)
            return false;
        _commands.Enqueue(work);
        WakeLoop();
        return true;
    }

    /// <summary>1 while the loop is (about to be) asleep in the device's wait: only then is a wake-up worth a system call.</summary>
    int _loopAsleep;

    /// <summary>Wakes the loop for work just queued, if it sleeps; an awake loop finds the work on its next turn.</summary>
    void WakeLoop()
    {
        if (Volatile.Read(ref _loopAsleep) != 0 && Interlocked.Exchange(ref _loopAsleep, 0) != 0)
            _wakeup.Signal();
    }

    /// <summary>How long the loop now looks for traffic after the last it handled (tests watch it learn).</summary>
    internal long BusyPollWindowMicroseconds => _busyPoll.WindowMicroseconds;

    void Run()
    {
        try
        {
            while (!_stopping)
            {
                long now = NowMicroseconds;
                _engine.SetTime(now);
                bool commands = false;
                while (_commands.TryDequeue(out var command))
                {
                    RunCommand(command);
                    commands = true;
                }
                long sentBefore = _engine.Counters[StackCounter.FramesSent];
                bool received = _engine.Poll(now) > 0;
                PublishStateChanges();
                if (!_commands.IsEmpty || _stopping)
                    continue;
                long polledAt = RealMicroseconds;
                // Traffic worth staying awake for is traffic the stack answers or an application's work: frames that
                // only pass by (broadcast chatter on a busy LAN, a flood of junk) must not keep a core busy.
                if (commands || _engine.Counters[StackCounter.FramesSent] != sentBefore)
                    _busyPoll.Activity(polledAt);
                if (_busyPoll.KeepsLooking(polledAt))
                {
                    if (!commands && !received)
                        Thread.Yield(); // only looking: a thread with work to do on this core goes first
                    continue;
                }
                now = NowMicroseconds;
                long? deadline = _engine.NextDeadlineMicroseconds;
                long waitMicroseconds = deadline is { } d ? d - now : MaxWaitMilliseconds * 1000L;
                int timeout = (int)Math.Clamp((waitMicroseconds + 999) / 1000, 0, MaxWaitMilliseconds);
                if (timeout > 0)
                {
                    // Announce the sleep, then look at the queue once more: work queued before the announcement is
                    // seen here, work queued after it finds the flag and signals (both sides use full fences).
                    Interlocked.Exchange(ref _loopAsleep, 1);
                    if (_commands.IsEmpty)
                        _device.WaitForFrames(timeout, _wakeup);
                    Volatile.Write(ref _loopAsleep, 0);
                    _wakeup.Reset();
                }
            }
        }
        catch (Exception e)
        {
            // An exception here is a bug in the stack: record it so callers see it instead of a silent hang.
            Volatile.Write(ref _failure, e);
            _stopping = true;
            lock (_readyLock)
                _ready.TrySetException(new InvalidOperationException("The stack's event loop failed; the stack is stopped.", e));
            System.Diagnostics.Trace.TraceError($"Wirestack event loop failed: {e}");
        }
        finally
        {
            while (_commands.TryDequeue(out var command))
                command(_engine);
            _engine.Shutdown();
            _stopped.TrySetResult();
        }
    }

    static long RealMicroseconds => System.Diagnostics.Stopwatch.GetElapsedTime(0).Ticks / TimeSpan.TicksPerMicrosecond;

    /// <summary>
    /// Runs one posted command. A command that throws fails only itself (awaited commands already hand their
    /// exception to their caller; a fire-and-forget one is traced): the stack goes on.
    /// </summary>
    void RunCommand(Action<NetworkEngine> command)
    {
        try
        {
            command(_engine);
        }
        catch (Exception e)
        {
            System.Diagnostics.Trace.TraceError($"Wirestack: a posted command failed: {e}");
        }
    }
}
