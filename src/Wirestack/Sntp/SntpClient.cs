using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
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
    readonly CancellationTokenSource _stop = new();
    Task? _loop;
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

    /// <summary>Raised after each successful synchronisation.</summary>
    public event EventHandler<SntpSample>? Synchronized;

    /// <summary>Raised when a synchronisation attempt fails (with the reason).</summary>
    public event EventHandler<Exception>? Failed;

    /// <inheritdoc/>
    public override DateTimeOffset GetUtcNow() => _local.GetUtcNow() + Offset;

    /// <inheritdoc/>
    public override long GetTimestamp() => _local.GetTimestamp();

    /// <inheritdoc/>
    public override long TimestampFrequency => _local.TimestampFrequency;

    /// <summary>Starts synchronising in the background: at once, then every <see cref="Period"/>, backing off after failures.</summary>
    public void Start() => _loop ??= Task.Run(RunAsync);

    async Task RunAsync()
    {
        var retry = TimeSpan.FromSeconds(15);
        while (!_stop.IsCancellationRequested)
        {
            TimeSpan wait;
            try
            {
                await SynchronizeAsync(_stop.Token).ConfigureAwait(false);
                retry = TimeSpan.FromSeconds(15);
                wait = Period;
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is SocketException or TimeoutException or InvalidDataException or OperationCanceledException)
            {
                Failed?.Invoke(this, e);
                wait = retry < Period ? retry : Period;
                retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, Period.Ticks));
            }
            try
            {
                await Task.Delay(wait, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Measures once against the configured or learned server and applies the offset.</summary>
    /// <exception cref="TimeoutException">No valid reply in time.</exception>
    /// <exception cref="InvalidDataException">The server sent a kiss-o'-death or an unsynchronised reply.</exception>
    public async Task<SntpSample> SynchronizeAsync(CancellationToken cancellationToken = default)
    {
        var server = await ResolveServerAsync(cancellationToken).ConfigureAwait(false);
        var sample = await MeasureAsync(server, cancellationToken).ConfigureAwait(false);
        Interlocked.Exchange(ref _offsetTicks, sample.Offset.Ticks);
        Volatile.Write(ref _synchronized, 1);
        Synchronized?.Invoke(this, sample);
        return sample;
    }

    /// <summary>The server asked when none is set or learned.</summary>
    const string DefaultServer = "time.google.com";

    async Task<IPEndPoint> ResolveServerAsync(CancellationToken cancellationToken)
    {
        if (Server is { } host)
            return new IPEndPoint((await _stack.Dns.ResolveAsync(host, cancellationToken).ConfigureAwait(false))[0], 123);
        var learned = _stack.NtpServers;
        if (learned.Count > 0)
            return new IPEndPoint(learned[0], 123);
        // Say what is missing, not the resolver's "try again": nothing can be asked until a server is learned or given.
        if (_stack.DnsServers.Count == 0)
            throw new SocketException((int)SocketError.TryAgain, $"no SNTP server learned and no DNS server to resolve {DefaultServer}: set Server to an address, or give the stack a DNS server");
        return new IPEndPoint((await _stack.Dns.ResolveAsync(DefaultServer, cancellationToken).ConfigureAwait(false))[0], 123);
    }

    async Task<SntpSample> MeasureAsync(IPEndPoint server, CancellationToken cancellationToken)
    {
        using var socket = await _stack.BindUdpAsync().ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        var request = new byte[NtpPacket.Length];
        // RFC 4330 5 / RFC 5905 9.1: the transmit timestamp doubles as a nonce the reply must echo; its low bits are random.
        var t1 = NtpTimestamp.FromDateTime(_local.GetUtcNow());
        t1 = new NtpTimestamp((t1.Value & ~0xFFFFUL) | (uint)RandomNumberGenerator.GetInt32(65536));
        long t1Stamp = _local.GetTimestamp();
        NtpPacket.WriteRequest(request, t1);
        try
        {
            await socket.SendToAsync(request, server, timeout.Token).ConfigureAwait(false);
            while (true)
            {
                var reply = await socket.ReceiveAsync(timeout.Token).ConfigureAwait(false);
                var elapsed = _local.GetElapsedTime(t1Stamp);
                if (!reply.RemoteEndPoint.Equals(server))
                    continue;
                if (Evaluate(reply.Buffer, t1, elapsed, server) is { } sample)
                    return sample;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"No valid SNTP reply from {server} within {Timeout.TotalSeconds:0.#} s.");
        }
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
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
            await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
