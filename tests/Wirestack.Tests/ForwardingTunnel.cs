using System.Net;
using Wirestack.Devices;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>A client and a forwarder on an in-memory link, both families, the client routed through the forwarder.</summary>
internal sealed class ForwardingTunnel : IAsyncDisposable
{
    readonly InMemoryDevice _a, _b;

    ForwardingTunnel(InMemoryDevice a, InMemoryDevice b, NetworkStack client, NetworkStack forwarder) => (_a, _b, Client, Forwarder) = (a, b, client, forwarder);

    public NetworkStack Client { get; }
    public NetworkStack Forwarder { get; }

    public static async Task<ForwardingTunnel> StartAsync(string prefix, ForwardingSettings? settings, CancellationToken cancellationToken)
    {
        var (a, b) = InMemoryLink.CreatePair();
        static Ipv6Settings Ipv6(string address, string? gateway) => new()
        {
            Autoconfigure = false,
            AcceptRouterAdvertisements = false,
            Dhcpv6 = false,
            DadTransmits = 0,
            StaticAddresses = [(IPAddress.Parse(address), 64)],
            Gateway = gateway is null ? null : IPAddress.Parse(gateway),
        };
        var client = await NetworkStack.StartAsync(a, new StackOptions
        {
            Ipv4 = Ipv4Settings.Static(prefix + ".1/24", prefix + ".2"),
            Ipv6 = Ipv6("fd00:23::1", "fd00:23::2"),
            MacAddress = MacAddress.Parse("02:00:00:00:23:01"),
        }, cancellationToken);
        var forwarder = await NetworkStack.StartAsync(b, new StackOptions
        {
            Ipv4 = Ipv4Settings.Static(prefix + ".2/24"),
            Ipv6 = Ipv6("fd00:23::2", null),
            Forwarding = settings ?? new ForwardingSettings(),
        }, cancellationToken);
        await client.WaitUntilReadyAsync(cancellationToken);
        await forwarder.WaitUntilReadyAsync(cancellationToken);
        return new ForwardingTunnel(a, b, client, forwarder);
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Forwarder.DisposeAsync();
        _a.Dispose();
        _b.Dispose();
    }
}
