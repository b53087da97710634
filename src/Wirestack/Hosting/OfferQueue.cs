using System.Threading.Channels;

namespace Wirestack.Hosting;

/// <summary>
/// What the engine offers the application (flows, sessions, requests) until it takes them: bounded, written from
/// the engine's thread, read by the application; once closed, a taker gets <see cref="ObjectDisposedException"/>
/// naming the owner. The full-queue rule is the owner's: drop the oldest (with a callback that answers it) or
/// refuse the new one.
/// </summary>
internal sealed class OfferQueue<T>
{
    readonly Channel<T> _channel;
    readonly string _owner;
    readonly int _capacity;
    int _closed;

    public OfferQueue(string owner, int capacity, BoundedChannelFullMode fullMode, Action<T>? dropped = null)
    {
        _owner = owner;
        _capacity = capacity;
        var options = new BoundedChannelOptions(capacity) { SingleWriter = true, FullMode = fullMode };
        _channel = dropped is null ? Channel.CreateBounded<T>(options) : Channel.CreateBounded(options, dropped);
    }

    /// <summary>True while an offer would be queued (the engine's thread is the only writer, so it stays true until it offers).</summary>
    public bool HasRoom => _closed == 0 && _channel.Reader.Count < _capacity;

    /// <summary>Offers <paramref name="item"/>; false when the queue is full and refuses new items, or is closed.</summary>
    public bool TryOffer(T item) => _channel.Writer.TryWrite(item);

    /// <exception cref="ObjectDisposedException">The queue was closed (its owner disposed).</exception>
    public async ValueTask<T> TakeAsync(CancellationToken cancellationToken)
    {
        if (_closed != 0)
            throw new ObjectDisposedException(_owner);
        try
        {
            return await _channel.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(_owner);
        }
    }

    /// <summary>Closes the queue; true the first time only (the owner's disposal then undoes its part).</summary>
    public bool TryClose()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
            return false;
        _channel.Writer.TryComplete();
        return true;
    }
}
