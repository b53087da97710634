using System.Diagnostics.Metrics;

namespace Wirestack.Tunnel;

/// <summary>What the tunnel did with the flows it was offered, as instruments (exported on /metrics) and totals for the log.</summary>
internal sealed class TunnelCounters : IDisposable
{
    public const string MeterName = "Wirestack.Tunnel";

    readonly Meter _meter = new(MeterName);
    readonly Counter<long> _flows, _failures, _bytes, _denied, _dropped;
    readonly UpDownCounter<long> _active;

    public TunnelCounters()
    {
        _flows = _meter.CreateCounter<long>("wirestack.tunnel.flows", "{flow}", "Flows opened upstream, by transport.");
        _failures = _meter.CreateCounter<long>("wirestack.tunnel.failures", "{flow}", "Flows that could not be opened upstream, by transport and what the client was told.");
        _denied = _meter.CreateCounter<long>("wirestack.tunnel.denied", "{flow}", "Flows and datagrams to destinations outside --include or inside --exclude.");
        _dropped = _meter.CreateCounter<long>("wirestack.tunnel.dropped", "{datagram}", "Datagrams dropped because their session has no way upstream (the proxy carries no UDP or refused it).");
        _bytes = _meter.CreateCounter<long>("wirestack.tunnel.io", "By", "Bytes carried, by transport and direction (upstream: from the client).");
        _active = _meter.CreateUpDownCounter<long>("wirestack.tunnel.active", "{flow}", "Flows open now, by transport.");
    }

    public long FlowsOpened;
    public long FlowsFailed;

    public void Opened(string transport)
    {
        Interlocked.Increment(ref FlowsOpened);
        _flows.Add(1, new KeyValuePair<string, object?>("network.transport", transport));
        _active.Add(1, new KeyValuePair<string, object?>("network.transport", transport));
    }

    public void Closed(string transport) => _active.Add(-1, new KeyValuePair<string, object?>("network.transport", transport));

    public void Failed(string transport, string answer)
    {
        Interlocked.Increment(ref FlowsFailed);
        _failures.Add(1, new KeyValuePair<string, object?>("network.transport", transport), new KeyValuePair<string, object?>("wirestack.tunnel.answer", answer));
    }

    public void Dropped(string transport) => _dropped.Add(1, new KeyValuePair<string, object?>("network.transport", transport));

    public void Denied(string transport) => _denied.Add(1, new KeyValuePair<string, object?>("network.transport", transport));

    public void Carried(string transport, bool upstream, long bytes) =>
        _bytes.Add(bytes, new KeyValuePair<string, object?>("network.transport", transport), new KeyValuePair<string, object?>("network.io.direction", upstream ? "transmit" : "receive"));

    public void Dispose() => _meter.Dispose();
}
