using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Wirestack.Tunnel.Upstreams;

/// <summary>
/// TCP flows through an HTTP proxy's CONNECT method (RFC 9110 9.3.6), with Basic credentials when given. HTTP proxies
/// carry no UDP, so UDP sessions are dropped (counted) with this upstream.
/// </summary>
internal sealed class HttpConnectUpstream(IPEndPoint proxy, NetworkCredential? credential, HostSockets sockets, TimeSpan timeout) : Upstream
{
    /// <summary>The most a proxy's response head may take; past it the proxy is not one we understand.</summary>
    const int MaxResponseHead = 8192;

    public override string Name => $"http {proxy}";
    public override bool CarriesUdp => false;

    public override async Task<Socket> ConnectAsync(IPEndPoint destination, CancellationToken cancellationToken)
    {
        var socket = await sockets.ConnectAsync(proxy, timeout, $"connecting to the HTTP proxy {proxy}", cancellationToken).ConfigureAwait(false);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            string authority = HostSockets.Unmapped(destination).ToString();
            var request = new StringBuilder($"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
            if (credential is not null)
                request.Append("Proxy-Authorization: Basic ").Append(Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.UserName}:{credential.Password}"))).Append("\r\n");
            request.Append("\r\n");
            await socket.SendAsync(Encoding.ASCII.GetBytes(request.ToString()), limit.Token).ConfigureAwait(false);
            int status = await ReadStatusAsync(socket, limit.Token).ConfigureAwait(false);
            if (status is >= 200 and < 300)
                return socket;
            throw new UpstreamException(status switch
            {
                403 or 407 => UpstreamFailure.Prohibited,
                502 or 504 => UpstreamFailure.HostUnreachable,
                _ => UpstreamFailure.Refused,
            }, $"the HTTP proxy {proxy} answered {status} for {authority}");
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw UpstreamException.FromSocket(e, $"talking to the HTTP proxy {proxy}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new UpstreamException(UpstreamFailure.HostUnreachable, $"the HTTP proxy {proxy} did not answer within {timeout.TotalSeconds:0.#} s");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public override Task<UpstreamDatagrams> OpenDatagramsAsync(CancellationToken cancellationToken) =>
        throw new NotSupportedException("An HTTP CONNECT proxy carries no UDP.");

    /// <summary>
    /// Reads the response head a byte at a time up to its blank line: whatever follows belongs to the flow (a server
    /// that speaks first, as SSH and SMTP do), so nothing past the head may be consumed.
    /// </summary>
    async Task<int> ReadStatusAsync(Socket socket, CancellationToken cancellationToken)
    {
        var head = new byte[MaxResponseHead];
        int length = 0;
        while (length < 4 || !head.AsSpan(length - 4, 4).SequenceEqual("\r\n\r\n"u8))
        {
            if (length == head.Length)
                throw new UpstreamException(UpstreamFailure.HostUnreachable, $"the HTTP proxy {proxy} sent a response head over {MaxResponseHead} bytes");
            if (await socket.ReceiveAsync(head.AsMemory(length, 1), cancellationToken).ConfigureAwait(false) == 0)
                throw new UpstreamException(UpstreamFailure.HostUnreachable, $"the HTTP proxy {proxy} closed the connection mid-response");
            length++;
        }
        // "HTTP/1.1 200 Connection established"
        var line = Encoding.ASCII.GetString(head, 0, head.AsSpan(0, length).IndexOf("\r\n"u8));
        var parts = line.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || !int.TryParse(parts[1], out int status))
            throw new UpstreamException(UpstreamFailure.HostUnreachable, $"the HTTP proxy {proxy} answered '{line}'");
        return status;
    }
}
