// HttpClient through Wirestack: DNS, TCP and TLS all go through the stack on the TAP device, not the host's sockets.
//   dotnet run --project samples/HttpClientFetch -- tap0 192.168.0.2/24 192.168.0.1 http://192.168.0.1:8080/
// Arguments: interface, address/prefix, gateway (also the DNS server), URL. The body goes to standard output.
using Wirestack;
using Wirestack.Devices;

if (args.Length < 4)
{
    Console.Error.WriteLine("usage: HttpClientFetch INTERFACE ADDRESS/PREFIX GATEWAY URL");
    return 2;
}
using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
using var device = TapDevice.Open(args[0]);
await using var stack = await NetworkStack.StartAsync(device, new StackOptions
{
    Ipv4 = Ipv4Settings.Static(args[1], gateway: args[2], dnsServers: args[2]),
});
await stack.WaitUntilReadyAsync(timeout.Token);

// The handler resolves names with the stack's resolver and connects through the stack; everything else
// (redirects, decompression, HTTP/2, TLS) is SocketsHttpHandler's as usual.
using var client = new HttpClient(stack.CreateHttpMessageHandler());
using var response = await client.GetAsync(args[3], timeout.Token);
Console.Error.WriteLine($"{(int)response.StatusCode} {response.ReasonPhrase}, {response.Content.Headers.ContentLength?.ToString() ?? "?"} bytes");
await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
await body.CopyToAsync(Console.OpenStandardOutput(), timeout.Token);
return response.IsSuccessStatusCode ? 0 : 1;
