using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Wirestack.Devices;

namespace Wirestack;

/// <summary>
/// The stack <see cref="WirestackServiceCollectionExtensions.AddWirestack"/> runs, bound from the <c>Wirestack</c>
/// configuration section (appsettings.json, environment variables <c>Wirestack__Address</c>…) and validated at start.
/// </summary>
public sealed class WirestackOptions
{
    /// <summary>The TAP interface to open (created when missing); default <c>tap0</c>.</summary>
    public string Interface { get; set; } = "tap0";

    /// <summary>A static IPv4 address with its prefix, such as <c>192.168.0.2/24</c>; none for DHCP.</summary>
    public string? Address { get; set; }

    /// <summary>The IPv4 default gateway, with <see cref="Address"/>.</summary>
    public string? Gateway { get; set; }

    /// <summary>DNS servers, with <see cref="Address"/>.</summary>
    public List<string> DnsServers { get; set; } = [];

    /// <summary>IPv6 (link-local address and SLAAC); on by default.</summary>
    public bool Ipv6 { get; set; } = true;

    /// <summary>A host name to answer for as <c>NAME.local</c> by mDNS; none for no responder.</summary>
    public string? MdnsHostName { get; set; }

    /// <summary>Wait at start until the stack is Ready (its address bound); default on.</summary>
    public bool WaitUntilReady { get; set; } = true;

    /// <summary>The device to run on instead of the TAP <see cref="Interface"/> (a TUN, an in-memory link in tests); not bound from configuration.</summary>
    public Func<IServiceProvider, INetworkDevice>? Device { get; set; }

    /// <summary>The stack options these settings make; throws <see cref="FormatException"/> or <see cref="ArgumentException"/> saying what is wrong.</summary>
    public StackOptions ToStackOptions() => ToStackOptions(null);

    internal StackOptions ToStackOptions(IMeterFactory? meterFactory)
    {
        var ipv4 = Address is null ? Ipv4Settings.FromDhcp() : Ipv4Settings.Static(Address, Gateway, [.. DnsServers]);
        var options = new StackOptions
        {
            Ipv4 = ipv4,
            Ipv6 = Ipv6 ? Ipv6Settings.Automatic() : Ipv6Settings.Disabled(),
            Mdns = MdnsHostName is null ? null : new MdnsSettings { HostName = MdnsHostName },
            MeterFactory = meterFactory,
        };
        options.Validate();
        return options;
    }
}

/// <summary>Checks <see cref="WirestackOptions"/> at start, so a typo in configuration stops the host with its reason.</summary>
internal sealed class WirestackOptionsValidator : IValidateOptions<WirestackOptions>
{
    public ValidateOptionsResult Validate(string? name, WirestackOptions options)
    {
        try
        {
            options.ToStackOptions();
            return ValidateOptionsResult.Success;
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            return ValidateOptionsResult.Fail($"Wirestack: {e.Message}");
        }
    }
}

/// <summary>
/// Runs a <see cref="NetworkStack"/> as a hosted service: opens the device and starts the stack at host start (or
/// earlier, when Kestrel binds a Wirestack end point first), logs its state changes and events through the host's
/// logging, and stops it after the host's other services (Kestrel among them) have stopped.
/// </summary>
public sealed partial class WirestackHost(IOptions<WirestackOptions> options, IServiceProvider services, ILogger<WirestackHost> logger, IHostApplicationLifetime lifetime)
    : IHostedService, IAsyncDisposable
{
    readonly SemaphoreSlim _starting = new(1, 1);
    INetworkDevice? _device;
    NetworkStack? _stack;
    int _disposed;

    /// <summary>The running stack.</summary>
    /// <exception cref="InvalidOperationException">The host has not started it yet.</exception>
    public NetworkStack Stack => _disposed != 0 ? throw new ObjectDisposedException(nameof(WirestackHost))
        : _stack ?? throw new InvalidOperationException("The Wirestack stack has not started yet.");

    /// <summary>The stack, started now if it has not been.</summary>
    public async ValueTask<NetworkStack> GetStackAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_stack is { } started)
            return started;
        await _starting.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_stack is not null)
                return _stack;
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            var settings = options.Value;
            _device = settings.Device?.Invoke(services) ?? TapDevice.Open(settings.Interface);
            // Handlers first, then the start: no state change or event is raised before anyone listens.
            var stack = NetworkStack.Create(_device, settings.ToStackOptions(services.GetService<IMeterFactory>()));
            stack.StateChanged += (_, e) => LogState(stack.MacAddress.ToString(), e.Previous, e.Current);
            stack.EventRaised += (_, e) => LogEvent(stack.MacAddress.ToString(), e.Kind, e.Message);
            stack.Start();
            LogStarted(_device.ToString() ?? "device", settings.Address ?? "DHCP");
            if (settings.WaitUntilReady)
                await stack.WaitUntilReadyAsync(cancellationToken).ConfigureAwait(false);
            // After every hosted service (Kestrel's connections on this stack among them) has stopped.
            lifetime.ApplicationStopped.Register(() => DisposeAsync().AsTask().GetAwaiter().GetResult());
            return _stack = stack;
        }
        finally
        {
            _starting.Release();
        }
    }

    /// <inheritdoc/>
    public async Task StartAsync(CancellationToken cancellationToken) => await GetStackAsync(cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    /// <remarks>The stack stops once the whole host has stopped (ApplicationStopped), so services using it stop first.</remarks>
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (_stack is not null)
        {
            await _stack.DisposeAsync().ConfigureAwait(false);
            LogStopped();
        }
        _device?.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Wirestack started on {Device} ({Addressing})")]
    partial void LogStarted(string device, string addressing);

    [LoggerMessage(Level = LogLevel.Information, Message = "Wirestack {Mac}: {Previous} -> {Current}")]
    partial void LogState(string mac, StackState previous, StackState current);

    [LoggerMessage(Level = LogLevel.Information, Message = "Wirestack {Mac}: {Kind}: {Message}")]
    partial void LogEvent(string mac, StackEventKind kind, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "Wirestack stopped")]
    partial void LogStopped();
}

/// <summary>Registers Wirestack with the generic host.</summary>
public static class WirestackServiceCollectionExtensions
{
    /// <summary>
    /// Runs a Wirestack stack as a hosted service (<see cref="WirestackHost"/>), configured from the
    /// <c>Wirestack</c> section and <paramref name="configure"/>, validated at start. Kestrel serves on it with
    /// <c>UseWirestack(listen => …)</c>; other services take <see cref="WirestackHost"/> and its <see cref="WirestackHost.Stack"/>.
    /// </summary>
    public static IServiceCollection AddWirestack(this IServiceCollection services, Action<WirestackOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<WirestackOptions>().BindConfiguration("Wirestack").ValidateOnStart();
        if (configure is not null)
            options.Configure(configure);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WirestackOptions>, WirestackOptionsValidator>());
        if (!services.Any(d => d.ServiceType == typeof(WirestackHost)))
        {
            services.AddSingleton<WirestackHost>();
            services.AddHostedService(provider => provider.GetRequiredService<WirestackHost>());
        }
        return services;
    }
}
