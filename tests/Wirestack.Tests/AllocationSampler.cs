using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace Wirestack.Tests;

/// <summary>
/// Names what a process allocates while it listens: the runtime reports a sampled allocation (its type) about every
/// 100 KB, so a steady-state allocation test that fails can say which type it was instead of only how many bytes.
/// </summary>
sealed class AllocationSampler : EventListener
{
    const EventKeywords GarbageCollection = (EventKeywords)0x1;
    readonly ConcurrentDictionary<string, int> _samples = new();
    volatile bool _listening;

    public void Start() => _listening = true;

    public void Stop() => _listening = false;

    /// <summary>The sampled types, most frequent first, as "Type ×N".</summary>
    public string Summary() =>
        _samples.IsEmpty
            ? "no sampled allocation"
            : string.Join(", ", _samples.OrderByDescending(s => s.Value).Take(6).Select(s => $"{s.Key} ×{s.Value}"));

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
            EnableEvents(source, EventLevel.Verbose, GarbageCollection);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!_listening || e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.PayloadNames is null)
            return;
        int index = e.PayloadNames.IndexOf("TypeName");
        if (index >= 0 && e.Payload?[index] is string type)
            _samples.AddOrUpdate(type, 1, (_, n) => n + 1);
    }
}
