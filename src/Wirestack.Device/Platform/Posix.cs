using System.Runtime.InteropServices;

namespace Wirestack.Device.Platform;

/// <summary>
/// The few POSIX calls the device needs for its files and privileges that .NET does not offer: file owners
/// (statx, whose layout is the same on every Linux architecture), the fd-relative chowns, and the user
/// and group identity calls.
/// glibc applies setuid, setgid and setgroups to every thread of the process, which a privilege drop relies on.
/// </summary>
internal static unsafe partial class Posix
{
    const string Library = "libc";
    const int AtFdCwd = -100;
    const int AtSymlinkNoFollow = 0x100;
    const uint StatxBasicStats = 0x7ff;

    /// <summary>What lstat tells about a path: its type and mode bits, owner and group.</summary>
    public readonly record struct FileOwner(uint Uid, uint Gid, uint Mode)
    {
        public bool IsDirectory => (Mode & 0xF000) == 0x4000;
        public bool IsRegularFile => (Mode & 0xF000) == 0x8000;
        public bool IsSymbolicLink => (Mode & 0xF000) == 0xA000;

        /// <summary>Group or others may write (0o022).</summary>
        public bool WritableByOthers => (Mode & 0x12) != 0;
    }

    /// <summary>The owner and mode of <paramref name="path"/> itself (a link is not followed), or null when it does not exist.</summary>
    public static FileOwner? Lstat(string path)
    {
        byte* buffer = stackalloc byte[256];
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, buffer) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == 2)
                return null;
            throw new IOException($"Cannot inspect {path}: {Describe(errno)}");
        }
        // struct statx: stx_uid at 20, stx_gid at 24, stx_mode (16 bits) at 28.
        return new FileOwner(*(uint*)(buffer + 20), *(uint*)(buffer + 24), *(ushort*)(buffer + 28));
    }

    public static uint EffectiveUserId => GetEuid();

    const int OpenReadOnly = 0, OpenDirectory = 0x10000, OpenNoFollow = 0x20000, OpenCloseOnExec = 0x80000;

    /// <summary>
    /// Opens the directory <paramref name="name"/> (relative to <paramref name="parent"/>, or a path when that is
    /// null) without following a link at its last component: a directory swapped for a link fails instead of leading
    /// elsewhere.
    /// </summary>
    public static SafeDirectoryHandle OpenDirectoryNoFollow(SafeDirectoryHandle? parent, string name)
    {
        int fd = OpenAt(parent is null ? AtFdCwd : (int)parent.DangerousGetHandle(), name, OpenReadOnly | OpenDirectory | OpenNoFollow | OpenCloseOnExec, 0);
        if (fd < 0)
            throw new IOException($"Cannot open the directory {name}: {Describe(Marshal.GetLastPInvokeError())}");
        return new SafeDirectoryHandle(fd);
    }

    /// <summary>Gives <paramref name="name"/> in <paramref name="directory"/> itself (never a link's target) to a user and group; nothing when it does not exist.</summary>
    public static void ChownAt(SafeDirectoryHandle directory, string name, uint uid, uint gid)
    {
        if (FchownAt((int)directory.DangerousGetHandle(), name, uid, gid, AtSymlinkNoFollow) != 0 && Marshal.GetLastPInvokeError() is var errno && errno != 2)
            throw new IOException($"Cannot give {name} to uid {uid}: {Describe(errno)}");
    }

    /// <summary>Gives the open directory itself to a user and group.</summary>
    public static void Chown(SafeDirectoryHandle directory, uint uid, uint gid)
    {
        if (Fchown((int)directory.DangerousGetHandle(), uid, gid) != 0)
            throw new IOException($"Cannot give the data directory to uid {uid}: {Describe(Marshal.GetLastPInvokeError())}");
    }

    /// <summary>An open directory's file descriptor.</summary>
    public sealed class SafeDirectoryHandle : Microsoft.Win32.SafeHandles.SafeHandleZeroOrMinusOneIsInvalid
    {
        public SafeDirectoryHandle(int fd) : base(ownsHandle: true) => SetHandle(fd);

        protected override bool ReleaseHandle() => CloseNative((int)handle) == 0;
    }

    [LibraryImport(Library, EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenAt(int directoryFd, string path, int flags, uint mode);

    [LibraryImport(Library, EntryPoint = "fchownat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FchownAt(int directoryFd, string path, uint uid, uint gid, int flags);

    [LibraryImport(Library, EntryPoint = "fchown", SetLastError = true)]
    private static partial int Fchown(int fd, uint uid, uint gid);

    [LibraryImport(Library, EntryPoint = "close", SetLastError = true)]
    private static partial int CloseNative(int fd);

    [LibraryImport(Library, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int directoryFd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport(Library, EntryPoint = "geteuid")]
    private static partial uint GetEuid();

    [LibraryImport(Library, EntryPoint = "setgroups", SetLastError = true)]
    public static partial int SetGroups(nuint count, uint* groups);

    [LibraryImport(Library, EntryPoint = "setresgid", SetLastError = true)]
    public static partial int SetResGid(uint real, uint effective, uint saved);

    [LibraryImport(Library, EntryPoint = "setresuid", SetLastError = true)]
    public static partial int SetResUid(uint real, uint effective, uint saved);

    [LibraryImport(Library, EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport(Library, EntryPoint = "capset", SetLastError = true)]
    public static partial int Capset(uint* header, uint* data);

    [LibraryImport(Library, EntryPoint = "execve", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Execve(string path, string?[] arguments, string?[] environment);

    [LibraryImport(Library, EntryPoint = "getpwnam")]
    private static partial nint GetPwNam([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    [LibraryImport(Library, EntryPoint = "getpwuid")]
    private static partial nint GetPwUid(uint uid);

    [LibraryImport(Library, EntryPoint = "strerror")]
    private static partial nint StrError(int errno);

    public static string Describe(int errno) => Marshal.PtrToStringUTF8(StrError(errno)) ?? $"errno {errno}";

    /// <summary>A user account: name, ids and home, from the system's user database.</summary>
    public readonly record struct Account(string Name, uint Uid, uint Gid, string Home);

    /// <summary>The account of a user name or numeric id, or null when there is none.</summary>
    public static Account? FindAccount(string nameOrId)
    {
        nint entry = uint.TryParse(nameOrId, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uint id)
            ? GetPwUid(id)
            : GetPwNam(nameOrId);
        if (entry == 0)
            return null;
        // struct passwd: pw_name, pw_passwd (pointers), pw_uid, pw_gid (32 bits each), pw_gecos, pw_dir, pw_shell.
        byte* p = (byte*)entry;
        int pointer = sizeof(nint);
        string name = Marshal.PtrToStringUTF8(*(nint*)p) ?? nameOrId;
        uint uid = *(uint*)(p + 2 * pointer);
        uint gid = *(uint*)(p + 2 * pointer + 4);
        string home = Marshal.PtrToStringUTF8(*(nint*)(p + 2 * pointer + 8 + pointer)) ?? "/";
        return new Account(name, uid, gid, home);
    }
}
