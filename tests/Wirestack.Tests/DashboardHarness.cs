using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Wirestack.Device.Dashboard;
using Wirestack.Devices;

namespace Wirestack.Tests;

/// <summary>
/// The device's dashboard on one stack and an HttpClient on another, joined by an in-memory link: the real routes,
/// middleware and stores (in a directory of the test's own), no kernel networking. User admin, password "admin".
/// </summary>
internal sealed class DashboardHarness : IAsyncDisposable
{
    public const string Address = "10.7.0.1";
    readonly InMemoryDevice _serverDevice, _clientDevice;
    readonly NetworkStack _server, _client;
    readonly SntpClient _clock;
    readonly WebApplication _app;
    readonly HttpMessageHandler _handler;

    DashboardHarness(InMemoryDevice serverDevice, InMemoryDevice clientDevice, NetworkStack server, NetworkStack client, SntpClient clock,
        WebApplication app, HttpMessageHandler handler, DashboardContext device, string directory, CapturingLoggerProvider log)
    {
        (_serverDevice, _clientDevice, _server, _client, _clock, _app, _handler) = (serverDevice, clientDevice, server, client, clock, app, handler);
        (Device, Directory, Log) = (device, directory, log);
        Http = NewClient();
    }

    public DashboardContext Device { get; }
    public string Directory { get; }
    public CapturingLoggerProvider Log { get; }

    /// <summary>A client that sends admin's password with every request.</summary>
    public HttpClient Http { get; }

    public HttpClient NewClient()
    {
        var http = new HttpClient(_handler, disposeHandler: false) { BaseAddress = new Uri($"http://{Address}/"), Timeout = TimeSpan.FromSeconds(20) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("admin:admin"u8));
        return http;
    }

    /// <summary>Opens a TCP connection to the dashboard for requests written byte by byte.</summary>
    public Task<TcpConnection> ConnectRawAsync(CancellationToken cancellationToken) =>
        _client.ConnectTcpAsync(new IPEndPoint(IPAddress.Parse(Address), 80), cancellationToken);

    /// <summary>Starts the dashboard with its stores in a new temporary directory, deleted at disposal.</summary>
    public static async Task<DashboardHarness> StartAsync(CancellationToken cancellationToken)
    {
        string directory = System.IO.Directory.CreateTempSubdirectory("wirestack-dashboard-").FullName;
        var (a, b) = InMemoryLink.CreatePair();
        var ipv6 = Ipv6Settings.Disabled();
        var server = await NetworkStack.StartAsync(a, new StackOptions { Ipv4 = Ipv4Settings.Static(Address + "/24"), Ipv6 = ipv6, MacAddress = Wire.MacAddress.Parse("02:00:00:00:0d:01") }, cancellationToken);
        var client = await NetworkStack.StartAsync(b, new StackOptions { Ipv4 = Ipv4Settings.Static("10.7.0.2/24"), Ipv6 = ipv6 }, cancellationToken);
        await server.WaitUntilReadyAsync(cancellationToken);
        await client.WaitUntilReadyAsync(cancellationToken);
        var clock = new SntpClient(server);
        var log = new CapturingLoggerProvider();
        var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(log));
        var device = new DashboardContext(server, new Users([("admin", "admin")]), new SettingsStore(Path.Combine(directory, "settings.json")),
            new EventLog(), new Firmware(Path.Combine(directory, "firmware")), new Telemetry(), clock, new LogLevelSwitch(2), () => { });
        var options = new DashboardOptions(80, 0, null, null, "wirestack-device");
        var app = await DashboardServer.StartAsync(device, options, loggerFactory, cancellationToken, ApiDocumentGenerator.Extension);
        return new DashboardHarness(a, b, server, client, clock, app, client.CreateHttpMessageHandler(), device, directory, log);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        _handler.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _clock.DisposeAsync();
        await _client.DisposeAsync();
        await _server.DisposeAsync();
        _serverDevice.Dispose();
        _clientDevice.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

/// <summary>Keeps every log line the dashboard writes, for tests that check what an operator would read.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception.GetType().Name)}");
    }
}
