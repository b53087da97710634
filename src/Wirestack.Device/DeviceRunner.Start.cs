using System.Net;
using Microsoft.Extensions.Logging;
using Wirestack.Device.Dashboard;
using Wirestack.Device.Platform;
using Wirestack.Interop;
using Wirestack.Devices;

namespace Wirestack.Device;

/// <summary>What one run of the device keeps across stack resets: its users, certificate, settings, event log, firmware and telemetry.</summary>
internal sealed record DeviceParts(Users Users, ServerCertificate? Certificate, SettingsStore Store, EventLog Events, Firmware Firmware, Telemetry Telemetry);

// The privileged start, on the main thread before anything else: the TAP opened and its host side configured, the
// capabilities shed, the files settled while the process may still be root, then root given up.
internal static partial class DeviceRunner
{
    /// <summary>The TAP, opened here or inherited from the capability-holding start; null (logged) when it cannot be.</summary>
    static (TapDevice Tap, bool Inherited)? OpenTap(DeviceSettings settings, ILogger log)
    {
        try
        {
            var adopted = Privileges.InheritedTap();
            return (adopted ?? TapDevice.Open(settings.InterfaceName, new TunTapOptions { Offloads = settings.Offloads }), adopted is not null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException or ArgumentException)
        {
            log.LogError("Cannot open TAP interface {Interface}: {Reason}", settings.InterfaceName, e.Message);
            return null;
        }
    }

    /// <summary>
    /// A TAP opened here gets its host side and, when the process holds capabilities without being root, this
    /// process starts again without them. The exit code when the start ends here; null to go on.
    /// </summary>
    static int? PrepareTap(DeviceSettings settings, TapDevice tap, bool inherited, ILogger log, ILoggerFactory loggerFactory)
    {
        if (inherited)
        {
            log.LogInformation("Started again without capabilities, TAP {Interface} kept open ({Identity})", tap.Name, Privileges.Describe());
        }
        else
        {
            log.LogInformation("Opened TAP {Interface} ({How}), MTU {Mtu}", tap.Name, tap.CreatedInterface ? "created" : "existing", tap.Mtu);
            if (!ConfigureHostSide(settings, tap, log))
                return 1;
            if (!Privileges.IsRoot && Privileges.HeldCapabilities().Length > 0)
            {
                // The console logger writes from a queue of its own thread: what it still holds would die with
                // the exec (a native build gets there before the queue drains). Disposing it writes it all.
                loggerFactory.Dispose();
                var failure = Privileges.RestartWithoutCapabilities(tap);
                Console.Error.WriteLine($"Cannot start again without capabilities: {failure.Message}");
                return 1;
            }
        }
        return null;
    }

    /// <summary>The data directory, certificate and users, settled while the process may still be root, then root given up; null (logged) on failure.</summary>
    static DeviceParts? Settle(DeviceSettings settings, ILogger log)
    {
        // The operator's certificate and users files may be readable by root only; the data directory is handed to
        // the run-as user.
        string data = settings.DataDirectory ?? DataDirectory.Default();
        Users accounts;
        ServerCertificate? certificate;
        try
        {
            var runAs = RunAsAccount(settings, log);
            DataDirectory.Prepare(data, runAs ?? Privileges.Current);
            certificate = settings.HttpsPort == 0 ? null
                : settings.CertificatePath is { } certificatePath ? ServerCertificate.Load(certificatePath, settings.CertificateKeyPath, CertificateLogger(log))
                : ServerCertificate.SelfSigned(DataDirectory.File(ServerCertificate.FileName), settings.HostName, CertificateLogger(log));
            var given = GivenUsers(settings, log);
            // Files are opened relative to the data directory from here on, so its parents need not be open to
            // the run-as user.
            Environment.CurrentDirectory = data;
            if (runAs is { } account)
            {
                Privileges.DropTo(account);
                log.LogInformation("Running as {User} ({Identity})", account.Name, Privileges.Describe());
            }
            else if (Privileges.IsRoot)
            {
                log.LogWarning("Running as root for the whole session (--run-as root); every flaw in the device is then a flaw of the host");
            }
            if (settings.WebRoot is { } webRoot && !CanRead(webRoot))
            {
                log.LogError("--web-root {Path} is not readable by {User}", webRoot, Privileges.Current.Name);
                return null;
            }
            accounts = given ?? StoredUsers(data, log);
            accounts.Sessions = new Sessions(TimeProvider.System, settings.SessionIdle, settings.SessionLifetime);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or InvalidDataException or InvalidOperationException
            or System.Text.Json.JsonException or System.Security.Cryptography.CryptographicException)
        {
            log.LogError("Cannot start: {Reason}", e.Message);
            return null;
        }
        return new DeviceParts(accounts, certificate, new SettingsStore(DataDirectory.File("settings.json")), new EventLog(),
            new Firmware(DataDirectory.File("firmware")), new Telemetry());
    }

    /// <summary>--host-address and --host-address6 on a TAP this program created; false (logged) when that fails.</summary>
    static bool ConfigureHostSide(DeviceSettings settings, TapDevice tap, ILogger log)
    {
        foreach (var host in new[] { settings.HostAddress, settings.HostAddress6 }.OfType<(IPAddress Address, int PrefixLength)>())
        {
            if (tap.CreatedInterface)
            {
                try
                {
                    tap.ConfigureHostSide(host.Address, host.PrefixLength);
                    log.LogInformation("Host side of {Interface}: {Address}/{Prefix}, up", tap.Name, host.Address, host.PrefixLength);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    log.LogError("Cannot configure the host side of {Interface}: {Reason}", tap.Name, e.Message);
                    return false;
                }
            }
            else
            {
                log.LogWarning("{Interface} existed before: --host-address{Six} ignored, its configuration is left as it is", tap.Name,
                    host.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "6" : "");
            }
        }
        return true;
    }

    /// <summary>
    /// Whom a root-started device becomes: --run-as, else nobody; null to stay as it is (--run-as root, or not
    /// started as root). Only root can become someone else.
    /// </summary>
    static Posix.Account? RunAsAccount(DeviceSettings settings, ILogger log)
    {
        if (!Privileges.IsRoot)
        {
            if (settings.RunAs is { } wanted && Posix.FindAccount(wanted)?.Uid != Posix.EffectiveUserId)
                throw new InvalidOperationException($"--run-as {wanted}: only a device started as root can become another user");
            if (Privileges.HeldCapabilities() is { Length: > 0 } held)
                log.LogWarning("Still holding capabilities {Capabilities} after starting again without them (file capabilities on the program?)", held);
            return null;
        }
        string name = settings.RunAs ?? Privileges.DefaultUser;
        var account = Posix.FindAccount(name) ?? throw new InvalidOperationException($"--run-as: there is no user '{name}'");
        return account.Uid == 0 ? null : account;
    }

    static Action<System.Security.Cryptography.X509Certificates.X509Certificate2, string> CertificateLogger(ILogger log) => (certificate, how) =>
        log.LogInformation("HTTPS certificate ({How}), valid until {Until:yyyy-MM-dd}, key {Pin}: SHA-256 fingerprint {Fingerprint}",
            how, certificate.NotAfter.ToUniversalTime(), ServerCertificate.PublicKeyPin(certificate), ServerCertificate.Fingerprint(certificate));

    static bool CanRead(string directory)
    {
        try
        {
            _ = Directory.EnumerateFileSystemEntries(directory).FirstOrDefault();
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Users the operator gave: --user (with a warning: the command line is visible in /proc), --users-file, or the
    /// WIRESTACK_USERS variable; null when none, and the data directory's users are used.
    /// </summary>
    static Users? GivenUsers(DeviceSettings settings, ILogger log)
    {
        if (settings.Users.Count > 0)
        {
            log.LogWarning("--user puts passwords on the command line, which other local users can read in /proc; prefer --users-file or WIRESTACK_USERS");
            return new Users(settings.Users);
        }
        if (settings.UsersFile is { } file)
            return new Users(Users.Parse(File.ReadAllText(file), file));
        if (Environment.GetEnvironmentVariable("WIRESTACK_USERS") is { Length: > 0 } variable)
            return new Users(Users.Parse(variable, "WIRESTACK_USERS"));
        return null;
    }

    /// <summary>
    /// The data directory's users.json, made on first start with a generated password for admin that is shown once.
    /// There is no built-in password.
    /// </summary>
    static Users StoredUsers(string dataDirectory, ILogger log)
    {
        const string name = "users.json";
        var (users, generated) = Users.LoadOrCreate(DataDirectory.File(name));
        if (generated is not null)
        {
            // The journal keeps whatever a service logs: the password goes to an owner-only file in the data
            // directory, and to the terminal only when there is one. Only its hash is kept in users.json.
            OwnerOnlyFile.Replace(DataDirectory.File(DataDirectory.InitialPasswordFile), System.Text.Encoding.UTF8.GetBytes(generated + "\n"));
            if (!Console.IsErrorRedirected)
                Console.Error.WriteLine($"Dashboard user admin, generated password: {generated}");
            log.LogWarning("Dashboard user admin: first password in {Path} (owner-only; delete it once read; change the password with POST /api/password)",
                Path.Combine(dataDirectory, DataDirectory.InitialPasswordFile));
        }
        return users;
    }
}
