using System.Net;
using System.Threading.Channels;
using Wirestack.Engine;
using Wirestack.Hosting;

namespace Wirestack;

/// <summary>
/// Every echo request (ping, ICMP or ICMPv6) the stack's interface receives for an address that is not its own: each
/// comes out of <see cref="AcceptAsync"/> as an <see cref="EchoForwardRequest"/>, which the application answers as
/// the destination (after pinging it upstream, so the client sees the real round trip), answers with an ICMP error,
/// or drops. Made by <see cref="NetworkStack.ForwardEchoAsync"/>; one per stack at a time.
/// </summary>
public sealed class EchoForwarder : IAsyncDisposable
{
    readonly NetworkStack _stack;
    readonly OfferQueue<EchoForwardRequest> _requests;

    internal EchoForwarder(NetworkStack stack, int capacity)
    {
        _stack = stack;
        // Past the bound a request is dropped at the door and counted: a ping flood cannot grow this queue.
        _requests = new OfferQueue<EchoForwardRequest>(nameof(EchoForwarder), capacity, BoundedChannelFullMode.Wait);
        Events = new ForwardEvents(this);
    }

    internal IEchoForwardEvents Events { get; }

    /// <summary>Waits for the next echo request to an address not the stack's.</summary>
    /// <exception cref="ObjectDisposedException">The forwarder was disposed.</exception>
    public async ValueTask<EchoForwardRequest> AcceptAsync(CancellationToken cancellationToken = default)
    {
        return await _requests.TakeAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops forwarding echo requests: those to other addresses are dropped again.</summary>
    public ValueTask DisposeAsync()
    {
        if (_requests.TryClose())
            _stack.Post(engine => engine.SetEchoForwarder(null));
        return ValueTask.CompletedTask;
    }

    sealed class ForwardEvents(EchoForwarder owner) : IEchoForwardEvents
    {
        public bool HasRoom => owner._requests.HasRoom;

        public bool OnRequest(EchoForwardPending request) => owner._requests.TryOffer(new EchoForwardRequest(owner._stack, request));
    }
}

/// <summary>
/// One forwarded echo request: <see cref="Reply"/> answers it as <see cref="Destination"/>, <see cref="Unreachable"/>
/// with an ICMP destination unreachable from it, <see cref="Drop"/> (or no answer) with silence. Requests hold nothing
/// in the stack, so one left unanswered costs nothing. One answer only.
/// </summary>
public sealed class EchoForwardRequest
{
    readonly NetworkStack _stack;
    readonly EchoForwardPending _pending;
    int _decided;

    internal EchoForwardRequest(NetworkStack stack, EchoForwardPending pending)
    {
        _stack = stack;
        _pending = pending;
        Source = pending.Source.ToIPAddress();
        Destination = pending.Destination.ToIPAddress();
    }

    /// <summary>The client that sent the request.</summary>
    public IPAddress Source { get; }

    /// <summary>The address it pinged.</summary>
    public IPAddress Destination { get; }

    /// <summary>The request's identifier (RFC 792, RFC 4443 4.1): with the sequence number, what the client matches replies by.</summary>
    public ushort Identifier => (ushort)(_pending.Message[4] << 8 | _pending.Message[5]);

    /// <summary>The request's sequence number.</summary>
    public ushort SequenceNumber => (ushort)(_pending.Message[6] << 8 | _pending.Message[7]);

    /// <summary>The request's data, which a reply carries back unchanged.</summary>
    public ReadOnlyMemory<byte> Data => _pending.Message.AsMemory(8);

    /// <summary>Answers as <see cref="Destination"/> with an echo reply carrying the request's identifier, sequence number and data.</summary>
    /// <exception cref="InvalidOperationException">The request was answered already.</exception>
    public void Reply()
    {
        Decide();
        _stack.Post(engine => engine.ReplyToForwardedEcho(_pending));
    }

    /// <summary>Answers with an ICMP destination unreachable from <see cref="Destination"/>, as a router on the way would.</summary>
    /// <exception cref="InvalidOperationException">The request was answered already.</exception>
    public void Unreachable(ForwardUnreachable reason = ForwardUnreachable.Host)
    {
        Decide();
        _stack.Post(engine => engine.UnreachableForwardedEcho(_pending, reason));
    }

    /// <summary>Sends nothing, as if the request or its reply were lost (the same as never answering).</summary>
    /// <exception cref="InvalidOperationException">The request was answered already.</exception>
    public void Drop() => Decide();

    void Decide()
    {
        if (Interlocked.Exchange(ref _decided, 1) != 0)
            throw new InvalidOperationException("The request was answered already.");
    }
}
