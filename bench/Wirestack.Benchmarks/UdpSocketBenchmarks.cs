using System.Net;
using BenchmarkDotNet.Attributes;
using Wirestack.Devices;
using Wirestack.Wire;

namespace Wirestack.Benchmarks;

/// <summary>
/// A UDP round trip through the public API: two started stacks on an in-memory link, each on its own event loop; the
/// client sends 100 bytes and awaits the echo a task on the other stack sends back. What it measures is the
/// application boundary (hand-over to the loop, the receive queue, continuations on the thread pool), and the
/// allocation column says whether a datagram costs garbage there.
/// </summary>
[MemoryDiagnoser]
public class UdpSocketBenchmarks
{
    InMemoryDevice _leftDevice = null!, _rightDevice = null!;
    NetworkStack _left = null!, _right = null!;
    UdpSocket _client = null!, _server = null!;
    Task _echo = null!;
    readonly byte[] _payload = new byte[100];
    readonly byte[] _clientBuffer = new byte[2048];
    readonly IPEndPoint _serverEnd = new(IPAddress.Parse("10.9.0.2"), 7);

    [GlobalSetup]
    public void Setup()
    {
        (_leftDevice, _rightDevice) = InMemoryLink.CreatePair();
        var ipv6 = Ipv6Settings.Disabled();
        _left = NetworkStack.StartAsync(_leftDevice, new StackOptions { Ipv4 = Ipv4Settings.Static("10.9.0.1/24"), Ipv6 = ipv6, MacAddress = MacAddress.Parse("02:00:00:00:0e:01") }).GetAwaiter().GetResult();
        _right = NetworkStack.StartAsync(_rightDevice, new StackOptions { Ipv4 = Ipv4Settings.Static("10.9.0.2/24"), Ipv6 = ipv6 }).GetAwaiter().GetResult();
        _left.WaitUntilReadyAsync(CancellationToken.None).GetAwaiter().GetResult();
        _right.WaitUntilReadyAsync(CancellationToken.None).GetAwaiter().GetResult();
        _server = _right.BindUdpAsync(7).GetAwaiter().GetResult();
        _client = _left.BindUdpAsync().GetAwaiter().GetResult();
        var serverBuffer = new byte[2048];
        _echo = Task.Run(async () =>
        {
            while (true)
            {
                var got = await _server.ReceiveFromAsync(serverBuffer);
                await _server.SendToAsync(serverBuffer.AsMemory(0, got.ReceivedBytes), (IPEndPoint)got.RemoteEndPoint);
            }
        });
    }

    [Benchmark(OperationsPerInvoke = 100)]
    public async Task UdpRoundTripThroughPublicApi()
    {
        for (int i = 0; i < 100; i++)
        {
            await _client.SendToAsync(_payload, _serverEnd);
            await _client.ReceiveFromAsync(_clientBuffer);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.Dispose();
        _server.Dispose();
        _ = _echo.Exception; // ends with ObjectDisposedException when the server socket goes
        _left.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _right.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _leftDevice.Dispose();
        _rightDevice.Dispose();
    }
}
