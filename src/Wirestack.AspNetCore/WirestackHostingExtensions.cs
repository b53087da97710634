using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Wirestack.AspNetCore;

namespace Wirestack;

/// <summary>Plugs Wirestack into ASP.NET Core and HttpClient.</summary>
public static class WirestackHostingExtensions
{
    /// <summary>
    /// Adds the Wirestack transport to Kestrel and listens on the given stack: <c>listen</c> declares the ports.
    /// Kestrel's own socket end points (if any) keep working beside it.
    /// </summary>
    public static IWebHostBuilder UseWirestack(this IWebHostBuilder builder, NetworkStack stack, Action<WirestackListenBuilder> listen)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(listen);
        builder.ConfigureServices(services => services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, WirestackTransportFactory>()));
        builder.ConfigureKestrel(options => listen(new WirestackListenBuilder(options, port => new WirestackEndPoint(stack, port))));
        return builder;
    }

    /// <summary>
    /// Adds the Wirestack transport to Kestrel and listens on the stack <see cref="WirestackServiceCollectionExtensions.AddWirestack"/>
    /// runs as a hosted service (started when Kestrel binds, if it has not started yet).
    /// </summary>
    public static IWebHostBuilder UseWirestack(this IWebHostBuilder builder, Action<WirestackListenBuilder> listen)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(listen);
        builder.ConfigureServices(services => services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, WirestackTransportFactory>()));
        builder.ConfigureKestrel(options =>
        {
            var host = options.ApplicationServices.GetService<WirestackHost>()
                ?? throw new InvalidOperationException("UseWirestack without a stack needs services.AddWirestack().");
            listen(new WirestackListenBuilder(options, port => new WirestackEndPoint(host, port)));
        });
        return builder;
    }

    /// <summary>
    /// An HttpClient handler whose connections go through the stack: names resolve with its DNS resolver (A and AAAA)
    /// and TCP connects through it with Happy Eyeballs; HTTPS works on top as usual.
    /// </summary>
    public static SocketsHttpHandler CreateHttpMessageHandler(this NetworkStack stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        return new SocketsHttpHandler
        {
            // Names resolve to both families and connect with Happy Eyeballs (RFC 8305).
            ConnectCallback = async (context, cancellationToken) =>
                await stack.ConnectTcpAsync(context.DnsEndPoint.Host, context.DnsEndPoint.Port, cancellationToken).ConfigureAwait(false),
        };
    }
}

/// <summary>Declares the ports Kestrel serves on a Wirestack stack.</summary>
public sealed class WirestackListenBuilder
{
    readonly KestrelServerOptions _options;
    readonly Func<int, WirestackEndPoint> _endPoint;

    internal WirestackListenBuilder(KestrelServerOptions options, Func<int, WirestackEndPoint> endPoint)
    {
        _options = options;
        _endPoint = endPoint;
    }

    /// <summary>Listens on <paramref name="port"/>; <paramref name="configure"/> may add HTTPS, protocols, etc.</summary>
    public WirestackListenBuilder Listen(int port, Action<ListenOptions>? configure = null)
    {
        _options.Listen(_endPoint(port), o => configure?.Invoke(o));
        return this;
    }
}
