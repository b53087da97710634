using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using System.Threading.Tasks.Sources;
using Wirestack.Engine;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack;

/// <summary>
/// A UDP socket on a <see cref="NetworkStack"/>. Received datagrams wait in a bounded queue; when it is full new ones
/// are dropped and counted (<see cref="DroppedDatagrams"/>). Errors reported by the network (ICMP unreachable,
/// failed address resolution) surface as <see cref="SocketException"/> from the next receive.
/// </summary>
public sealed class UdpSocket : IDisposable
{
    readonly NetworkStack _stack;
    readonly Channel<Received> _queue;
    int _disposed;

    readonly record struct Received(byte[]? Buffer, int Length, IPEndPoint? Remote, SocketError Error);

    internal UdpSocket(NetworkStack stack, int capacity)
    {
        _stack = stack;
        _queue = Channel.CreateBounded<Received>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleWriter = true,
        });
        Receiver = new QueueReceiver(this);
    }

    internal IUdpReceiver Receiver { get; }

    internal UdpBinding Binding { get; set; } = null!;

    /// <summary>The local port.</summary>
    public int LocalPort => Binding.Port;

    /// <summary>The local end point (the stack's address, or 0.0.0.0 while it has none).</summary>
    public IPEndPoint LocalEndPoint => new(_stack.Ipv4Address ?? IPAddress.Any, Binding.Port);

    /// <summary>Allows sending to broadcast addresses (SO_BROADCAST); off by default as on other sockets.</summary>
    public bool EnableBroadcast { get; set; }

    /// <summary>
    /// Joins a multicast group of either family (like <c>UdpClient.JoinMulticastGroup</c>): the stack reports the
    /// membership on the link (IGMPv3, MLDv2) and datagrams sent to the group and this socket's port arrive here.
    /// The membership ends with <see cref="DropMulticastGroupAsync"/> or when the socket is disposed.
    /// </summary>
    /// <exception cref="SocketException">InvalidArgument (not a multicast address), AddressFamilyNotSupported (IPv6 is
    /// off), AddressAlreadyInUse (joined already), NoBufferSpaceAvailable (more than 20 groups on the socket, or the
    /// interface's table is full).</exception>
    public Task JoinMulticastGroupAsync(IPAddress group) => ChangeMembershipAsync(group, join: true);

    /// <summary>Leaves a group this socket joined.</summary>
    /// <exception cref="SocketException">AddressNotAvailable: the socket is not a member.</exception>
    public Task DropMulticastGroupAsync(IPAddress group) => ChangeMembershipAsync(group, join: false);

    async Task ChangeMembershipAsync(IPAddress group, bool join)
    {
        ArgumentNullException.ThrowIfNull(group);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var address = IpAddress.FromIPAddress(group);
        var binding = Binding;
        var result = await _stack.InvokeAsync(e => join ? e.Udp.JoinGroup(binding, address) : e.Udp.LeaveGroup(binding, address)).ConfigureAwait(false);
        if (result != SocketError.Success)
            throw new SocketException((int)result);
    }

    /// <summary>TTL (IPv4) or hop limit (IPv6) of multicast datagrams this socket sends, 1 to 255; 1 (the local link) by default.</summary>
    public int MulticastTimeToLive
    {
        get => Binding.MulticastTimeToLive;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 255);
            Binding.MulticastTimeToLive = (byte)value;
        }
    }

    /// <summary>Whether multicast datagrams this socket sends also reach local sockets in the group (on by default, as <c>Socket.MulticastLoopback</c>).</summary>
    public bool MulticastLoopback
    {
        get => Binding.MulticastLoopback;
        set => Binding.MulticastLoopback = value;
    }

    /// <summary>Datagrams dropped because the receive queue was full.</summary>
    public long DroppedDatagrams => Volatile.Read(ref _dropped);

    long _dropped;

    /// <summary>Sends one datagram to <paramref name="remote"/> and returns its length.</summary>
    /// <remarks>
    /// Allocates nothing in steady state: the send travels to the event loop in an operation object the socket
    /// reuses. Cancellation is honoured until the datagram is handed to the loop; after that the send completes
    /// promptly (the loop never blocks), so the engine never reads the caller's buffer after the call returned.
    /// </remarks>
    /// <exception cref="SocketException">MessageSize (over 65,507 bytes), NetworkUnreachable (no route), AccessDenied
    /// (broadcast without <see cref="EnableBroadcast"/>), AddressNotAvailable (port 0 or address 0.0.0.0).</exception>
    /// <exception cref="ObjectDisposedException">The socket or its stack is disposed.</exception>
    public ValueTask<int> SendToAsync(ReadOnlyMemory<byte> datagram, IPEndPoint remote, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(remote);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled<int>(cancellationToken);
        var operation = Interlocked.Exchange(ref _idleSend, null) ?? new SendOperation(this);
        return operation.Start(datagram, IpAddress.FromIPAddress(remote.Address), (ushort)remote.Port, EnableBroadcast);
    }

    // One send and one receive operation are kept for reuse; a caller that finds the slot empty (sends or receives
    // running concurrently) makes its own. Reusing them rather than async methods is what makes a datagram cost no
    // allocation whichever threads the continuations run on: the runtime's pooled async state is a cache per thread
    // and core that misses whenever work moves between threads.
    SendOperation? _idleSend;
    ReceiveOperation? _idleReceive;

    /// <summary>One send on its way to the event loop: it carries the datagram there and the result back.</summary>
    sealed class SendOperation : IValueTaskSource<int>
    {
        readonly UdpSocket _socket;
        readonly Action<NetworkEngine> _run;
        ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = true };
        ReadOnlyMemory<byte> _datagram;
        IpAddress _destination;
        ushort _port;
        bool _broadcast;

        public SendOperation(UdpSocket socket)
        {
            _socket = socket;
            _run = Run;
        }

        public ValueTask<int> Start(ReadOnlyMemory<byte> datagram, IpAddress destination, ushort port, bool broadcast)
        {
            _core.Reset();
            (_datagram, _destination, _port, _broadcast) = (datagram, destination, port, broadcast);
            if (!_socket._stack.TryPost(_run))
                _core.SetException(new ObjectDisposedException(nameof(NetworkStack)));
            return new ValueTask<int>(this, _core.Version);
        }

        void Run(NetworkEngine engine)
        {
            var datagram = _datagram;
            _datagram = default; // the caller's buffer is not ours past this call
            try
            {
                var result = !_broadcast && _destination.IsIpv4 && engine.Interface.IsBroadcast(_destination.Ipv4)
                    ? SocketError.AccessDenied
                    : engine.Udp.Send(_socket.Binding, _destination, _port, datagram.Span);
                if (result == SocketError.Success)
                    _core.SetResult(datagram.Length);
                else
                    _core.SetException(new SocketException((int)result));
            }
            catch (Exception e)
            {
                _core.SetException(e);
            }
        }

        public int GetResult(short token)
        {
            try
            {
                return _core.GetResult(token);
            }
            finally
            {
                // The awaiter is done with this operation once it has the result.
                Volatile.Write(ref _socket._idleSend, this);
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }

    /// <summary>Receives the next datagram.</summary>
    /// <exception cref="SocketException">The network reported an error for a datagram this socket sent.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The socket or its stack is disposed.</exception>
    public async ValueTask<UdpReceiveResult> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        var item = await NextAsync(cancellationToken).ConfigureAwait(false);
        var bytes = item.Buffer.AsSpan(0, item.Length).ToArray();
        ArrayPool<byte>.Shared.Return(item.Buffer!);
        return new UdpReceiveResult(bytes, item.Remote!);
    }

    /// <summary>
    /// Receives the next datagram into <paramref name="buffer"/>; a longer datagram is cut to the buffer's length.
    /// Allocates nothing in steady state (the same <see cref="IPEndPoint"/> instance comes back for the same peer).
    /// </summary>
    /// <exception cref="SocketException">The network reported an error for a datagram this socket sent.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The socket or its stack is disposed.</exception>
    public ValueTask<SocketReceiveFromResult> ReceiveFromAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        try
        {
            if (TryTake(out var item))
                return new ValueTask<SocketReceiveFromResult>(CopyOut(item, buffer));
        }
        catch (SocketException e)
        {
            return ValueTask.FromException<SocketReceiveFromResult>(e);
        }
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled<SocketReceiveFromResult>(cancellationToken);
        var operation = Interlocked.Exchange(ref _idleReceive, null) ?? new ReceiveOperation(this);
        return operation.Start(buffer, cancellationToken);
    }

    static SocketReceiveFromResult CopyOut(Received item, Memory<byte> buffer)
    {
        int length = Math.Min(item.Length, buffer.Length);
        item.Buffer.AsSpan(0, length).CopyTo(buffer.Span);
        ArrayPool<byte>.Shared.Return(item.Buffer!);
        return new SocketReceiveFromResult { ReceivedBytes = length, RemoteEndPoint = item.Remote! };
    }

    /// <summary>Takes a queued datagram if there is one; a queued error is thrown.</summary>
    bool TryTake(out Received item)
    {
        if (!_queue.Reader.TryRead(out item))
            return false;
        if (item.Error != SocketError.Success)
            throw new SocketException((int)item.Error);
        return true;
    }

    async ValueTask<Received> NextAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        while (true)
        {
            if (TryTake(out var item))
                return item;
            if (!await WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                throw new ObjectDisposedException(nameof(UdpSocket));
        }
    }

    /// <summary>Waits for the queue to have an item; false once it is closed (the socket is disposed).</summary>
    ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            return _queue.Reader.WaitToReadAsync(cancellationToken);
        }
        catch (ChannelClosedException)
        {
            return ValueTask.FromResult(false);
        }
    }

    /// <summary>One receive waiting for a datagram: it waits on the queue and copies the datagram out when one comes.</summary>
    sealed class ReceiveOperation : IValueTaskSource<SocketReceiveFromResult>
    {
        readonly UdpSocket _socket;
        readonly Action _onReadable;
        // Completed on a thread-pool thread (the queue's own continuation), so the caller's continuation runs inline.
        ManualResetValueTaskSourceCore<SocketReceiveFromResult> _core;
        ConfiguredValueTaskAwaitable<bool>.ConfiguredValueTaskAwaiter _wait;
        Memory<byte> _buffer;
        CancellationToken _cancellationToken;

        public ReceiveOperation(UdpSocket socket)
        {
            _socket = socket;
            _onReadable = OnReadable;
        }

        public ValueTask<SocketReceiveFromResult> Start(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            _core.Reset();
            (_buffer, _cancellationToken) = (buffer, cancellationToken);
            WaitForDatagram();
            return new ValueTask<SocketReceiveFromResult>(this, _core.Version);
        }

        void WaitForDatagram()
        {
            // Another receiver may take the datagram that woke this one, so wake, try, and wait again until one is ours.
            while (true)
            {
                _wait = _socket.WaitToReadAsync(_cancellationToken).ConfigureAwait(false).GetAwaiter();
                if (!_wait.IsCompleted)
                {
                    _wait.UnsafeOnCompleted(_onReadable);
                    return;
                }
                if (TryComplete())
                    return;
            }
        }

        void OnReadable()
        {
            if (!TryComplete())
                WaitForDatagram();
        }

        /// <summary>Completes the receive from the finished wait, unless the datagram it announced was taken.</summary>
        bool TryComplete()
        {
            try
            {
                if (!_wait.GetResult())
                    throw new ObjectDisposedException(nameof(UdpSocket));
                if (!_socket.TryTake(out var item))
                    return false;
                _core.SetResult(CopyOut(item, _buffer));
            }
            catch (ChannelClosedException)
            {
                _core.SetException(new ObjectDisposedException(nameof(UdpSocket)));
            }
            catch (Exception e)
            {
                _core.SetException(e);
            }
            return true;
        }

        public SocketReceiveFromResult GetResult(short token)
        {
            try
            {
                return _core.GetResult(token);
            }
            finally
            {
                (_buffer, _cancellationToken) = (default, default);
                Volatile.Write(ref _socket._idleReceive, this);
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }

    /// <summary>Unbinds the port and fails pending receives with <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        var binding = Binding;
        _stack.Post(engine => engine.Udp.Unbind(binding));
        _queue.Writer.TryComplete();
        while (_queue.Reader.TryRead(out var item))
        {
            if (item.Buffer is not null)
                ArrayPool<byte>.Shared.Return(item.Buffer);
        }
    }

    /// <summary>Runs on the event loop: copies each datagram into a pooled buffer and queues it.</summary>
    sealed class QueueReceiver(UdpSocket socket) : IUdpReceiver
    {
        // The last peer's end point, reused while datagrams keep coming from it (engine thread only).
        IPEndPoint? _lastRemote;
        IpAddress _lastAddress;
        ushort _lastPort;

        public bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress remoteAddress, ushort remotePort, IpAddress localAddress)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(payload.Length, 1));
            payload.CopyTo(buffer);
            if (_lastRemote is null || _lastAddress != remoteAddress || _lastPort != remotePort)
                (_lastRemote, _lastAddress, _lastPort) = (new IPEndPoint(remoteAddress.ToIPAddress(), remotePort), remoteAddress, remotePort);
            if (socket._queue.Writer.TryWrite(new Received(buffer, payload.Length, _lastRemote, SocketError.Success)))
                return true;
            ArrayPool<byte>.Shared.Return(buffer);
            Interlocked.Increment(ref socket._dropped);
            return false;
        }

        public void DeliverError(SocketError error, IpAddress remoteAddress, ushort remotePort) =>
            socket._queue.Writer.TryWrite(new Received(null, 0, new IPEndPoint(remoteAddress.ToIPAddress(), remotePort), error));
    }
}
