using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Wirestack.IntegrationTests;

public sealed class TcpTests
{
    [Theory(DisplayName = "RFC 9293 over TAP, with and without the virtio-net header's offloads: the kernel sends 1 GiB to a Wirestack server, SHA-256 intact; with offloads it arrives as 64 KiB super-frames (counted)")]
    [InlineData(true)]
    [InlineData(false)]
    public async Task KernelSendsOneGibibyte(bool offloads)
    {
        Prerequisites.Require("socat");
        await using var tap = await TapStack.StartAsync(offloads: offloads);
        await using var listener = await tap.Stack.ListenTcpAsync(5001);
        string directory = Directory.CreateTempSubdirectory("wirestack-gib").FullName;
        try
        {
            // 64 MiB of random bytes sent 16 times: 1 GiB whose every byte is checked, without a 1 GiB file.
            string file = Path.Combine(directory, "data");
            var data = new byte[64 << 20];
            new Random(2).NextBytes(data);
            await File.WriteAllBytesAsync(file, data, TestContext.Current.CancellationToken);
            const int Repeats = 16;
            var client = tap.Namespace.ExecAsync($"for i in $(seq {Repeats}); do cat {file}; done | socat -u - TCP:{TapStack.StackAddress}:5001", TimeSpan.FromMinutes(3));
            await using var connection = await listener.AcceptAsync(TestContext.Current.CancellationToken);
            var (total, received) = await TapStack.ReadToEndHashedAsync(connection, 1 << 20, TestContext.Current.CancellationToken);
            var result = await client;
            Assert.True(result.ExitCode == 0, result.All);
            using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            for (int i = 0; i < Repeats; i++)
                expected.AppendData(data);
            Assert.Equal((long)data.Length * Repeats, total);
            Assert.Equal(expected.GetHashAndReset(), received);
            long superFrames = tap.Stack.GetCounter(StackCounter.GsoFramesReceived);
            if (offloads)
                Assert.True(superFrames > 1000, $"{superFrames} super-frames");
            else
                Assert.Equal(0, superFrames);
            Assert.Equal(0, tap.Stack.GetCounter(StackCounter.DropOffloadInvalid));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory(DisplayName = "RFC 9293 over TAP, with and without the virtio-net header's offloads: a Wirestack client sends 1 GiB to the kernel, SHA-256 intact; with offloads it leaves as 64 KiB segments the kernel takes whole (counted)")]
    [InlineData(true)]
    [InlineData(false)]
    public async Task StackSendsOneGibibyte(bool offloads)
    {
        Prerequisites.Require("socat", "sha256sum");
        await using var tap = await TapStack.StartAsync(offloads: offloads);
        var server = tap.Namespace.ExecAsync($"timeout 170 socat -u TCP-LISTEN:5003,bind={TapStack.KernelAddress},reuseaddr - | sha256sum | cut -c1-64",
            TimeSpan.FromMinutes(3));
        // 64 MiB of random bytes written 16 times: 1 GiB whose every byte is checked.
        var data = new byte[64 << 20];
        new Random(3).NextBytes(data);
        const int Repeats = 16;
        using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var connection = await tap.ConnectWhenListeningAsync(5003, TestContext.Current.CancellationToken);
        await using (connection)
        {
            for (int i = 0; i < Repeats; i++)
            {
                await connection.WriteAsync(data, TestContext.Current.CancellationToken);
                expected.AppendData(data);
            }
            connection.ShutdownSend();
            var result = await server;
            Assert.True(result.ExitCode == 0, result.All);
            Assert.Equal(Convert.ToHexStringLower(expected.GetHashAndReset()), result.Output.Trim());
        }
        long longSegments = tap.Stack.GetCounter(StackCounter.GsoFramesSent);
        if (offloads)
            Assert.True(longSegments > 1000, $"{longSegments} long segments");
        else
            Assert.Equal(0, longSegments);
        Assert.Equal(0, tap.Stack.GetCounter(StackCounter.DropDeviceRefused));
    }

    [Fact(DisplayName = "RFC 9293 over TAP: the kernel's client sends 16 MiB to a Wirestack server, SHA-256 intact")]
    public async Task KernelClientToStackServer()
    {
        Prerequisites.Require("socat");
        await using var tap = await TapStack.StartAsync();
        await using var listener = await tap.Stack.ListenTcpAsync(5001);
        string directory = Directory.CreateTempSubdirectory("wirestack-tcp").FullName;
        try
        {
            string file = Path.Combine(directory, "data");
            var data = new byte[16 << 20];
            new Random(1).NextBytes(data);
            await File.WriteAllBytesAsync(file, data, TestContext.Current.CancellationToken);
            var client = tap.Namespace.ExecAsync($"socat -u FILE:{file} TCP:{TapStack.StackAddress}:5001", TimeSpan.FromSeconds(60));
            await using var connection = await listener.AcceptAsync(TestContext.Current.CancellationToken);
            var (total, received) = await TapStack.ReadToEndHashedAsync(connection, 65536, TestContext.Current.CancellationToken);
            var result = await client;
            Assert.True(result.ExitCode == 0, result.All);
            Assert.Equal(data.Length, total);
            Assert.Equal(SHA256.HashData(data), received);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(DisplayName = "RFC 9293 over TAP: a Wirestack client sends 16 MiB to the kernel's server and reads its reply")]
    public async Task StackClientToKernelServer()
    {
        Prerequisites.Require("socat", "sha256sum");
        await using var tap = await TapStack.StartAsync();
        // Kernel server: hashes what it receives and sends the hash back.
        var server = tap.Namespace.ExecAsync($"timeout 60 socat TCP-LISTEN:5002,bind={TapStack.KernelAddress},reuseaddr SYSTEM:'sha256sum | cut -c1-64'", TimeSpan.FromSeconds(70));
        var data = new byte[16 << 20];
        new Random(2).NextBytes(data);
        var connection = await tap.ConnectWhenListeningAsync(5002, TestContext.Current.CancellationToken);
        await using (connection)
        {
            await connection.WriteAsync(data, TestContext.Current.CancellationToken);
            connection.ShutdownSend();
            var reply = new MemoryStream();
            await connection.CopyToAsync(reply, TestContext.Current.CancellationToken);
            string hash = System.Text.Encoding.ASCII.GetString(reply.ToArray()).Trim();
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), hash);
            var info = await connection.GetInfoAsync(TestContext.Current.CancellationToken);
            Assert.True(info.SackEnabled && info.WindowScalingEnabled && info.TimestampsEnabled, info.ToString());
        }
        await server;
    }

    [Fact(DisplayName = "RFC 9293 3.10.7.1 over TAP: connecting to a closed kernel port fails with ConnectionRefused")]
    public async Task RefusedByKernel()
    {
        Prerequisites.Require();
        await using var tap = await TapStack.StartAsync();
        var e = await Assert.ThrowsAsync<SocketException>(() =>
            tap.Stack.ConnectTcpAsync(new IPEndPoint(IPAddress.Parse(TapStack.KernelAddress), 9), TestContext.Current.CancellationToken));
        Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
    }

    [Fact(DisplayName = "RFC 9293 3.10.7.1 over TAP: the kernel connecting to a closed Wirestack port is refused")]
    public async Task KernelRefusedByStack()
    {
        Prerequisites.Require("socat");
        await using var tap = await TapStack.StartAsync();
        var result = await tap.Namespace.ExecAsync($"echo hi | socat - TCP:{TapStack.StackAddress}:9,connect-timeout=3");
        Assert.Contains("Connection refused", result.All);
    }
}
