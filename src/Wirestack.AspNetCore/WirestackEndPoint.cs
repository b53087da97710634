using System.Net;

namespace Wirestack.AspNetCore;

/// <summary>
/// A Kestrel end point served by a <see cref="NetworkStack"/> instead of the kernel's sockets. Only the Wirestack
/// transport binds it, so Kestrel's socket end points keep working beside it.
/// </summary>
public sealed class WirestackEndPoint : EndPoint
{
    readonly NetworkStack? _stack;
    readonly Func<CancellationToken, ValueTask<NetworkStack>> _resolve;

    /// <summary>An end point on <paramref name="stack"/>, port <paramref name="port"/>.</summary>
    public WirestackEndPoint(NetworkStack stack, int port)
        : this(port, _ => ValueTask.FromResult(stack))
    {
        _stack = stack ?? throw new ArgumentNullException(nameof(stack));
    }

    /// <summary>An end point on the stack a hosted <see cref="WirestackHost"/> runs, started when Kestrel binds it.</summary>
    internal WirestackEndPoint(int port, Func<CancellationToken, ValueTask<NetworkStack>> resolve)
    {
        Port = port is > 0 and <= 65535 ? port : throw new ArgumentOutOfRangeException(nameof(port));
        _resolve = resolve;
    }

    /// <summary>The stack that listens (for an end point on a hosted stack, once it has started).</summary>
    public NetworkStack Stack => _stack ?? _resolve(CancellationToken.None).AsTask().GetAwaiter().GetResult();

    /// <summary>The TCP port.</summary>
    public int Port { get; }

    internal ValueTask<NetworkStack> ResolveAsync(CancellationToken cancellationToken) => _resolve(cancellationToken);

    /// <inheritdoc/>
    public override string ToString() => _stack is null ? $"wirestack://hosted:{Port}" : $"wirestack://{_stack.MacAddress}:{Port}";
}
