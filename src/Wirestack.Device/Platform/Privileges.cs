using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;

namespace Wirestack.Device.Platform;

/// <summary>
/// Least privilege: nothing after the TAP is open and its host side configured needs root (a reset reuses the open
/// descriptor; the stack's ports are its own, not the kernel's), so the device becomes an ordinary user then.
/// </summary>
internal static unsafe class Privileges
{
    const int PrSetNoNewPrivs = 38;

    /// <summary>The user a root-started device becomes when --run-as is not given.</summary>
    public const string DefaultUser = "nobody";

    public static bool IsRoot => OperatingSystem.IsLinux() && Posix.EffectiveUserId == 0;

    /// <summary>The account the process runs as now.</summary>
    public static Posix.Account Current =>
        Posix.FindAccount(Posix.EffectiveUserId.ToString(System.Globalization.CultureInfo.InvariantCulture))
        ?? new Posix.Account(Environment.UserName, Posix.EffectiveUserId, 0, "/");

    /// <summary>
    /// Becomes <paramref name="account"/> for good: supplementary groups, then group, then user (real, effective and
    /// saved, so there is no way back); the kernel clears every capability as the last root id goes. glibc makes
    /// every thread of the process take the new ids. Throws when any step fails or root can still be regained.
    /// </summary>
    public static void DropTo(Posix.Account account)
    {
        // Assemblies load lazily; once the process is another user the directory they come from may be closed to it
        // (a build under /root). Load the application's own now, while it can.
        LoadApplicationAssemblies();
        uint gid = account.Gid;
        if (Posix.SetGroups(1, &gid) != 0)
            throw Failure("setgroups");
        if (Posix.SetResGid(gid, gid, gid) != 0)
            throw Failure("setresgid");
        if (Posix.SetResUid(account.Uid, account.Uid, account.Uid) != 0)
            throw Failure("setresuid");
        if (Posix.SetResUid(0, 0, 0) == 0)
            throw new InvalidOperationException("root could be regained after dropping privileges");
        // No set-user-id program this process might start can raise it again.
        _ = Posix.Prctl(PrSetNoNewPrivs, 1, 0, 0, 0);
    }

    static InvalidOperationException Failure(string call) =>
        new($"{call} failed: {Posix.Describe(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");

    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only a JIT build loads assemblies from disk; a native build has none to load and returns first.")]
    [UnconditionalSuppressMessage("SingleFile", "IL3000", Justification = "As above: Location is empty only in a single-file or native build, which returns first.")]
    static void LoadApplicationAssemblies()
    {
        if (!RuntimeFeature.IsDynamicCodeSupported || string.IsNullOrEmpty(typeof(Privileges).Assembly.Location))
            return;
        var pending = new Stack<Assembly>([Assembly.GetEntryAssembly()!]);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        string baseDirectory = AppContext.BaseDirectory;
        while (pending.TryPop(out var assembly))
        {
            foreach (var reference in assembly.GetReferencedAssemblies())
            {
                if (!seen.Add(reference.FullName))
                    continue;
                try
                {
                    var loaded = AssemblyLoadContext.Default.LoadFromAssemblyName(reference);
                    if (loaded.Location.StartsWith(baseDirectory, StringComparison.Ordinal))
                        pending.Push(loaded);
                }
                catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
                {
                    // A reference no code path uses at run time (a compile-time facade, another platform's assembly).
                }
            }
        }
    }

    /// <summary>Names the TAP descriptor a device started again without capabilities inherits: "fd:name:created".</summary>
    public const string InheritedTapVariable = "WIRESTACK_INHERITED_TAP";

    const uint CapabilityVersion3 = 0x20080522;

    /// <summary>
    /// Sheds the capabilities of a device started without root but with some (CAP_NET_ADMIN from a systemd unit's
    /// AmbientCapabilities= or setpriv): capabilities belong to each thread, and the runtime's threads already exist,
    /// so no call can take them from the whole process; an exec can. The program starts itself again with the TAP's
    /// descriptor kept open and its ambient capabilities cleared, and the new image, without file capabilities,
    /// holds none. Returns only on failure.
    /// </summary>
    public static Exception RestartWithoutCapabilities(Wirestack.Devices.TapDevice tap)
    {
        tap.KeepAcrossExec();
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Where(e => (string)e.Key != InheritedTapVariable)
            .Select(e => $"{e.Key}={e.Value}")
            .Append($"{InheritedTapVariable}={tap.FileDescriptor}:{tap.Name}:{(tap.CreatedInterface ? 1 : 0)}")
            .ToList();
        string[] arguments = File.ReadAllText("/proc/self/cmdline").TrimEnd('\0').Split('\0');
        // Capabilities belong to each thread: this one, which execs, gives up every set (ambient ones would survive
        // the exec, inheritable ones could be raised by a program with file capabilities), and no_new_privs carries
        // over to the new image so nothing it runs can gain privileges.
        uint* header = stackalloc uint[2] { CapabilityVersion3, 0 };
        uint* none = stackalloc uint[6];
        if (Posix.Capset(header, none) != 0)
            return Failure("capset");
        _ = Posix.Prctl(PrSetNoNewPrivs, 1, 0, 0, 0);
        Posix.Execve("/proc/self/exe", [.. arguments, null], [.. environment, null]);
        return Failure("execve");
    }

    /// <summary>The TAP a device started again inherited (see <see cref="RestartWithoutCapabilities"/>), or null.</summary>
    public static Wirestack.Devices.TapDevice? InheritedTap()
    {
        if (Environment.GetEnvironmentVariable(InheritedTapVariable) is not { } value)
            return null;
        Environment.SetEnvironmentVariable(InheritedTapVariable, null);
        string[] parts = value.Split(':');
        if (parts.Length != 3 || !int.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out int fd))
            throw new IOException($"{InheritedTapVariable}={value} is not fd:name:created");
        return Wirestack.Devices.TapDevice.Adopt(fd, parts[1], parts[2] == "1");
    }

    /// <summary>The effective capabilities of this thread as /proc shows them (hex), or empty when it has none.</summary>
    public static string HeldCapabilities()
    {
        if (!OperatingSystem.IsLinux())
            return "";
        string line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("CapEff:", StringComparison.Ordinal)) ?? "CapEff: 0";
        string value = line["CapEff:".Length..].Trim();
        return value.All(c => c == '0') ? "" : value;
    }

    /// <summary>The ids and capability sets of the process, from /proc/self/status, for the log.</summary>
    public static string Describe()
    {
        if (!OperatingSystem.IsLinux())
            return Environment.UserName;
        var fields = File.ReadLines("/proc/self/status")
            .Where(l => l.StartsWith("Uid:", StringComparison.Ordinal) || l.StartsWith("Gid:", StringComparison.Ordinal) || l.StartsWith("CapEff:", StringComparison.Ordinal) || l.StartsWith("CapPrm:", StringComparison.Ordinal))
            .Select(l => string.Join(' ', l.Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)));
        return string.Join(", ", fields);
    }
}
