using Wirestack.Hosting;

namespace Wirestack.Tests;

/// <summary>The signal a connection's reader or writer waits on: no lost wake-ups, cancellation, no garbage per wait.</summary>
public sealed class AsyncSignalTests
{
    [Fact(DisplayName = "AsyncSignal: a set before the wait is remembered; a set during it completes it; waits reuse one source")]
    public async Task SetBeforeAndDuringWait()
    {
        var signal = new AsyncSignal();
        signal.Set();
        Assert.True(signal.WaitAsync(CancellationToken.None).IsCompletedSuccessfully);
        for (int i = 0; i < 100; i++)
        {
            var wait = signal.WaitAsync(TestContext.Current.CancellationToken);
            Assert.False(wait.IsCompleted);
            _ = Task.Run(signal.Set, TestContext.Current.CancellationToken);
            await wait;
            // The set is also remembered: the next wait may return at once (a waiter re-checks its condition).
            _ = signal.WaitAsync(CancellationToken.None);
        }
    }

    [Fact(DisplayName = "AsyncSignal: a cancelled wait throws OperationCanceledException, and the signal works afterwards")]
    public async Task CancelledWait()
    {
        var signal = new AsyncSignal();
        using var cancellation = new CancellationTokenSource();
        var wait = signal.WaitAsync(cancellation.Token);
        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await wait);
        Assert.True(signal.WaitAsync(new CancellationToken(canceled: true)).IsCanceled);
        var next = signal.WaitAsync(CancellationToken.None);
        signal.Set();
        await next;
    }

    [Fact(DisplayName = "AsyncSignal: set and wait racing from two threads never lose a wake-up (100,000 rounds)")]
    public async Task NoLostWakeUps()
    {
        var signal = new AsyncSignal();
        const int Rounds = 100_000;
        int produced = 0;
        var producer = Task.Run(() =>
        {
            for (int i = 0; i < Rounds; i++)
            {
                Interlocked.Increment(ref produced);
                signal.Set();
            }
        }, TestContext.Current.CancellationToken);
        int consumed = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (consumed < Rounds)
        {
            int available = Volatile.Read(ref produced);
            if (available > consumed)
            {
                consumed = available;
                continue;
            }
            await signal.WaitAsync(timeout.Token);
        }
        await producer;
        Assert.Equal(Rounds, consumed);
    }
}
