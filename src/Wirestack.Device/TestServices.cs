using Microsoft.Extensions.Logging;

namespace Wirestack.Device;

/// <summary>
/// The classic TCP test services, so the stack can be exercised with standard tools: echo (RFC 862, port 7),
/// discard (RFC 863, port 9) and chargen (RFC 864, port 19).
/// </summary>
internal sealed class TestServices : IAsyncDisposable
{
    const int EchoPort = 7, DiscardPort = 9, ChargenPort = 19;

    readonly List<TcpListener> _listeners = [];
    readonly List<Task> _loops = [];
    readonly CancellationTokenSource _stop = new();
    readonly ILogger _log;

    TestServices(ILogger log) => _log = log;

    public static async Task<TestServices> StartAsync(NetworkStack stack, ILogger log)
    {
        var services = new TestServices(log);
        await services.ServeAsync(stack, EchoPort, EchoAsync);
        await services.ServeAsync(stack, DiscardPort, DiscardAsync);
        await services.ServeAsync(stack, ChargenPort, ChargenAsync);
        log.LogInformation("Test services on TCP: echo {Echo}, discard {Discard}, chargen {Chargen}", EchoPort, DiscardPort, ChargenPort);
        return services;
    }

    async Task ServeAsync(NetworkStack stack, int port, Func<TcpConnection, CancellationToken, Task> handler)
    {
        var listener = await stack.ListenTcpAsync(port, backlog: 1024);
        _listeners.Add(listener);
        _loops.Add(Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpConnection connection;
                try
                {
                    connection = await listener.AcceptAsync(_stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
                {
                    return;
                }
                _ = Task.Run(async () =>
                {
                    await using (connection)
                    {
                        try
                        {
                            await handler(connection, _stop.Token);
                        }
                        catch (Exception e) when (e is System.Net.Sockets.SocketException or OperationCanceledException or ObjectDisposedException or IOException)
                        {
                            _log.LogDebug("{Connection} ended: {Reason}", connection, e.Message);
                        }
                    }
                });
            }
        }));
    }

    /// <summary>RFC 862. Reads the receive buffer in place, so an idle echo connection holds no buffer of its own.</summary>
    static async Task EchoAsync(TcpConnection connection, CancellationToken cancellationToken)
    {
        var input = connection.Input;
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken);
            foreach (var segment in result.Buffer)
                await connection.WriteAsync(segment, cancellationToken);
            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
                break;
        }
        await input.CompleteAsync();
    }

    /// <summary>Where discarded bytes go: shared by every connection, never read.</summary>
    static readonly byte[] s_discard = new byte[65536];

    /// <summary>RFC 863.</summary>
    static async Task DiscardAsync(TcpConnection connection, CancellationToken cancellationToken)
    {
        while (await connection.ReadAsync(s_discard, cancellationToken) > 0)
        {
        }
    }

    /// <summary>RFC 864: lines of 72 rotating printable characters until the client goes away.</summary>
    static async Task ChargenAsync(TcpConnection connection, CancellationToken cancellationToken)
    {
        var pattern = new byte[95 * 74];
        for (int line = 0; line < 95; line++)
        {
            for (int i = 0; i < 72; i++)
                pattern[line * 74 + i] = (byte)(' ' + (line + i) % 95);
            pattern[line * 74 + 72] = (byte)'\r';
            pattern[line * 74 + 73] = (byte)'\n';
        }
        // Stop when the client closes its side (its FIN makes the read return 0).
        var reader = Task.Run(async () =>
        {
            var sink = new byte[1024];
            while (await connection.ReadAsync(sink, cancellationToken) > 0)
            {
            }
        }, cancellationToken);
        while (!reader.IsCompleted)
            await connection.WriteAsync(pattern, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var listener in _listeners)
            await listener.DisposeAsync();
        await Task.WhenAll(_loops);
        _stop.Dispose();
    }
}
