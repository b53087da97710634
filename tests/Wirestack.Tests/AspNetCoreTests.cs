using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Wirestack.Devices;

namespace Wirestack.Tests;

/// <summary>Kestrel on one stack, HttpClient on another, joined by an in-memory link: no kernel networking at all.</summary>
public sealed class AspNetCoreTests
{
    static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=10.5.0.1", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Parse("10.5.0.1"));
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }

    [Fact(DisplayName = "Kestrel serves HTTP/1.1, HTTPS and HTTP/2 over TLS (ALPN) on Wirestack; HttpClient connects through Wirestack")]
    public async Task KestrelAndHttpClientOverWirestack()
    {
        var ct = TestContext.Current.CancellationToken;
        var (a, b) = InMemoryLink.CreatePair();
        using var _ = a;
        using var __ = b;
        await using var server = await NetworkStack.StartAsync(a, new StackOptions { Ipv4 = Ipv4Settings.Static("10.5.0.1/24"), MacAddress = Wire.MacAddress.Parse("02:00:00:00:0c:01") }, ct);
        await using var client = await NetworkStack.StartAsync(b, new StackOptions { Ipv4 = Ipv4Settings.Static("10.5.0.2/24") }, ct);
        using var certificate = SelfSigned();

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseWirestack(server, listen => listen
            .Listen(80)
            .Listen(443, o =>
            {
                o.Protocols = HttpProtocols.Http1AndHttp2;
                o.UseHttps(certificate);
            }));
        await using var app = builder.Build();
        app.MapGet("/hello", (HttpContext context) => $"hello {context.Connection.RemoteIpAddress} over HTTP/{context.Request.Protocol}");
        app.MapGet("/json", () => Results.Json(new { user = "admin", points = Enumerable.Range(0, 2000).ToArray() }));
        app.MapPost("/echo", async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            return Results.Bytes(body.ToArray());
        });
        await app.StartAsync(ct);
        await server.WaitUntilReadyAsync(ct);
        await client.WaitUntilReadyAsync(ct);

        using var handler = client.CreateHttpMessageHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == certificate.GetCertHashString();
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };

        Assert.Equal("hello 10.5.0.2 over HTTP/HTTP/1.1", await http.GetStringAsync("http://10.5.0.1/hello", ct));
        Assert.Equal("hello 10.5.0.2 over HTTP/HTTP/1.1", await http.GetStringAsync("https://10.5.0.1/hello", ct));
        using var h2 = new HttpRequestMessage(HttpMethod.Get, "https://10.5.0.1/hello") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var h2Response = await http.SendAsync(h2, ct);
        Assert.Equal(HttpVersion.Version20, h2Response.Version);
        Assert.Equal("hello 10.5.0.2 over HTTP/HTTP/2", await h2Response.Content.ReadAsStringAsync(ct));

        // JSON is serialized straight into the transport's PipeWriter (it asks for UnflushedBytes).
        var json = await http.GetStringAsync("http://10.5.0.1/json", ct);
        Assert.StartsWith("{\"user\":\"admin\",\"points\":[0,1,2", json);
        Assert.EndsWith("1999]}", json);

        var payload = new byte[3 << 20];
        new Random(5).NextBytes(payload);
        using var echo = await http.PostAsync("http://10.5.0.1/echo", new ByteArrayContent(payload), ct);
        Assert.Equal(payload, await echo.Content.ReadAsByteArrayAsync(ct));

        await app.StopAsync(ct);
    }

    [Fact(DisplayName = "Kestrel's limits work on Wirestack: header timeout, keep-alive timeout, minimum response data rate against a client that stops reading, and a reset mid-response aborts the request")]
    public async Task KestrelLimitsApply()
    {
        var ct = TestContext.Current.CancellationToken;
        var (a, b) = InMemoryLink.CreatePair();
        using var _ = a;
        using var __ = b;
        await using var server = await NetworkStack.StartAsync(a, new StackOptions { Ipv4 = Ipv4Settings.Static("10.5.1.1/24"), MacAddress = Wire.MacAddress.Parse("02:00:00:00:0c:02") }, ct);
        await using var client = await NetworkStack.StartAsync(b, new StackOptions { Ipv4 = Ipv4Settings.Static("10.5.1.2/24") }, ct);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseWirestack(server, listen => listen.Listen(80));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(2);
            k.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(2);
            k.Limits.MinResponseDataRate = new MinDataRate(bytesPerSecond: 1 << 20, gracePeriod: TimeSpan.FromSeconds(2));
        });
        await using var app = builder.Build();
        var aborted = new TaskCompletionSource();
        var stalledAborted = new TaskCompletionSource();
        app.MapGet("/hello", () => "hello");
        app.MapGet("/endless", async (HttpContext context) =>
        {
            var signal = context.Request.Query.ContainsKey("stall") ? stalledAborted : aborted;
            context.RequestAborted.Register(() => signal.TrySetResult());
            var chunk = new byte[64 * 1024];
            try
            {
                while (!context.RequestAborted.IsCancellationRequested)
                    await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
            }
        });
        await app.StartAsync(ct);
        await server.WaitUntilReadyAsync(ct);
        await client.WaitUntilReadyAsync(ct);
        var endPoint = new IPEndPoint(IPAddress.Parse("10.5.1.1"), 80);

        // Slowloris: half a request line, then silence.
        await using (var slow = await client.ConnectTcpAsync(endPoint, ct))
        {
            await slow.WriteAsync("GET /hello HTTP/1.1\r\nHost: x\r\n"u8.ToArray(), ct);
            var started = DateTime.UtcNow;
            var rest = new MemoryStream();
            await slow.CopyToAsync(rest, ct).WaitAsync(TimeSpan.FromSeconds(15), ct);
            Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));
        }

        // Keep-alive: one request, then idle until the server closes.
        await using (var idle = await client.ConnectTcpAsync(endPoint, ct))
        {
            await idle.WriteAsync("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), ct);
            var response = new MemoryStream();
            await idle.CopyToAsync(response, ct).WaitAsync(TimeSpan.FromSeconds(15), ct);
            Assert.Contains("hello", System.Text.Encoding.ASCII.GetString(response.ToArray()));
        }

        // A client that stops reading an endless response: the writes wait on the full send buffer, so Kestrel's
        // minimum response data rate runs out and it aborts the connection.
        await using (var stalled = await client.ConnectTcpAsync(endPoint, ct))
        {
            await stalled.WriteAsync("GET /endless?stall=1 HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), ct);
            await stalledAborted.Task.WaitAsync(TimeSpan.FromSeconds(20), ct);
        }

        // A reset while the server writes an endless response: the request is aborted at once.
        var reader = await client.ConnectTcpAsync(endPoint, ct);
        await reader.WriteAsync("GET /endless HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(), ct);
        Assert.True(await reader.ReadAsync(new byte[1000], ct) > 0);
        reader.Abort();
        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
        await reader.DisposeAsync();
        await app.StopAsync(ct);
    }
}
