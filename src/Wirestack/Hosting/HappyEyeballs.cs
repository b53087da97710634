using System.Net;
using System.Net.Sockets;

namespace Wirestack.Hosting;

/// <summary>
/// Connection attempts to a host's addresses as RFC 8305 describes: the families interleaved (section 4, the
/// preferred one first as the resolver orders them), a new attempt every 250 ms while earlier ones are pending
/// (section 5's Connection Attempt Delay) or at once when one fails, and the first to complete wins; the others are
/// abandoned and closed.
/// </summary>
internal static class HappyEyeballs
{
    public static readonly TimeSpan AttemptDelay = TimeSpan.FromMilliseconds(250);

    /// <summary>RFC 8305 4: alternate families, keeping each family's order and starting with the first address's.</summary>
    public static List<IPAddress> Interleave(IReadOnlyList<IPAddress> addresses)
    {
        if (addresses.Count == 0)
            return [];
        var first = addresses[0].AddressFamily;
        var same = new Queue<IPAddress>(addresses.Where(a => a.AddressFamily == first));
        var other = new Queue<IPAddress>(addresses.Where(a => a.AddressFamily != first));
        var ordered = new List<IPAddress>(addresses.Count);
        while (same.Count > 0 || other.Count > 0)
        {
            if (same.TryDequeue(out var a))
                ordered.Add(a);
            if (other.TryDequeue(out var b))
                ordered.Add(b);
        }
        return ordered;
    }

    public static async Task<TcpConnection> ConnectAsync(NetworkStack stack, IReadOnlyList<IPAddress> addresses, int port, CancellationToken cancellationToken)
    {
        var ordered = Interleave(addresses);
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pending = new List<Task<TcpConnection>>();
        SocketException? last = null;
        int next = 0;
        try
        {
            while (true)
            {
                if (next < ordered.Count)
                    pending.Add(stack.ConnectTcpAsync(new IPEndPoint(ordered[next++], port), abandon.Token));
                if (pending.Count == 0)
                    throw last ?? new SocketException((int)SocketError.HostNotFound);
                var delay = next < ordered.Count ? Task.Delay(AttemptDelay, stack.Options.TimeProvider, abandon.Token) : null;
                var done = delay is null ? await Task.WhenAny(pending).ConfigureAwait(false)
                    : await Task.WhenAny([.. pending, delay]).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (done == delay)
                    continue;
                var attempt = (Task<TcpConnection>)done;
                pending.Remove(attempt);
                if (attempt.IsCompletedSuccessfully)
                    return attempt.Result;
                if (attempt.Exception?.InnerException is SocketException failure)
                    last = failure;
                else
                    await attempt.ConfigureAwait(false); // rethrows what is not a connection failure
            }
        }
        finally
        {
            await abandon.CancelAsync().ConfigureAwait(false);
            // Attempts still running are abandoned; one that completes anyway is closed rather than leaked.
            foreach (var loser in pending)
            {
                _ = loser.ContinueWith(static t =>
                {
                    if (t.IsCompletedSuccessfully)
                        _ = t.Result.DisposeAsync();
                    else
                        _ = t.Exception;
                }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
    }
}
