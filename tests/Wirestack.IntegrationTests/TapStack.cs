using Wirestack.Devices;

namespace Wirestack.IntegrationTests;

/// <summary>
/// A namespace with a TAP device whose host side is the kernel peer (192.168.0.1/24) and whose other side runs a
/// Wirestack stack in this test process (192.168.0.2/24).
/// </summary>
internal sealed class TapStack : IAsyncDisposable
{
    public const string KernelAddress = "192.168.0.1";
    public const string StackAddress = "192.168.0.2";

    TapStack(TestNamespace ns, TapDevice tap, INetworkDevice device, NetworkStack stack)
    {
        Namespace = ns;
        Tap = tap;
        Device = device;
        Stack = stack;
    }

    public TestNamespace Namespace { get; }
    public TapDevice Tap { get; }
    public INetworkDevice Device { get; }
    public NetworkStack Stack { get; }

    public static async Task<TapStack> StartAsync(Func<INetworkDevice, INetworkDevice>? decorate = null, Ipv4Settings? ipv4 = null,
        Func<TestNamespace, Task>? beforeStart = null, bool waitReady = true, DhcpServerSettings? dhcpServer = null, StackOptions? options = null,
        bool offloads = true)
    {
        var ns = await TestNamespace.CreateAsync();
        try
        {
            var tap = TapDevice.Open("tap0", new TunTapOptions { NetworkNamespace = ns.Name, Offloads = offloads });
            tap.ConfigureHostSide(System.Net.IPAddress.Parse(KernelAddress), 24);
            if (beforeStart is not null)
                await beforeStart(ns);
            var device = decorate?.Invoke(tap) ?? tap;
            var stack = await NetworkStack.StartAsync(device, (options ?? new StackOptions { Ipv4 = Ipv4Settings.Static(StackAddress + "/24") }) with { Ipv4 = ipv4 ?? Ipv4Settings.Static(StackAddress + "/24"), DhcpServer = dhcpServer });
            if (waitReady)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await stack.WaitUntilReadyAsync(timeout.Token);
            }
            return new TapStack(ns, tap, device, stack);
        }
        catch
        {
            await ns.DisposeAsync();
            throw;
        }
    }

    /// <summary>Reads <paramref name="connection"/> to its end: how many bytes came and their SHA-256.</summary>
    public static async Task<(long Total, byte[] Sha256)> ReadToEndHashedAsync(TcpConnection connection, int bufferSize, CancellationToken cancellationToken)
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        var buffer = new byte[bufferSize];
        long total = 0;
        int n;
        while ((n = await connection.ReadAsync(buffer, cancellationToken)) > 0)
        {
            sha.AppendData(buffer, 0, n);
            total += n;
        }
        return (total, sha.GetHashAndReset());
    }

    /// <summary>Connects to a kernel-side server that may still be starting: retries refusals for a few seconds.</summary>
    public Task<TcpConnection> ConnectWhenListeningAsync(int port, CancellationToken cancellationToken, string address = KernelAddress) =>
        ConnectWhenListeningAsync(Stack, new System.Net.IPEndPoint(System.Net.IPAddress.Parse(address), port), cancellationToken);

    /// <summary>Connects <paramref name="stack"/> to a kernel-side server that may still be starting (retries refusals for a few seconds).</summary>
    public static async Task<TcpConnection> ConnectWhenListeningAsync(NetworkStack stack, System.Net.IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return await stack.ConnectTcpAsync(endPoint, cancellationToken);
            }
            catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.ConnectionRefused && attempt < 50)
            {
                await Task.Delay(100, cancellationToken);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Stack.DisposeAsync();
        Device.Dispose();
        Tap.Dispose();
        await Namespace.DisposeAsync();
    }
}
