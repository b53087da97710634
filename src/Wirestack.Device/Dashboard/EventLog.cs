using System.Text.Json.Serialization;
using System.Threading.Channels;

namespace Wirestack.Device.Dashboard;

/// <summary>One entry of the device's event log (the seed's shape).</summary>
internal sealed record DeviceEvent(
    [property: JsonPropertyName("time")] long Time,
    [property: JsonPropertyName("type")] int Type,
    [property: JsonPropertyName("prio")] int Priority,
    [property: JsonPropertyName("text")] string Text);

/// <summary>The newest events (bounded), pages of them, and live subscribers for the page's event stream.</summary>
internal sealed class EventLog
{
    const int Capacity = 1000;
    readonly LinkedList<DeviceEvent> _events = new();
    readonly List<Channel<DeviceEvent>> _subscribers = [];
    readonly object _lock = new();

    /// <summary>Records an event: type 0 network, 1 system, 2 security, 3 firmware; priority 0 low … 2 high.</summary>
    public void Add(int type, int priority, string text)
    {
        var entry = new DeviceEvent(DateTimeOffset.UtcNow.ToUnixTimeSeconds(), type, priority, text);
        lock (_lock)
        {
            _events.AddFirst(entry);
            if (_events.Count > Capacity)
                _events.RemoveLast();
            foreach (var subscriber in _subscribers)
                subscriber.Writer.TryWrite(entry);
        }
    }

    /// <summary>Page <paramref name="page"/> (1-based, newest first) of <paramref name="size"/> events, and the total.</summary>
    public (IReadOnlyList<DeviceEvent> Page, int Total) Get(int page, int size = 20)
    {
        lock (_lock)
            return (_events.Skip((Math.Max(page, 1) - 1) * size).Take(size).ToList(), _events.Count);
    }

    public ChannelReader<DeviceEvent> Subscribe(CancellationToken until)
    {
        var channel = Channel.CreateBounded<DeviceEvent>(new BoundedChannelOptions(100) { FullMode = BoundedChannelFullMode.DropOldest });
        lock (_lock)
            _subscribers.Add(channel);
        until.Register(() =>
        {
            lock (_lock)
                _subscribers.Remove(channel);
            channel.Writer.TryComplete();
        });
        return channel.Reader;
    }
}
