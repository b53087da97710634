using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Wirestack.Dns;
using Wirestack.Engine;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Sntp;

/// <summary>What SNTP needs from the engine beyond ports: the servers learned, and the DNS client to find one by name.</summary>
internal interface ISntpHost : IServiceHost
{
    /// <summary>Servers from DHCP (option 42) and DHCPv6 (RFC 4075).</summary>
    IReadOnlyList<IpAddress> NtpServers { get; }

    bool HasDnsServers { get; }

    DnsClient Dns { get; }
}

/// <summary>How one <see cref="SntpClient"/> measures: the server (null: learned, else <see cref="SntpSession.DefaultServer"/>), the period, the wait.</summary>
internal sealed record SntpSettings(string? Server, long PeriodMicroseconds, long TimeoutMicroseconds, TimeProvider LocalClock);

/// <summary>
/// One SNTP client in the engine (RFC 4330; RFC 5905 client mode) on the engine's clock: measurements (server
/// chosen, then one request and its reply, timed out on the engine clock) and, once started, the schedule: at once,
/// then every period, backing off from 15 s (doubling, up to the period) after a failure. What it learns goes to its
/// facade, <see cref="SntpClient"/>, through callbacks on the engine's thread.
/// </summary>
internal sealed class SntpSession(SntpSettings settings, Action<SntpSample> synchronized, Action<Exception> failed) : IEngineService, IUdpReceiver
{
    /// <summary>The server asked when none is set or learned.</summary>
    public const string DefaultServer = "time.google.com";

    public const ushort Port = 123;

    const long FirstRetry = 15_000_000;

    readonly List<Action<SntpSample?, Exception?>> _waiting = [];
    ISntpHost? _host;
    bool _scheduled;
    long _nextSync = long.MaxValue;
    long _retry = FirstRetry;

    // The measurement in flight: resolving (a DNS work), or asking (a port, a server, the request's timestamp).
    bool _measuring;
    DnsWork? _resolving;
    UdpBinding? _binding;
    IpAddress _server;
    NtpTimestamp _t1;
    long _sentAt;
    long _deadline = long.MaxValue;

    /// <summary>Joins the session to its engine (on the engine's thread, before its first use there).</summary>
    public SntpSession Attach(ISntpHost host)
    {
        _host ??= host;
        return this;
    }

    ISntpHost Host => _host ?? throw new InvalidOperationException("The SNTP session is not attached to an engine.");

    public long NextDeadline => Math.Min(_deadline, _measuring ? long.MaxValue : _nextSync);

    public void Run(long now)
    {
        if (_measuring && now >= _deadline)
            Conclude(null, new TimeoutException($"No valid SNTP reply from {_server} within {settings.TimeoutMicroseconds / 1e6:0.#} s."));
        if (_scheduled && !_measuring && now >= _nextSync)
            Measure();
    }

    /// <summary>Synchronises on the schedule from now on.</summary>
    public void Start()
    {
        _scheduled = true;
        _nextSync = Math.Min(_nextSync, Host.Now);
    }

    /// <summary>Measures once (joining a measurement in flight); <paramref name="done"/> comes on the engine's thread.</summary>
    public void Synchronize(Action<SntpSample?, Exception?> done)
    {
        _waiting.Add(done);
        if (!_measuring)
            Measure();
    }

    /// <summary>Stops the schedule and abandons what is in flight (its waiters hear the stack is going).</summary>
    public void Stop()
    {
        _scheduled = false;
        _nextSync = long.MaxValue;
        if (_measuring)
            Conclude(null, new ObjectDisposedException(nameof(SntpClient)));
    }

    void Measure()
    {
        _measuring = true;
        if (settings.Server is { } name)
        {
            if (IPAddress.TryParse(name, out var literal))
                Ask(IpAddress.FromIPAddress(literal));
            else
                Resolve(name);
            return;
        }
        if (Host.NtpServers.Count > 0)
        {
            Ask(Host.NtpServers[0]);
            return;
        }
        // Say what is missing, not the resolver's "try again": nothing can be asked until a server is learned or given.
        if (!Host.HasDnsServers)
        {
            Conclude(null, new SocketException((int)SocketError.TryAgain,
                $"no SNTP server learned and no DNS server to resolve {DefaultServer}: set Server to an address, or give the stack a DNS server"));
            return;
        }
        Resolve(DefaultServer);
    }

    void Resolve(string name) =>
        _resolving = Host.Dns.Resolve(name, DnsQuerySettings.Default, (addresses, error) =>
        {
            _resolving = null;
            if (!_measuring)
                return;
            if (addresses.Length > 0)
                Ask(IpAddress.FromIPAddress(addresses[0]));
            else
                Conclude(null, new SocketException((int)error));
        });

    void Ask(IpAddress server)
    {
        _server = server;
        try
        {
            _binding = Host.Bind(this);
        }
        catch (SocketException e)
        {
            Conclude(null, e);
            return;
        }
        var request = new byte[NtpPacket.Length];
        // RFC 4330 5 / RFC 5905 9.1: the transmit timestamp doubles as a nonce the reply must echo; its low bits are random.
        var t1 = NtpTimestamp.FromDateTime(settings.LocalClock.GetUtcNow());
        _t1 = new NtpTimestamp((t1.Value & ~0xFFFFUL) | (uint)RandomNumberGenerator.GetInt32(65536));
        NtpPacket.WriteRequest(request, _t1);
        _sentAt = Host.Now;
        _deadline = _sentAt + settings.TimeoutMicroseconds;
        var error = Host.Send(_binding, server, Port, request);
        if (error != SocketError.Success)
            Conclude(null, new SocketException((int)error));
    }

    public bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress remoteAddress, ushort remotePort, IpAddress localAddress)
    {
        if (!_measuring || remoteAddress != _server || remotePort != Port)
            return true;
        var elapsed = TimeSpan.FromTicks((Host.Now - _sentAt) * TimeSpan.TicksPerMicrosecond);
        var server = new IPEndPoint(_server.ToIPAddress(), Port);
        try
        {
            if (SntpClient.Evaluate(payload, _t1, elapsed, server) is { } sample)
                Conclude(sample, null);
        }
        catch (InvalidDataException e)
        {
            Conclude(null, e);
        }
        return true;
    }

    public void DeliverError(SocketError error, IpAddress remoteAddress, ushort remotePort)
    {
        if (_measuring && remoteAddress == _server && remotePort == Port)
            Conclude(null, new SocketException((int)error));
    }

    void Conclude(SntpSample? sample, Exception? error)
    {
        _measuring = false;
        _resolving?.Cancel();
        _resolving = null;
        if (_binding is not null)
            Host.Unbind(_binding);
        _binding = null;
        _deadline = long.MaxValue;
        if (_scheduled)
        {
            if (sample is not null)
                _retry = FirstRetry;
            _nextSync = Host.Now + (sample is not null ? settings.PeriodMicroseconds : Math.Min(_retry, settings.PeriodMicroseconds));
            if (sample is null)
                _retry = Math.Min(_retry * 2, settings.PeriodMicroseconds);
        }
        if (sample is not null)
            synchronized(sample);
        else if (error is not ObjectDisposedException)
            failed(error!);
        var waiting = _waiting.ToArray();
        _waiting.Clear();
        foreach (var done in waiting)
            done(sample, error);
    }
}
