using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Wirestack.Device.Platform;

namespace Wirestack.Tunnel;

/// <summary>
/// The one thread that keeps the capabilities the tunnel's own sockets need once the process has become an ordinary
/// user: CAP_NET_ADMIN to set a firewall mark (SO_MARK) and CAP_NET_RAW for ping's raw sockets and binding to an
/// interface. The kernel checks the capabilities of the thread that makes each call, and a .NET process's threads all
/// exist before any code runs, so the process as a whole cannot keep a chosen few; this thread keeps them, and only
/// the socket calls that need them run on it (<see cref="Run{T}"/>).
/// </summary>
internal sealed unsafe class PrivilegedThread : IDisposable
{
    public const int NetAdmin = 12, NetRaw = 13;
    const int PrSetKeepCaps = 8;
    const uint CapabilityVersion3 = 0x20080522;

    readonly BlockingCollection<Action> _calls = [];
    readonly ManualResetEventSlim _keeping = new(), _dropped = new(), _settled = new();
    readonly ulong _capabilities;
    string? _failure;

    /// <summary>Starts the thread, which asks to keep its capabilities through the change of user to come.</summary>
    public PrivilegedThread(IEnumerable<int> capabilities)
    {
        foreach (int capability in capabilities)
            _capabilities |= 1UL << capability;
        var thread = new Thread(Serve) { IsBackground = true, Name = "wirestack privileged sockets" };
        thread.Start();
        _keeping.Wait();
        if (_failure is not null)
            throw new InvalidOperationException(_failure);
    }

    /// <summary>The capabilities kept, as /proc/PID/status shows them (hex).</summary>
    public string Kept => _capabilities.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Call once the process became its user (<see cref="Privileges.DropTo"/>): the thread gives up every capability but
    /// those it keeps, in every set, so that nothing here can become root again.
    /// </summary>
    public void Settle()
    {
        _dropped.Set();
        _settled.Wait();
        if (_failure is not null)
            throw new InvalidOperationException(_failure);
    }

    /// <summary>Runs <paramref name="call"/> on this thread and returns what it returned (or throws what it threw).</summary>
    public T Run<T>(Func<T> call)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _calls.Add(() =>
        {
            try
            {
                done.SetResult(call());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        });
        return done.Task.GetAwaiter().GetResult();
    }

    void Serve()
    {
        // Kept through setresuid to a user other than root: without it the kernel empties this thread's permitted set.
        if (Posix.Prctl(PrSetKeepCaps, 1, 0, 0, 0) != 0)
            _failure = Failure("prctl(PR_SET_KEEPCAPS)");
        _keeping.Set();
        if (_failure is not null)
            return;
        _dropped.Wait();
        uint low = (uint)_capabilities, high = (uint)(_capabilities >> 32);
        uint* header = stackalloc uint[2] { CapabilityVersion3, 0 };
        // Effective, permitted, inheritable for capabilities 0-31, then for 32-63: only the kept ones, none inheritable.
        uint* sets = stackalloc uint[6] { low, low, 0, high, high, 0 };
        if (Posix.Capset(header, sets) != 0)
            _failure = Failure("capset");
        _ = Posix.Prctl(PrSetKeepCaps, 0, 0, 0, 0);
        _settled.Set();
        if (_failure is not null)
            return;
        foreach (var call in _calls.GetConsumingEnumerable())
            call();
    }

    static string Failure(string call) => $"{call} failed: {Posix.Describe(Marshal.GetLastPInvokeError())}";

    public void Dispose() => _calls.CompleteAdding();
}
