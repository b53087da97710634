namespace Wirestack.Device.Platform;

/// <summary>
/// Where the device keeps its state (users, secrets, certificate, settings, firmware), by the platform's convention,
/// and the checks that make it safe to trust: owner-only, owned by the user the device runs as, not a link.
/// </summary>
internal static class DataDirectory
{
    public const string Name = "wirestack-device";

    /// <summary>
    /// The data directory once the process has made it its working directory: Linux's link to a process's working
    /// directory reaches it without walking its parents, which the run-as user may not be allowed through (a
    /// directory under /root). .NET makes every path absolute before opening it, so a plain relative name would not.
    /// </summary>
    public static string Here => OperatingSystem.IsLinux() ? "/proc/self/cwd" : Environment.CurrentDirectory;

    /// <summary>The path of <paramref name="name"/> in the data directory once it is the working directory.</summary>
    public static string File(string name) => Path.Combine(Here, name);

    /// <summary>
    /// <c>$STATE_DIRECTORY</c> under systemd (<c>StateDirectory=</c>), else <c>/var/lib/wirestack-device</c> for
    /// root, else <c>$XDG_STATE_HOME/wirestack-device</c> (by default <c>~/.local/state/wirestack-device</c>).
    /// </summary>
    public static string Default()
    {
        if (Environment.GetEnvironmentVariable("STATE_DIRECTORY") is { Length: > 0 } state)
            return state.Split(':')[0];
        if (OperatingSystem.IsLinux() && Posix.EffectiveUserId == 0)
            return Path.Combine("/var/lib", Name);
        string? xdg = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
        string stateHome = xdg is { Length: > 0 } && Path.IsPathRooted(xdg)
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state");
        return Path.Combine(stateHome, Name);
    }

    /// <summary>The names the device keeps in its data directory (and, with ".*.tmp", their half-written replacements).</summary>
    public static readonly IReadOnlySet<string> KnownFiles = new HashSet<string>(StringComparer.Ordinal)
    {
        "users.json", "settings.json", "https.pfx", "ipv6-stable-secret", InitialPasswordFile,
    };

    /// <summary>Where the first start leaves the generated password for the operator (not the log: the journal keeps that).</summary>
    public const string InitialPasswordFile = "initial-password";

    /// <summary>The firmware folder (its files are <see cref="Dashboard.Firmware.IsOwnFile"/>, and the state file's temporaries).</summary>
    public const string FirmwareFolder = "firmware";
    static readonly IReadOnlySet<string> FirmwareStateFiles = new HashSet<string>(StringComparer.Ordinal) { "firmware.json" };

    /// <summary>
    /// Creates the directory owner-only (0700) or checks the one there: it must be a directory (not a link), owned
    /// by <paramref name="owner"/> — the user the device runs as — and writable by nobody else, since whoever can
    /// write it can replace the device's users and secrets. Started as root for another user, the device hands a
    /// root-owned directory to that user only when it holds nothing but the device's own files, and then gives away
    /// those names only, through the open directory, never following a link: root started with --data-dir /var/lib
    /// must not give the system's files away. Throws <see cref="IOException"/> saying why not.
    /// </summary>
    public static void Prepare(string path, Posix.Account owner)
    {
        if (!OperatingSystem.IsLinux())
        {
            Directory.CreateDirectory(path);
            return;
        }
        if (Posix.Lstat(path) is null)
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var found = Posix.Lstat(path) ?? throw new IOException($"{path} vanished while it was being created");
        if (!found.IsDirectory)
            throw new IOException($"{path} is not a directory{(found.IsSymbolicLink ? " (it is a symbolic link)" : "")}; give --data-dir a directory of its own");
        // Checked before anything changes hands.
        if (found.WritableByOthers)
            throw new IOException($"{path} is writable by its group or others (mode {Convert.ToString(found.Mode & 0xFFF, 8)}); make it owner-only with chmod 700");
        if (found.Uid != owner.Uid)
        {
            if (found.Uid != 0 || Posix.EffectiveUserId != 0)
                throw new IOException($"{path} belongs to uid {found.Uid}, not to {owner.Name} (uid {owner.Uid}) whom the device runs as; another user could change its users and secrets");
            HandOver(path, owner);
        }
        found = Posix.Lstat(path)!.Value;
        if ((found.Mode & 0x3F) != 0 && Posix.EffectiveUserId == found.Uid)
            System.IO.File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    static bool IsKnown(string name, IReadOnlySet<string> known) =>
        known.Contains(name) || (name.EndsWith(".tmp", StringComparison.Ordinal) && known.Any(k => name.StartsWith(k + ".", StringComparison.Ordinal)));

    /// <summary>
    /// Root gives the directory, and the device's own files in it, to the run-as user: after checking that nothing
    /// else is there, by name, relative to the directory opened without following links.
    /// </summary>
    static void HandOver(string path, Posix.Account owner)
    {
        using var directory = Posix.OpenDirectoryNoFollow(null, path);
        var strangers = Directory.EnumerateFileSystemEntries(path).Select(Path.GetFileName).OfType<string>()
            .Where(name => name != FirmwareFolder && !IsKnown(name, KnownFiles)).Take(3).ToList();
        string firmware = Path.Combine(path, FirmwareFolder);
        if (Posix.Lstat(firmware) is { } folder)
        {
            if (!folder.IsDirectory)
                strangers.Add(FirmwareFolder);
            else
                strangers.AddRange(Directory.EnumerateFileSystemEntries(firmware).Select(Path.GetFileName).OfType<string>()
                    .Where(name => !Dashboard.Firmware.IsOwnFile(name) && !IsKnown(name, FirmwareStateFiles)).Select(name => $"{FirmwareFolder}/{name}").Take(3));
        }
        if (strangers.Count > 0)
            throw new IOException($"{path} belongs to root and holds files the device did not make ({string.Join(", ", strangers)}); give --data-dir a directory of its own, or an empty one");
        foreach (string name in Directory.EnumerateFileSystemEntries(path).Select(Path.GetFileName).OfType<string>())
        {
            if (name == FirmwareFolder)
            {
                using var firmwareDirectory = Posix.OpenDirectoryNoFollow(directory, FirmwareFolder);
                foreach (string file in Directory.EnumerateFileSystemEntries(firmware).Select(Path.GetFileName).OfType<string>())
                    Posix.ChownAt(firmwareDirectory, file, owner.Uid, owner.Gid);
                Posix.Chown(firmwareDirectory, owner.Uid, owner.Gid);
            }
            else
            {
                Posix.ChownAt(directory, name, owner.Uid, owner.Gid);
            }
        }
        Posix.Chown(directory, owner.Uid, owner.Gid);
    }
}
