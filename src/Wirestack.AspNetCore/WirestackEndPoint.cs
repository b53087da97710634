using System.Net;

namespace Wirestack.AspNetCore;

/// <summary>
/// A Kestrel end point served by a <see cref="NetworkStack"/> instead of the kernel's sockets. Only the Wirestack
/// transport binds it, so Kestrel's socket end points keep working beside it.
/// </summary>
public sealed class WirestackEndPoint(NetworkStack stack, int port) : EndPoint
{
    /// <summary>The stack that listens.</summary>
    public NetworkStack Stack { get; } = stack ?? throw new ArgumentNullException(nameof(stack));

    /// <summary>The TCP port.</summary>
    public int Port { get; } = port is > 0 and <= 65535 ? port : throw new ArgumentOutOfRangeException(nameof(port));

    /// <inheritdoc/>
    public override string ToString() => $"wirestack://{Stack.MacAddress}:{Port}";
}
