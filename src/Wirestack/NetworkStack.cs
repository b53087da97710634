using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using Wirestack.Devices;
using Wirestack.Engine;
using Wirestack.Hosting;
using Wirestack.Wire;

namespace Wirestack;

/// <summary>Describes a change of <see cref="NetworkStack.State"/>.</summary>
public sealed class StackStateChangedEventArgs(StackState previous, StackState current) : EventArgs
{
    /// <summary>The state before.</summary>
    public StackState Previous { get; } = previous;
    /// <summary>The state now.</summary>
    public StackState Current { get; } = current;
}

/// <summary>
/// A running Wirestack: the protocol engine on its own event-loop thread, driving one device. All members are safe
/// to call from any thread; work is posted to the loop and awaited.
/// </summary>
public sealed partial class NetworkStack : IAsyncDisposable
{
    /// <summary>Name of the <see cref="System.Diagnostics.Metrics.Meter"/> the stack publishes its counters on.</summary>
    public const string MeterName = "Wirestack";

    /// <summary>Longest the loop sleeps without a deadline, so link changes are noticed.</summary>
    const int MaxWaitMilliseconds = 250;

    readonly INetworkDevice _device;
    readonly NetworkEngine _engine;
    readonly TimeProvider _time;
    readonly long _startTimestamp;
    readonly DeviceWakeup _wakeup = new();
    readonly BusyPollWindow _busyPoll;
    readonly ConcurrentQueue<Action<NetworkEngine>> _commands = new();
    readonly Thread _loop;
    readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Channel<EventArgs> _stateEvents = Channel.CreateUnbounded<EventArgs>(new() { SingleReader = true, SingleWriter = true });
    readonly Task _stateEventPump;
    readonly StackMeter _meter;
    readonly object _readyLock = new();
    TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    volatile StackState _state = StackState.Down;
    volatile bool _stopping;
    Exception? _failure;

    NetworkStack(INetworkDevice device, StackOptions options)
    {
        _device = device;
        _engine = new NetworkEngine(device, options);
        Options = options;
        // Looking for traffic is a matter of real time, whatever clock the protocols run on.
        _busyPoll = new BusyPollWindow(options.BusyPoll.Ticks / TimeSpan.TicksPerMicrosecond);
        _time = options.TimeProvider;
        _startTimestamp = _time.GetTimestamp();
        _meter = new StackMeter(_engine.Counters, device is TunTapDevice tunTap ? tunTap.Name : device.ToString() ?? "", options.MeterFactory);
        _stateEventPump = Task.Run(PumpStateEventsAsync);
        Dns = new DnsResolver(this);
        _addressing = Addressing.Take(_engine);
        _engine.DnsOverTcp = (server, query, timeout, done) => DnsResolver.ExchangeOverTcp(this, server, query, timeout, done);
        _loop = new Thread(Run) { Name = $"wirestack {device}", IsBackground = true };
    }

    /// <summary>
    /// Starts a stack on <paramref name="device"/>. The caller keeps ownership of the device and disposes it after the
    /// stack. Events raised before a handler is attached are not replayed; to see every one, use <see cref="Create"/>,
    /// attach the handlers, then <see cref="Start"/>.
    /// </summary>
    public static Task<NetworkStack> StartAsync(INetworkDevice device, StackOptions options, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var stack = Create(device, options);
        stack.Start();
        return Task.FromResult(stack);
    }

    /// <summary>Creates a stack without starting it, so event handlers can be attached first.</summary>
    public static NetworkStack Create(INetworkDevice device, StackOptions options)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        return new NetworkStack(device, options);
    }

    /// <summary>Starts the event loop of a stack made with <see cref="Create"/> (once; later calls do nothing).</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) == 0)
            _loop.Start();
    }

    int _started;

    /// <summary>The options the stack runs with.</summary>
    public StackOptions Options { get; }

    /// <summary>The current state.</summary>
    public StackState State => _state;

    /// <summary>
    /// Raised after each state change, in order, on a thread-pool thread (never on the event loop, so handlers may
    /// call back into the stack).
    /// </summary>
    public event EventHandler<StackStateChangedEventArgs>? StateChanged;

    /// <summary>
    /// Raised for interface events (lease acquired, renewed or lost; DNS and SNTP servers learned; address conflicts),
    /// in order, on a thread-pool thread.
    /// </summary>
    public event EventHandler<StackEventArgs>? EventRaised;

    /// <summary>The stack's DNS resolver (servers from DHCP or the static configuration).</summary>
    public DnsResolver Dns { get; }

    /// <summary>The stack's MAC address.</summary>
    public MacAddress MacAddress => _engine.MacAddress;

    /// <summary>The device's IP MTU.</summary>
    public int Mtu => _engine.Mtu;

    /// <summary>True when the device hands the stack TCP segments of up to 64 KiB with checksums left to the host (TAP or TUN with the virtio-net header).</summary>
    internal bool ReceiveOffloadsEnabled => _engine.ReceiveOffloadsEnabled;

    /// <summary>The IPv4 address, or null while there is none. A snapshot: never waits for the event loop.</summary>
    public IPAddress? Ipv4Address => _addressing.Address;

    /// <summary>The IPv4 prefix length, 0 while unconfigured.</summary>
    public int Ipv4PrefixLength => _addressing.PrefixLength;

    /// <summary>The default gateway, or null.</summary>
    public IPAddress? Gateway => _addressing.Gateway;

    /// <summary>The DNS servers in use: learned from DHCP (else configured), then those IPv6 routers advertise (RFC 8106).</summary>
    public IReadOnlyList<IPAddress> DnsServers => _addressing.DnsServers;

    /// <summary>The NTP servers learned from DHCP (option 42) and DHCPv6 (RFC 4075).</summary>
    public IReadOnlyList<IPAddress> NtpServers => _addressing.NtpServers;

    /// <summary>
    /// The IPv6 addresses with their states (tentative, preferred, deprecated, duplicate) and lifetimes; empty when IPv6
    /// is off. A snapshot.
    /// </summary>
    public IReadOnlyList<Ipv6AddressInfo> Ipv6Addresses => _addressing.Ipv6Addresses;

    /// <summary>
    /// DNS search domains (the DHCP lease's domain, DHCPv6's domain list, DNSSL from routers): a name without a dot
    /// is tried in each before it is tried alone.
    /// </summary>
    public IReadOnlyList<string> DnsSearchDomains => _addressing.SearchDomains;

    /// <summary>
    /// The name the mDNS responder answers for (<c>NAME.local</c>, or <c>NAME-2.local</c>… after a conflict), null
    /// without <see cref="StackOptions.Mdns"/>. The name is in use once <see cref="StackEventKind.MdnsHostNameClaimed"/> is raised.
    /// </summary>
    public string? MdnsHostName => Volatile.Read(ref _mdnsHostName);

    string? _mdnsHostName;

    /// <summary>The IPv6 default routers learned from router advertisements (or configured).</summary>
    public IReadOnlyList<IPAddress> Ipv6Routers => _addressing.Ipv6Routers;

    /// <summary>The current DHCP lease, or null (static configuration, or none yet).</summary>
    public DhcpLeaseInfo? Lease => _addressing.Lease is { } lease
        ? lease with { Remaining = TimeSpan.FromTicks(Math.Max(0, _addressing.LeaseExpiresAt - NowMicroseconds) * TimeSpan.TicksPerMicrosecond) }
        : null;

    /// <summary>What the addressing properties return: taken on the event loop whenever the configuration changes.</summary>
    sealed record Addressing(IPAddress? Address, int PrefixLength, IPAddress? Gateway, IReadOnlyList<IPAddress> DnsServers,
        IReadOnlyList<IPAddress> NtpServers, DhcpLeaseInfo? Lease, long LeaseExpiresAt, IReadOnlyList<Ipv6AddressInfo> Ipv6Addresses,
        IReadOnlyList<IPAddress> Ipv6Routers, IReadOnlyList<string> SearchDomains)
    {
        public static Addressing Take(NetworkEngine e)
        {
            var lease = e.Dhcp?.Lease;
            return new Addressing(
                e.Interface.IsConfigured ? e.Interface.Address.ToIPAddress() : null,
                e.Interface.PrefixLength,
                e.Interface.Gateway.IsAny ? null : e.Interface.Gateway.ToIPAddress(),
                [.. e.DnsServers.Select(a => a.ToIPAddress()), .. e.Ipv6DnsServers.Select(a => a.ToIPAddress())],
                [.. e.NtpServers.Select(a => a.ToIPAddress()), .. e.Ipv6NtpServers.Select(a => a.ToIPAddress())],
                lease is null ? null : new DhcpLeaseInfo(lease.Address.ToIPAddress(), lease.PrefixLength,
                    lease.Gateway.IsAny ? null : lease.Gateway.ToIPAddress(), lease.Server.ToIPAddress(),
                    TimeSpan.FromTicks(lease.LeaseMicroseconds * TimeSpan.TicksPerMicrosecond), TimeSpan.Zero, lease.DomainName),
                lease?.ExpiresAt ?? 0,
                e.Ipv6 is { } ipv6 ? ipv6.Addresses.Select(a => Ipv6AddressInfo.From(a, e.Now)).ToArray() : [],
                e.Ipv6 is { } v6 ? v6.Routers.Select(r => r.Address.ToIPAddress()).ToArray() : [],
                e.SearchDomains.ToArray());
        }
    }

    volatile Addressing _addressing;
    int _addressingVersion = -1;

    /// <summary>Completes when the stack reaches <see cref="StackState.Ready"/>.</summary>
    /// <exception cref="OperationCanceledException">The token was cancelled first.</exception>
    /// <exception cref="ObjectDisposedException">The stack was disposed first.</exception>
    /// <exception cref="InvalidOperationException">The event loop failed (see <see cref="Failure"/>).</exception>
    public Task WaitUntilReadyAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfFailed();
        ObjectDisposedException.ThrowIf(_stopping, this);
        Task ready;
        lock (_readyLock)
            ready = _ready.Task;
        return ready.WaitAsync(cancellationToken);
    }

    /// <summary>Binds a UDP socket to <paramref name="port"/> (0 for an ephemeral port).</summary>
    /// <exception cref="System.Net.Sockets.SocketException">AddressAlreadyInUse when the port is bound.</exception>
    /// <exception cref="ObjectDisposedException">The stack is stopping.</exception>
    public async Task<UdpSocket> BindUdpAsync(int port = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue);
        var socket = new UdpSocket(this, Options.UdpReceiveQueueDatagrams);
        socket.Binding = await InvokeAsync(e => e.Udp.Bind(port, socket.Receiver)).ConfigureAwait(false);
        return socket;
    }

    /// <summary>Listens for TCP connections on <paramref name="port"/>.</summary>
    /// <param name="port">1 to 65535.</param>
    /// <param name="backlog">Established connections waiting for <see cref="TcpListener.AcceptAsync"/> at most.</param>
    /// <exception cref="System.Net.Sockets.SocketException">AddressAlreadyInUse when the port is taken.</exception>
    /// <exception cref="ObjectDisposedException">The stack is stopping.</exception>
    public async Task<TcpListener> ListenTcpAsync(int port, int backlog = 128)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue);
        ArgumentOutOfRangeException.ThrowIfLessThan(backlog, 1);
        var listener = new TcpListener(this, port);
        listener.State = await InvokeAsync(e => e.Tcp.Listen(port, backlog, listener.ListenerEvents)).ConfigureAwait(false);
        return listener;
    }

    /// <summary>Opens a TCP connection to <paramref name="remote"/>.</summary>
    /// <exception cref="System.Net.Sockets.SocketException">ConnectionRefused (RST or ICMP port unreachable), TimedOut,
    /// NetworkUnreachable, HostUnreachable.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; the attempt is abandoned.</exception>
    public async Task<TcpConnection> ConnectTcpAsync(IPEndPoint remote, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(remote);
        // One interface: a link-local address's scope id names it, so it is not needed here.
        var address = Wire.IpAddress.FromIPAddress(remote.Address);
        var connection = new TcpConnection(this);
        // The control block is attached on the engine thread, before any event about it can fire.
        await InvokeAsync(e => connection.ControlBlock = e.Tcp.Connect(address, (ushort)remote.Port, connection.Events)).ConfigureAwait(false);
        return await connection.EstablishedAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Resolves <paramref name="host"/> with <see cref="Dns"/> and connects to it with Happy Eyeballs (RFC 8305):
    /// IPv6 and IPv4 addresses interleaved, a new attempt every 250 ms, the first connection to complete wins.
    /// </summary>
    /// <exception cref="System.Net.Sockets.SocketException">HostNotFound, TryAgain, or the last attempt's error.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; every attempt is abandoned.</exception>
    public async Task<TcpConnection> ConnectTcpAsync(string host, int port, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue);
        var addresses = await Dns.ResolveAsync(host, cancellationToken).ConfigureAwait(false);
        return await HappyEyeballs.ConnectAsync(this, addresses, port, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts taking every TCP flow to an address that is not the stack's own (<see cref="StackOptions.Forwarding"/>
    /// must be set): each new flow is offered to the returned forwarder before its handshake completes.
    /// </summary>
    /// <exception cref="InvalidOperationException">Forwarding is off in the options, or another forwarder is running.</exception>
    /// <exception cref="ObjectDisposedException">The stack is stopping.</exception>
    public async Task<TcpForwarder> ForwardTcpAsync()
    {
        var settings = Options.Forwarding ?? throw new InvalidOperationException("Forwarding is off: set StackOptions.Forwarding.");
        var forwarder = new TcpForwarder(this, settings.MaxPendingConnections);
        await InvokeAsync(engine =>
        {
            engine.Tcp.SetForwarder(forwarder.Events);
            return true;
        }).ConfigureAwait(false);
        return forwarder;
    }

    /// <summary>
    /// Starts taking every UDP datagram to an address that is not the stack's own (<see cref="StackOptions.Forwarding"/>
    /// must be set), in sessions per client end point.
    /// </summary>
    /// <exception cref="InvalidOperationException">Forwarding is off in the options, or another UDP forwarder is running.</exception>
    /// <exception cref="ObjectDisposedException">The stack is stopping.</exception>
    public async Task<UdpForwarder> ForwardUdpAsync()
    {
        var settings = Options.Forwarding ?? throw new InvalidOperationException("Forwarding is off: set StackOptions.Forwarding.");
        var forwarder = new UdpForwarder(this, settings.MaxUdpSessions, Options.UdpReceiveQueueDatagrams);
        await InvokeAsync(engine =>
        {
            engine.Udp.SetForwarder(forwarder.Events);
            return true;
        }).ConfigureAwait(false);
        return forwarder;
    }

    /// <summary>
    /// Starts taking every echo request (ping) to an address that is not the stack's own (<see cref="StackOptions.Forwarding"/>
    /// must be set); without it they are dropped.
    /// </summary>
    /// <exception cref="InvalidOperationException">Forwarding is off in the options, or another echo forwarder is running.</exception>
    /// <exception cref="ObjectDisposedException">The stack is stopping.</exception>
    public async Task<EchoForwarder> ForwardEchoAsync()
    {
        var settings = Options.Forwarding ?? throw new InvalidOperationException("Forwarding is off: set StackOptions.Forwarding.");
        var forwarder = new EchoForwarder(this, settings.MaxPendingEchoRequests);
        await InvokeAsync(engine =>
        {
            engine.SetEchoForwarder(forwarder.Events);
            return true;
        }).ConfigureAwait(false);
        return forwarder;
    }

    /// <summary>One counter's current value.</summary>
    public long GetCounter(StackCounter counter) => _engine.Counters[counter];

    /// <summary>All counters with their current values.</summary>
    public IReadOnlyDictionary<StackCounter, long> GetCounters() =>
        Enum.GetValues<StackCounter>().ToDictionary(c => c, c => _engine.Counters[c]);

    /// <summary>A snapshot of the resolved neighbours of both families (ARP and NDP) as (address, MAC).</summary>
    /// <exception cref="ObjectDisposedException">The stack is stopping.</exception>
    public async Task<IReadOnlyList<(IPAddress Address, MacAddress LinkAddress)>> GetNeighborsAsync(CancellationToken cancellationToken = default) =>
        await InvokeAsync<IReadOnlyList<(IPAddress, MacAddress)>>(e => e.Neighbors.Entries.Concat(e.Ipv6Neighbors?.Entries ?? [])
            .Where(n => n.Resolved).Select(n => (n.Address.ToIPAddress(), n.LinkAddress)).ToList()).WaitAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>A snapshot of the TCP connections (all states but LISTEN) with their end points and TCP_INFO.</summary>
    /// <exception cref="ObjectDisposedException">The stack is stopping.</exception>
    public async Task<IReadOnlyList<(IPEndPoint Local, IPEndPoint Remote, TcpConnectionInfo Info)>> GetTcpConnectionsAsync(
        CancellationToken cancellationToken = default) =>
        await InvokeAsync<IReadOnlyList<(IPEndPoint, IPEndPoint, TcpConnectionInfo)>>(e => e.Tcp.Connections
            .Select(c => (new IPEndPoint(c.Key.LocalAddress.ToIPAddress(), c.Key.LocalPort),
                new IPEndPoint(c.Key.RemoteAddress.ToIPAddress(), c.Key.RemotePort), c.GetInfo())).ToList())
            .WaitAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>Stops the event loop and releases everything it held. The device is left to its owner.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping)
        {
            await _stopped.Task.ConfigureAwait(false);
            return;
        }
        await DrainTcpAsync().ConfigureAwait(false);
        _stopping = true;
        if (Interlocked.Exchange(ref _started, 1) == 0)
        {
            // Never started: there is no loop to stop.
            _engine.Shutdown();
            _stopped.TrySetResult();
        }
        _wakeup.Signal();
        await _stopped.Task.ConfigureAwait(false);
        // Commands that raced the stop: they find the engine shut down and fail their callers instead of hanging them.
        while (_commands.TryDequeue(out var late))
            RunCommand(late);
        _stateEvents.Writer.TryComplete();
        await _stateEventPump.ConfigureAwait(false);
        lock (_readyLock)
            _ready.TrySetException(new ObjectDisposedException(nameof(NetworkStack)));
        _meter.Dispose();
        _wakeup.Dispose();
    }

    /// <summary>
    /// Closes every TCP connection gracefully (FIN after the data already written) and waits up to
    /// <see cref="TcpSettings.LingerTimeout"/> for the data and FINs to be acknowledged; what is left is aborted when
    /// the loop stops.
    /// </summary>
    async Task DrainTcpAsync()
    {
        var linger = Options.Tcp.LingerTimeout;
        if (Volatile.Read(ref _started) == 0 || linger <= TimeSpan.Zero || Failure is not null)
            return;
        long deadline = _time.GetTimestamp() + (long)(linger.TotalSeconds * _time.TimestampFrequency);
        try
        {
            if (!await InvokeAsync(e => e.Tcp.BeginDrain()).ConfigureAwait(false))
                return;
            while (_time.GetTimestamp() < deadline && !await InvokeAsync(e => e.Tcp.Drained).ConfigureAwait(false))
                await Task.Delay(10).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
        {
            // The loop stopped meanwhile: nothing left to drain.
        }
    }

    internal long NowMicroseconds => _time.GetElapsedTime(_startTimestamp).Ticks / TimeSpan.TicksPerMicrosecond;

    internal bool IsStopping => _stopping;

    /// <summary>
    /// The exception that stopped the event loop, if one did (a bug in the stack). Calls after it throw
    /// <see cref="InvalidOperationException"/> with it inside, so the failure is never silent.
    /// </summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    void ThrowIfFailed()
    {
        if (Volatile.Read(ref _failure) is { } failure)
            throw new InvalidOperationException("The stack's event loop failed; the stack is stopped.", failure);
    }

    void PublishStateChanges()
    {
        Volatile.Write(ref _mdnsHostName, _engine.Mdns?.FullName);
        if (_engine.ConfigurationVersion != _addressingVersion)
        {
            _addressingVersion = _engine.ConfigurationVersion;
            _addressing = Addressing.Take(_engine);
        }
        while (_engine.TryTakeStateChange(out var state))
        {
            var previous = _state;
            _state = state;
            lock (_readyLock)
            {
                if (state == StackState.Ready)
                    _ready.TrySetResult();
                else if (_ready.Task.IsCompleted)
                    _ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            _stateEvents.Writer.TryWrite(new StackStateChangedEventArgs(previous, state));
        }
        while (_engine.TryTakeEvent(out var stackEvent))
            _stateEvents.Writer.TryWrite(stackEvent);
    }

    async Task PumpStateEventsAsync()
    {
        await foreach (var change in _stateEvents.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                if (change is StackStateChangedEventArgs stateChange)
                    StateChanged?.Invoke(this, stateChange);
                else if (change is StackEventArgs stackEvent)
                    EventRaised?.Invoke(this, stackEvent);
            }
            catch (Exception e)
            {
                // A throwing handler must not stop later events; surface it without crashing the process.
                System.Diagnostics.Trace.TraceError($"Wirestack StateChanged handler threw: {e}");
            }
        }
    }
}
