using System.Net;

namespace Wirestack.AspNetCore;

/// <summary>
/// A Kestrel end point served by a <see cref="NetworkStack"/> instead of the kernel's sockets. Only the Wirestack
/// transport binds it, so Kestrel's socket end points keep working beside it.
/// </summary>
public sealed class WirestackEndPoint : EndPoint
{
    readonly NetworkStack? _stack;
    readonly WirestackHost? _host;

    /// <summary>An end point on <paramref name="stack"/>, port <paramref name="port"/>.</summary>
    public WirestackEndPoint(NetworkStack stack, int port)
        : this(port)
    {
        _stack = stack ?? throw new ArgumentNullException(nameof(stack));
    }

    /// <summary>An end point on the stack <paramref name="host"/> runs, started when Kestrel binds it.</summary>
    internal WirestackEndPoint(WirestackHost host, int port)
        : this(port)
    {
        _host = host;
    }

    WirestackEndPoint(int port) =>
        Port = port is > 0 and <= 65535 ? port : throw new ArgumentOutOfRangeException(nameof(port));

    /// <summary>The stack that listens (for an end point on a hosted stack, once it has started).</summary>
    /// <exception cref="InvalidOperationException">The hosted stack has not started yet.</exception>
    public NetworkStack Stack => _stack ?? _host!.Stack;

    /// <summary>The TCP port.</summary>
    public int Port { get; }

    /// <summary>The stack, the hosted one started now if need be.</summary>
    internal ValueTask<NetworkStack> ResolveAsync(CancellationToken cancellationToken) =>
        _stack is not null ? ValueTask.FromResult(_stack) : _host!.GetStackAsync(cancellationToken);

    /// <inheritdoc/>
    public override string ToString() => _stack is null ? $"wirestack://hosted:{Port}" : $"wirestack://{_stack.MacAddress}:{Port}";
}
