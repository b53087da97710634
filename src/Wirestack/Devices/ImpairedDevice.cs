using System.Buffers;
using Wirestack.Wire;

namespace Wirestack.Devices;

/// <summary>What an <see cref="ImpairedDevice"/> does to the frames it receives. Rates are probabilities 0..1.</summary>
public sealed record ImpairmentOptions
{
    /// <summary>Seed of the random source: the same seed and inputs give the same impairments.</summary>
    public int Seed { get; init; }
    /// <summary>Probability a frame is lost.</summary>
    public double LossRate { get; init; }
    /// <summary>Probability a frame is delivered twice.</summary>
    public double DuplicationRate { get; init; }
    /// <summary>Probability a frame is held back by <see cref="ReorderDelayMicroseconds"/> so later frames pass it.</summary>
    public double ReorderRate { get; init; }
    /// <summary>Extra delay of a reordered frame.</summary>
    public long ReorderDelayMicroseconds { get; init; } = 2_000;
    /// <summary>Probability one bit of a frame is flipped.</summary>
    public double CorruptionRate { get; init; }
    /// <summary>Fixed delay of every frame (one-way latency).</summary>
    public long DelayMicroseconds { get; init; }
    /// <summary>Uniform jitter added to the delay, ± this much.</summary>
    public long JitterMicroseconds { get; init; }
    /// <summary>Bottleneck rate in bits per second; 0 for none.</summary>
    public long RateBitsPerSecond { get; init; }
    /// <summary>Bytes the bottleneck queue holds before it drops frames (tail drop).</summary>
    public int QueueLimitBytes { get; init; } = 256 * 1024;

    internal void Validate()
    {
        foreach (var (name, rate) in new[] { (nameof(LossRate), LossRate), (nameof(DuplicationRate), DuplicationRate), (nameof(ReorderRate), ReorderRate), (nameof(CorruptionRate), CorruptionRate) })
        {
            if (rate is < 0 or > 1 || double.IsNaN(rate))
                throw new ArgumentOutOfRangeException(name, rate, "A rate is a probability from 0 to 1.");
        }
        if (DelayMicroseconds < 0 || JitterMicroseconds < 0 || ReorderDelayMicroseconds < 0 || RateBitsPerSecond < 0 || QueueLimitBytes <= 0)
            throw new ArgumentOutOfRangeException(nameof(DelayMicroseconds), "Delays, rate and queue limit cannot be negative.");
    }
}

/// <summary>
/// Wraps a device and impairs the frames it receives, reproducibly from a seed: loss, duplication, reordering,
/// delay with jitter, bit corruption and a rate-limited bottleneck queue. Wrap both ends of a link to impair both
/// directions. Sent frames pass through untouched.
/// </summary>
public sealed class ImpairedDevice : INetworkDevice, ISendOffloads
{
    readonly INetworkDevice _inner;
    readonly ImpairmentOptions _options;
    readonly Random _random;
    readonly PriorityQueue<HeldFrame, (long Due, long Sequence)> _held = new();
    readonly byte[] _scratch = new byte[65536 + 64];
    long _sequence;
    long _linkFreeAt;
    long _heldBytes;

    readonly record struct HeldFrame(byte[] Buffer, int Length);

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    public ImpairedDevice(INetworkDevice inner, ImpairmentOptions options)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _inner = inner;
        _options = options;
        _random = new Random(options.Seed);
    }

    /// <summary>Frames lost on purpose (including bottleneck tail drops).</summary>
    public long FramesLost { get; private set; }
    /// <summary>Frames delivered a second time.</summary>
    public long FramesDuplicated { get; private set; }
    /// <summary>Frames held back to reorder them.</summary>
    public long FramesReordered { get; private set; }
    /// <summary>Frames with a flipped bit.</summary>
    public long FramesCorrupted { get; private set; }

    /// <inheritdoc/>
    public LinkMedium Medium => _inner.Medium;
    /// <inheritdoc/>
    public int Mtu => _inner.Mtu;
    /// <inheritdoc/>
    public bool IsLinkUp => _inner.IsLinkUp;

    /// <inheritdoc/>
    public long? NextFrameDueMicroseconds
    {
        get
        {
            long? inner = _inner.NextFrameDueMicroseconds;
            if (!_held.TryPeek(out _, out var key))
                return inner;
            return inner is null ? key.Due : Math.Min(inner.Value, key.Due);
        }
    }

    /// <inheritdoc/>
    public bool TryReceive(Span<byte> buffer, long nowMicroseconds, out int length)
    {
        while (_inner.TryReceive(_scratch, nowMicroseconds, out int arrived))
            Admit(_scratch.AsSpan(0, arrived), nowMicroseconds);

        if (_held.TryPeek(out var frame, out var key) && key.Due <= nowMicroseconds)
        {
            _held.Dequeue();
            _heldBytes -= frame.Length;
            length = Math.Min(frame.Length, buffer.Length);
            frame.Buffer.AsSpan(0, length).CopyTo(buffer);
            ArrayPool<byte>.Shared.Return(frame.Buffer);
            return true;
        }
        length = 0;
        return false;
    }

    void Admit(ReadOnlySpan<byte> frame, long now)
    {
        if (Chance(_options.LossRate))
        {
            FramesLost++;
            return;
        }
        int copies = Chance(_options.DuplicationRate) ? 2 : 1;
        if (copies == 2)
            FramesDuplicated++;
        for (int i = 0; i < copies; i++)
        {
            if (_heldBytes + frame.Length > _options.QueueLimitBytes)
            {
                FramesLost++;
                continue;
            }
            long due = now + _options.DelayMicroseconds;
            if (_options.JitterMicroseconds > 0)
                due += _random.NextInt64(-_options.JitterMicroseconds, _options.JitterMicroseconds + 1);
            if (_options.RateBitsPerSecond > 0)
            {
                long serialization = frame.Length * 8L * 1_000_000 / _options.RateBitsPerSecond;
                _linkFreeAt = Math.Max(_linkFreeAt, now) + serialization;
                due = Math.Max(due, _linkFreeAt + _options.DelayMicroseconds);
            }
            if (Chance(_options.ReorderRate))
            {
                FramesReordered++;
                due += _options.ReorderDelayMicroseconds;
            }
            due = Math.Max(due, now);

            var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(frame.Length, 1));
            frame.CopyTo(buffer);
            if (frame.Length > 0 && Chance(_options.CorruptionRate))
            {
                FramesCorrupted++;
                buffer[_random.Next(frame.Length)] ^= (byte)(1 << _random.Next(8));
            }
            _held.Enqueue(new HeldFrame(buffer, frame.Length), (due, _sequence++));
            _heldBytes += frame.Length;
        }
    }

    bool Chance(double rate) => rate > 0 && _random.NextDouble() < rate;

    /// <inheritdoc/>
    public bool TrySend(ReadOnlySpan<byte> frame, long nowMicroseconds) => _inner.TrySend(frame, nowMicroseconds);

    // Impairment is on the way in; what goes out passes to the inner device as it is, offloaded frames included.
    // Nothing is offered on the way in: losses, delays and corruption act on wire-sized frames, not 64 KiB ones.
    ISendOffloads? INetworkDevice.SendOffloads => _inner.SendOffloads is null ? null : this;

    bool ISendOffloads.EnableSendOffloads() => _inner.SendOffloads!.EnableSendOffloads();

    bool ISendOffloads.TrySend(ReadOnlySpan<byte> frame, in VirtioNetHeader header, long nowMicroseconds) =>
        _inner.SendOffloads!.TrySend(frame, header, nowMicroseconds);

    /// <inheritdoc/>
    /// <remarks>Held frames are announced through <see cref="NextFrameDueMicroseconds"/>, which the engine folds into its deadline.</remarks>
    public void WaitForFrames(int timeoutMilliseconds, DeviceWakeup wakeup) => _inner.WaitForFrames(timeoutMilliseconds, wakeup);

    /// <inheritdoc/>
    public void Dispose()
    {
        while (_held.TryDequeue(out var frame, out _))
            ArrayPool<byte>.Shared.Return(frame.Buffer);
        _inner.Dispose();
    }
}
