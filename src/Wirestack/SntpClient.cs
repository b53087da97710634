using System.Net;
using System.Net.Sockets;
using Wirestack.Sntp;
using Wirestack.Wire;

namespace Wirestack;

/// <summary>One successful time measurement.</summary>
/// <param name="Server">The server asked.</param>
/// <param name="Offset">How far the local clock is behind the server's (add it to local time).</param>
/// <param name="RoundTripDelay">Network round trip, server processing excluded.</param>
/// <param name="Stratum">The server's stratum.</param>
public sealed record SntpSample(IPEndPoint Server, TimeSpan Offset, TimeSpan RoundTripDelay, int Stratum);

/// <summary>
/// An SNTP client (RFC 4330; RFC 5905 client mode) over the stack, and a <see cref="TimeProvider"/> that tells the
/// network time: the local clock plus the last measured offset. Validates replies (server mode, stratum, origin
/// timestamp, leap indicator), honours kiss-o'-death codes, and resynchronises on a period with backoff on failure.
/// </summary>
public sealed class SntpClient : TimeProvider, IAsyncDisposable
{
    readonly NetworkStack _stack;
    readonly TimeProvider _local;
    SntpSession? _session;
    long _offsetTicks;
    int _synchronized;

    /// <summary>A client on <paramref name="stack"/> measuring against the local <paramref name="localClock"/> (system clock by default).</summary>
    public SntpClient(NetworkStack stack, TimeProvider? localClock = null)
    {
        _stack = stack;
        _local = localClock ?? System;
    }

    /// <summary>Server host name or address; null uses the NTP servers learned from DHCP, then time.google.com.</summary>
    public string? Server { get; init; }

    /// <summary>Time between synchronisations (the seed resyncs hourly).</summary>
    public TimeSpan Period { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Wait for a reply.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>True after the first successful measurement.</summary>
    public bool IsSynchronized => Volatile.Read(ref _synchronized) != 0;

    /// <summary>The offset applied to the local clock.</summary>
    public TimeSpan Offset => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    /// <summary>Raised after each successful synchronisation (on a thread-pool thread).</summary>
    public event EventHandler<SntpSample>? Synchronized;

    /// <summary>Raised when a synchronisation attempt fails, with the reason (on a thread-pool thread).</summary>
    public event EventHandler<Exception>? Failed;

    /// <inheritdoc/>
    public override DateTimeOffset GetUtcNow() => _local.GetUtcNow() + Offset;

    /// <inheritdoc/>
    public override long GetTimestamp() => _local.GetTimestamp();

    /// <inheritdoc/>
    public override long TimestampFrequency => _local.TimestampFrequency;

    /// <summary>
    /// The client's state machine in the engine, made on first use: <see cref="Server"/>, <see cref="Period"/> and
    /// <see cref="Timeout"/> are set by then. It runs on the engine's thread and calls back there.
    /// </summary>
    SntpSession Session => LazyInitializer.EnsureInitialized(ref _session, () => new SntpSession(
        new SntpSettings(Server, Period.Ticks / TimeSpan.TicksPerMicrosecond, Timeout.Ticks / TimeSpan.TicksPerMicrosecond, _local),
        OnSynchronized, OnFailed));

    /// <summary>Starts synchronising in the background: at once, then every <see cref="Period"/>, backing off after failures.</summary>
    public void Start()
    {
        var session = Session;
        _stack.Post(engine =>
        {
            engine.AddService(session.Attach(engine));
            session.Start();
        });
    }

    /// <summary>Measures once against the configured or learned server and applies the offset.</summary>
    /// <exception cref="TimeoutException">No valid reply in time.</exception>
    /// <exception cref="InvalidDataException">The server sent a kiss-o'-death or an unsynchronised reply.</exception>
    /// <exception cref="SocketException">No server to ask, or its name did not resolve.</exception>
    public async Task<SntpSample> SynchronizeAsync(CancellationToken cancellationToken = default)
    {
        var session = Session;
        var (sample, error) = await _stack.RunOperationAsync<(SntpSample?, Exception?)>((engine, complete) =>
        {
            engine.AddService(session.Attach(engine));
            session.Synchronize((sample, error) => complete((sample, error)));
            return null;
        }, cancellationToken).ConfigureAwait(false);
        return sample ?? throw error!;
    }

    // On the engine's thread: the offset is applied at once, the events are raised elsewhere.
    void OnSynchronized(SntpSample sample)
    {
        Interlocked.Exchange(ref _offsetTicks, sample.Offset.Ticks);
        Volatile.Write(ref _synchronized, 1);
        if (Synchronized is not null)
            ThreadPool.QueueUserWorkItem(_ => Synchronized?.Invoke(this, sample));
    }

    void OnFailed(Exception error)
    {
        if (Failed is not null)
            ThreadPool.QueueUserWorkItem(_ => Failed?.Invoke(this, error));
    }

    /// <summary>Checks a reply (RFC 4330 5) and computes offset and delay; null when it is not a reply to our request.</summary>
    internal static SntpSample? Evaluate(ReadOnlySpan<byte> reply, NtpTimestamp t1, TimeSpan elapsed, IPEndPoint server)
    {
        if (!NtpPacket.TryParse(reply, out var packet) || packet.Mode != NtpPacket.ModeServer || packet.OriginTimestamp != t1)
            return null;
        if (packet.Stratum == 0)
            throw new InvalidDataException($"SNTP server {server} sent kiss-o'-death '{packet.ReferenceCode}'.");
        if (packet.LeapIndicator == 3 || packet.Stratum > 15 || packet.TransmitTimestamp.IsZero)
            throw new InvalidDataException($"SNTP server {server} is not synchronised.");
        return Compute(t1, packet.ReceiveTimestamp, packet.TransmitTimestamp, elapsed, server, packet.Stratum);
    }

    /// <summary>
    /// RFC 4330 5: offset = ((T2 - T1) + (T3 - T4)) / 2, delay = (T4 - T1) - (T3 - T2), with T4 = T1 + the locally
    /// measured elapsed time, so local clock steps during the exchange do not distort it.
    /// </summary>
    internal static SntpSample Compute(NtpTimestamp t1, NtpTimestamp t2, NtpTimestamp t3, TimeSpan elapsed, IPEndPoint server, int stratum)
    {
        var serverTime = t3 - t2;
        var offset = ((t2 - t1) + (t3 - t1 - elapsed)) / 2;
        var delay = elapsed - serverTime;
        return new SntpSample(server, offset, delay < TimeSpan.Zero ? TimeSpan.Zero : delay, stratum);
    }

    /// <summary>Stops the background synchronisation.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _session) is not { } session)
            return;
        try
        {
            await _stack.InvokeAsync(engine =>
            {
                session.Stop();
                engine.RemoveService(session);
                return true;
            }).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // The stack stopped first, and the session with it.
        }
        catch (InvalidOperationException)
        {
        }
    }
}
