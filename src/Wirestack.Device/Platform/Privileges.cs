using System.Reflection;
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

    static void LoadApplicationAssemblies()
    {
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
                catch (FileNotFoundException)
                {
                    // A reference no code path uses at run time (a compile-time facade).
                }
            }
        }
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
