using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Wirestack.Devices;

namespace Wirestack.Tests;

/// <summary>Wirestack on the generic host: AddWirestack, options from configuration, Kestrel composed with UseWirestack.</summary>
public sealed class HostingTests
{
    sealed class ListLogger(List<string> lines) : ILoggerProvider, ILogger
    {
        public ILogger CreateLogger(string categoryName) => this;
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (lines)
                lines.Add(formatter(state, exception));
        }
        public void Dispose() { }
    }

    [Fact(DisplayName = "Generic host: AddWirestack runs the stack as a hosted service configured from the Wirestack section, Kestrel serves on it with UseWirestack, its events go to the host's logging, and it stops after the host")]
    public async Task HostedStackServesKestrel()
    {
        var ct = TestContext.Current.CancellationToken;
        var (serverSide, clientSide) = InMemoryLink.CreatePair();
        using var _ = serverSide;
        using var __ = clientSide;
        var log = new List<string>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders().AddProvider(new ListLogger(log));
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Wirestack:Address"] = "10.6.0.1/24", ["Wirestack:Ipv6"] = "false" });
        builder.Services.AddWirestack(options => options.Device = _ => serverSide);
        builder.WebHost.UseWirestack(listen => listen.Listen(80));
        await using var app = builder.Build();
        app.MapGet("/", () => "served by a hosted stack");
        await app.StartAsync(ct);
        var host = app.Services.GetRequiredService<WirestackHost>();
        Assert.Equal(StackState.Ready, host.Stack.State);
        Assert.Equal(System.Net.IPAddress.Parse("10.6.0.1"), host.Stack.Ipv4Address);

        await using (var client = await NetworkStack.StartAsync(clientSide, new StackOptions { Ipv4 = Ipv4Settings.Static("10.6.0.2/24"), MacAddress = Wire.MacAddress.Parse("02:00:00:00:0d:02") }, ct))
        {
            await client.WaitUntilReadyAsync(ct);
            using var http = new HttpClient(client.CreateHttpMessageHandler());
            Assert.Equal("served by a hosted stack", await http.GetStringAsync("http://10.6.0.1/", ct));
        }
        await app.StopAsync(ct);
        // State changes reach handlers through the stack's event pump, a moment after they happen.
        for (int i = 0; i < 50 && !Logged("-> Ready"); i++)
            await Task.Delay(20, ct);
        lock (log)
        {
            Assert.Contains(log, l => l.StartsWith("Wirestack started on", StringComparison.Ordinal));
            Assert.Contains(log, l => l.Contains("-> Ready", StringComparison.Ordinal));
            Assert.Contains("Wirestack stopped", log);
        }
        await Assert.ThrowsAsync<ObjectDisposedException>(() => host.GetStackAsync(ct).AsTask());

        bool Logged(string text)
        {
            lock (log)
                return log.Any(l => l.Contains(text, StringComparison.Ordinal));
        }
    }

    [Fact(DisplayName = "Generic host: invalid Wirestack settings stop the host at start with the reason")]
    public async Task InvalidSettingsFailAtStart()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Wirestack:Address"] = "10.6.0.1/33" });
        builder.Services.AddWirestack(options => options.Device = _ => throw new InvalidOperationException("must not open a device"));
        await using var app = builder.Build();
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains("Wirestack:", failure.Message);
    }
}
