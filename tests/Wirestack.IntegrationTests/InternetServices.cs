using System.Net;
using System.Net.Sockets;
using Wirestack.Wire;

namespace Wirestack.IntegrationTests;

/// <summary>
/// The "Internet" of the routed seed setups, on kernel sockets in its namespace: an SNTP server 3 s ahead of the
/// real clock and an HTTP server that answers one fixed body and remembers who called.
/// </summary>
internal sealed class InternetServices : IAsyncDisposable
{
    readonly CancellationTokenSource _stop = new(TimeSpan.FromMinutes(1));
    readonly Socket _ntp, _web;
    readonly Task _ntpServer, _webServer;

    public InternetServices(TestNamespace ns, IPAddress address, string body)
    {
        _ntp = Interop.NetworkNamespace.Run(ns.Name, () =>
        {
            var s = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(address, 123));
            return s;
        });
        _web = KernelSockets.Listen(ns, new IPEndPoint(address, 80));
        _ntpServer = Task.Run(ServeNtpAsync, CancellationToken.None);
        var response = System.Text.Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}");
        _webServer = Task.Run(() => ServeHttpAsync(response), CancellationToken.None);
    }

    /// <summary>The end point of the last HTTP client.</summary>
    public IPEndPoint? Caller { get; private set; }

    async Task ServeNtpAsync()
    {
        var buffer = new byte[512];
        var reply = new byte[48];
        var any = new IPEndPoint(_ntp.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        try
        {
            while (true)
            {
                var received = await _ntp.ReceiveFromAsync(buffer, any, _stop.Token);
                var now = NtpTimestamp.FromDateTime(DateTimeOffset.UtcNow.AddSeconds(3));
                NtpPacket.WriteReply(reply, 2, new NtpTimestamp(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(buffer.AsSpan(40))), now, now);
                await _ntp.SendToAsync(reply, received.RemoteEndPoint, _stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    async Task ServeHttpAsync(byte[] response)
    {
        try
        {
            while (true)
            {
                using var connection = await _web.AcceptAsync(_stop.Token);
                Caller = (IPEndPoint?)connection.RemoteEndPoint;
                var request = new byte[4096];
                await connection.ReceiveAsync(request, _stop.Token);
                await connection.SendAsync(response, _stop.Token);
                connection.Shutdown(SocketShutdown.Send);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_ntpServer, _webServer);
        _ntp.Dispose();
        _web.Dispose();
        _stop.Dispose();
    }
}
