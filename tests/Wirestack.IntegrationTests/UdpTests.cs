using System.Net;
using System.Net.Sockets;

namespace Wirestack.IntegrationTests;

public sealed class UdpTests
{
    static async Task EchoAsync(UdpSocket socket, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var datagram = await socket.ReceiveAsync(cancellationToken);
                await socket.SendToAsync(datagram.Buffer, datagram.RemoteEndPoint, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    [Theory(DisplayName = "RFC 768 over TAP: a UDP echo service on Wirestack answers socat on the kernel side")]
    [InlineData(1)]
    [InlineData(512)]
    [InlineData(1472)]
    [InlineData(8000)]
    public async Task EchoWithSocat(int size)
    {
        Prerequisites.Require("socat");
        await using var tap = await TapStack.StartAsync();
        using var socket = await tap.Stack.BindUdpAsync(7);
        using var stop = new CancellationTokenSource();
        var echo = EchoAsync(socket, stop.Token);

        string directory = Directory.CreateTempSubdirectory("wirestack-udp").FullName;
        try
        {
            var payload = new byte[size];
            new Random(size).NextBytes(payload);
            string input = Path.Combine(directory, "in"), output = Path.Combine(directory, "out");
            await File.WriteAllBytesAsync(input, payload, TestContext.Current.CancellationToken);
            await tap.Namespace.ExecAsync($"socat -b 65536 -T 2 - UDP:{TapStack.StackAddress}:7 < {input} > {output}", TimeSpan.FromSeconds(15));
            Assert.Equal(payload, await File.ReadAllBytesAsync(output, TestContext.Current.CancellationToken));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
            await stop.CancelAsync();
            await echo;
        }
    }

    [Fact(DisplayName = "RFC 1122 4.1.3.1 over TAP: UDP to a closed port makes the kernel client see 'Connection refused'")]
    public async Task ClosedPortRefused()
    {
        Prerequisites.Require("socat");
        await using var tap = await TapStack.StartAsync();
        var result = await tap.Namespace.ExecAsync($"echo hello | socat -T 2 - UDP:{TapStack.StackAddress}:9999");
        Assert.Contains("Connection refused", result.All);
        Assert.Equal(1, tap.Stack.GetCounter(StackCounter.DropUdpNoListener));
    }

    [Fact(DisplayName = "Over TAP: a Wirestack client gets the kernel's port unreachable as SocketError.ConnectionRefused")]
    public async Task StackClientSeesRefusal()
    {
        Prerequisites.Require();
        await using var tap = await TapStack.StartAsync();
        using var socket = await tap.Stack.BindUdpAsync();
        await socket.SendToAsync(new byte[] { 1, 2, 3 }, new IPEndPoint(IPAddress.Parse(TapStack.KernelAddress), 9), TestContext.Current.CancellationToken);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var error = await Assert.ThrowsAsync<SocketException>(async () => await socket.ReceiveAsync(timeout.Token));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
    }

    [Fact(DisplayName = "Over TAP: a Wirestack client talks to a kernel UDP server (socat) and back")]
    public async Task StackClientToKernelServer()
    {
        Prerequisites.Require("socat");
        await using var tap = await TapStack.StartAsync();
        // A kernel-side echo server for the duration of the test (bounded by timeout).
        var server = tap.Namespace.ExecAsync($"timeout 20 socat UDP-RECVFROM:7007,bind={TapStack.KernelAddress},fork EXEC:cat", TimeSpan.FromSeconds(25));
        using var socket = await tap.Stack.BindUdpAsync();
        var payload = new byte[3000];
        new Random(3).NextBytes(payload);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        UdpReceiveResult reply = default;
        // The server may take a moment to bind: retry a few times.
        for (int attempt = 0; attempt < 20 && reply.Buffer is null; attempt++)
        {
            await socket.SendToAsync(payload, new IPEndPoint(IPAddress.Parse(TapStack.KernelAddress), 7007), timeout.Token);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token);
            wait.CancelAfter(TimeSpan.FromMilliseconds(300));
            try
            {
                reply = await socket.ReceiveAsync(wait.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
            }
        }
        Assert.NotNull(reply.Buffer);
        Assert.Equal(payload, reply.Buffer);
        await tap.Namespace.StopProcessesAsync("UDP-RECVFROM:7007");
        await server;
    }
}
