using System.Net;
using Wirestack.Devices;

namespace Wirestack.Tests;

/// <summary>
/// Two started stacks on the ends of an in-memory link, IPv4 only (IPv6's start-up traffic would overlap what a test
/// measures), both ready: <c>PREFIX.1</c> on the left, <c>PREFIX.2</c> on the right.
/// </summary>
internal sealed class StackPair : IAsyncDisposable
{
    readonly InMemoryDevice _leftDevice, _rightDevice;

    StackPair(InMemoryDevice left, InMemoryDevice right, NetworkStack leftStack, NetworkStack rightStack, string prefix)
    {
        (_leftDevice, _rightDevice, Left, Right) = (left, right, leftStack, rightStack);
        RightAddress = IPAddress.Parse(prefix + ".2");
    }

    public NetworkStack Left { get; }
    public NetworkStack Right { get; }
    public IPAddress RightAddress { get; }

    /// <param name="prefix">The first three bytes of the /24, such as "10.1.3"; each test its own.</param>
    public static async Task<StackPair> StartAsync(string prefix, CancellationToken cancellationToken)
    {
        var (a, b) = InMemoryLink.CreatePair();
        var ipv6 = Ipv6Settings.Disabled();
        var left = await NetworkStack.StartAsync(a, new StackOptions { Ipv4 = Ipv4Settings.Static(prefix + ".1/24"), Ipv6 = ipv6, MacAddress = Wire.MacAddress.Parse("02:00:00:00:0e:01") }, cancellationToken);
        var right = await NetworkStack.StartAsync(b, new StackOptions { Ipv4 = Ipv4Settings.Static(prefix + ".2/24"), Ipv6 = ipv6 }, cancellationToken);
        await left.WaitUntilReadyAsync(cancellationToken);
        await right.WaitUntilReadyAsync(cancellationToken);
        return new StackPair(a, b, left, right, prefix);
    }

    public async ValueTask DisposeAsync()
    {
        await Left.DisposeAsync();
        await Right.DisposeAsync();
        _leftDevice.Dispose();
        _rightDevice.Dispose();
    }
}
