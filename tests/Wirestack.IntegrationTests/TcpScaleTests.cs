using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Wirestack.IntegrationTests;

public sealed class TcpScaleTests
{
    static readonly IPEndPoint KernelEcho = new(IPAddress.Parse(TapStack.KernelAddress), 7007);

    static async Task<byte[]> EchoRoundTripAsync(TcpConnection connection, byte[] payload, CancellationToken cancellationToken)
    {
        var writer = connection.WriteAsync(payload, cancellationToken).AsTask();
        var received = new byte[payload.Length];
        int total = 0;
        while (total < payload.Length)
        {
            int n = await connection.ReadAsync(received.AsMemory(total), cancellationToken);
            if (n == 0)
                break;
            total += n;
        }
        await writer;
        return received[..total];
    }

    [Fact(DisplayName = "Over TAP: 1,000 concurrent Wirestack connections each echo 64 KiB through a kernel server")]
    public async Task ThousandConcurrentConnections()
    {
        Prerequisites.Require();
        await using var tap = await TapStack.StartAsync();
        using var listener = KernelSockets.Listen(tap.Namespace, KernelEcho);
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var server = KernelSockets.ServeEchoAsync(listener, stop.Token);
        var payload = new byte[64 * 1024];
        new Random(7).NextBytes(payload);
        var clients = Enumerable.Range(0, 1000).Select(async i =>
        {
            await using var connection = await tap.Stack.ConnectTcpAsync(KernelEcho, stop.Token);
            var echoed = await EchoRoundTripAsync(connection, payload, stop.Token);
            connection.ShutdownSend();
            Assert.Equal(0, await connection.ReadAsync(new byte[1], stop.Token));
            return echoed.AsSpan().SequenceEqual(payload);
        }).ToList();
        var results = await Task.WhenAll(clients);
        Assert.All(results, Assert.True);
        await stop.CancelAsync();
        await server;
        Assert.Equal(0, await tap.Stack.InvokeAsync(e => e.Tcp.Connections.Count(c => c.State != TcpState.TimeWait)));
    }

    [Fact(DisplayName = "Over TAP: 10,000 sequential connect/transfer/close cycles leave no state behind; TIME-WAIT stays bounded")]
    public async Task TenThousandSequentialCycles()
    {
        Prerequisites.Require();
        await using var tap = await TapStack.StartAsync();
        using var listener = KernelSockets.Listen(tap.Namespace, KernelEcho);
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var server = KernelSockets.ServeEchoAsync(listener, stop.Token);
        var payload = new byte[1024];
        new Random(8).NextBytes(payload);
        for (int i = 0; i < 10_000; i++)
        {
            await using var connection = await tap.Stack.ConnectTcpAsync(KernelEcho, stop.Token);
            var echoed = await EchoRoundTripAsync(connection, payload, stop.Token);
            Assert.Equal(payload, echoed);
            connection.ShutdownSend();
            Assert.Equal(0, await connection.ReadAsync(new byte[1], stop.Token));
        }
        await stop.CancelAsync();
        await server;
        var (open, timeWait) = await tap.Stack.InvokeAsync(e => (e.Tcp.Connections.Count(c => c.State != TcpState.TimeWait), e.Tcp.TimeWaitCount));
        Assert.Equal(0, open);
        Assert.InRange(timeWait, 1, tap.Stack.Options.Tcp.MaxTimeWait);
        Assert.Equal(10_000, tap.Stack.GetCounter(StackCounter.TcpActiveOpens));
    }

    [Fact(DisplayName = "RFC 4987 over TAP: during an hping3 SYN flood (bounded) a normal kernel client still connects")]
    public async Task SynFloodStillServes()
    {
        Prerequisites.Require("hping3");
        await using var tap = await TapStack.StartAsync();
        await using var listener = await tap.Stack.ListenTcpAsync(5005, backlog: 64);
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var accepting = Task.Run(async () =>
        {
            int served = 0;
            try
            {
                while (true)
                {
                    await using var connection = await listener.AcceptAsync(stop.Token);
                    await connection.WriteAsync("hello\n"u8.ToArray(), stop.Token);
                    served++;
                }
            }
            catch (OperationCanceledException)
            {
            }
            return served;
        }, CancellationToken.None);

        // Spoofed sources outside the subnet: SYN-ACKs go nowhere, so half-open connections pile up.
        var flood = tap.Namespace.ExecAsync($"hping3 -q -S -p 5005 --rand-source -i u50 -c 20000 {TapStack.StackAddress}", TimeSpan.FromSeconds(60));
        await Task.Delay(500, TestContext.Current.CancellationToken);
        int connected = 0;
        for (int i = 0; i < 20; i++)
        {
            using var client = KernelSockets.NewStreamSocket(tap.Namespace);
            using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await client.ConnectAsync(new IPEndPoint(IPAddress.Parse(TapStack.StackAddress), 5005), attempt.Token);
            var buffer = new byte[16];
            int n = await client.ReceiveAsync(buffer, attempt.Token);
            if (System.Text.Encoding.ASCII.GetString(buffer, 0, n) == "hello\n")
                connected++;
        }
        await flood;
        await stop.CancelAsync();
        await accepting;
        Assert.Equal(20, connected);
        Assert.True(tap.Stack.GetCounter(StackCounter.TcpSynCookiesSent) > 0, "the flood should have engaged SYN cookies");
    }

    [Theory(DisplayName = "RFC 9293 over TAP: 1 GiB each way between the kernel and Wirestack, SHA-256 intact")]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public async Task OneGibibyteEachWay(string family)
    {
        Prerequisites.Require("socat", "sha256sum", "bash");
        bool ipv6 = family == "IPv6";
        await using var tap = ipv6
            ? await TapStack.StartAsync(beforeStart: ns => ns.CheckAsync("ip -6 addr add 2001:db8:1::1/64 dev tap0 nodad"),
                options: new StackOptions { Ipv4 = Ipv4Settings.Static(TapStack.StackAddress + "/24"), Ipv6 = new Ipv6Settings { StaticAddresses = [Ipv6Settings.ParseAddress("2001:db8:1::2/64")] } })
            : await TapStack.StartAsync();
        string stackAddress = ipv6 ? "[2001:db8:1::2]" : TapStack.StackAddress, kernelAddress = ipv6 ? "2001:db8:1::1" : TapStack.KernelAddress;
        string tcp = ipv6 ? "TCP6" : "TCP";
        for (int i = 0; ipv6 && i < 50 && !tap.Stack.Ipv6Addresses.Any(a => a.Origin == Ipv6AddressOrigin.Static && a.State == Ipv6AddressState.Preferred); i++)
            await Task.Delay(100, TestContext.Current.CancellationToken);
        const long Size = 1L << 30;
        string directory = Directory.CreateTempSubdirectory("wirestack-gib").FullName;
        try
        {
            // Kernel -> Wirestack: the kernel hashes what it sends.
            await using (var listener = await tap.Stack.ListenTcpAsync(5010))
            {
                string sentHash = Path.Combine(directory, "sent.sha");
                var sender = tap.Namespace.ExecAsync(
                    $"bash -c 'head -c {Size} /dev/urandom | tee >(sha256sum | cut -c1-64 > {sentHash}) | socat -b 262144 -u - {tcp}:{stackAddress}:5010'",
                    TimeSpan.FromMinutes(3));
                await using var connection = await listener.AcceptAsync(TestContext.Current.CancellationToken);
                var (total, received) = await TapStack.ReadToEndHashedAsync(connection, 1 << 18, TestContext.Current.CancellationToken);
                var result = await sender;
                Assert.True(result.ExitCode == 0, result.All);
                await Task.Delay(200, TestContext.Current.CancellationToken);
                Assert.Equal(Size, total);
                Assert.Equal((await File.ReadAllTextAsync(sentHash, TestContext.Current.CancellationToken)).Trim(), Convert.ToHexStringLower(received));
            }

            // Wirestack -> kernel: the kernel hashes what it receives.
            string receivedHash = Path.Combine(directory, "received.sha");
            var receiver = tap.Namespace.ExecAsync(
                $"bash -c 'socat -b 262144 -u {tcp}-LISTEN:5011,bind={(ipv6 ? $"[{kernelAddress}]" : kernelAddress)},reuseaddr - | sha256sum | cut -c1-64 > {receivedHash}'",
                TimeSpan.FromMinutes(3));
            var outbound = await tap.ConnectWhenListeningAsync(5011, TestContext.Current.CancellationToken, kernelAddress);
            using var outHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (outbound)
            {
                var chunk = new byte[1 << 18];
                var random = new Random(11);
                for (long sent = 0; sent < Size; sent += chunk.Length)
                {
                    random.NextBytes(chunk);
                    outHash.AppendData(chunk);
                    await outbound.WriteAsync(chunk, TestContext.Current.CancellationToken);
                }
                outbound.ShutdownSend();
                Assert.Equal(0, await outbound.ReadAsync(new byte[1], TestContext.Current.CancellationToken));
            }
            var done = await receiver;
            Assert.True(done.ExitCode == 0, done.All);
            Assert.Equal((await File.ReadAllTextAsync(receivedHash, TestContext.Current.CancellationToken)).Trim(), Convert.ToHexStringLower(outHash.GetHashAndReset()));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
