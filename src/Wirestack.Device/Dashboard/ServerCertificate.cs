using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Wirestack.Device.Platform;
using Wirestack.Interop;

namespace Wirestack.Device.Dashboard;

/// <summary>
/// The dashboard's HTTPS certificate: the operator's (--cert), or a self-signed one kept in the data directory
/// (owner-only) so its fingerprint can be pinned. The self-signed one names the device's host name, its
/// <c>.local</c> name and its current addresses; it is made again when one of those is missing from it (DHCP bound
/// after start, a new prefix) and a month before it expires, and each new fingerprint is logged.
/// </summary>
/// <remarks>
/// The key is made once and kept: every certificate after the first is issued again for the same key, so a pin of
/// the public key (curl's <c>--pinnedpubkey</c>, logged beside each fingerprint) survives new addresses and names, and
/// re-issues for them come at most every <see cref="ReissueInterval"/>: anyone on the LAN can bring a new address or
/// name (a router advertisement, a forced mDNS conflict) and a TLS hello, and must not get a new certificate each time.
/// </remarks>
internal sealed class ServerCertificate
{
    public const string FileName = "https.pfx";
    static readonly TimeSpan Validity = TimeSpan.FromDays(365);
    static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    /// <summary>Least time between two certificates made for new addresses or names.</summary>
    public static readonly TimeSpan ReissueInterval = TimeSpan.FromMinutes(5);

    readonly string? _path;
    readonly string _hostName;
    readonly TimeProvider _clock;
    readonly Action<X509Certificate2, string> _changed;
    readonly Lock _lock = new();
    X509Certificate2? _current;
    DateTimeOffset _issuedAt = DateTimeOffset.MinValue;

    ServerCertificate(X509Certificate2? fixedCertificate, string? path, string hostName, TimeProvider clock, Action<X509Certificate2, string> changed)
    {
        _current = fixedCertificate;
        _path = path;
        _hostName = hostName;
        _clock = clock;
        _changed = changed;
        IsSelfSigned = fixedCertificate is null;
    }

    public bool IsSelfSigned { get; }

    /// <summary>The operator's certificate: a PFX, or a PEM with its key in the same file or in <paramref name="keyPath"/>.</summary>
    public static ServerCertificate Load(string path, string? keyPath, Action<X509Certificate2, string> changed)
    {
        X509Certificate2 certificate;
        if (Path.GetExtension(path).ToLowerInvariant() is ".pfx" or ".p12")
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(path, null);
        }
        else
        {
            using var pem = X509Certificate2.CreateFromPemFile(path, keyPath ?? path);
            // Re-import so the private key is usable by SslStream on Linux.
            certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        changed(certificate, $"from {path}");
        return new ServerCertificate(certificate, null, "", TimeProvider.System, changed);
    }

    /// <summary>A self-signed certificate kept at <paramref name="path"/>, made there when missing.</summary>
    public static ServerCertificate SelfSigned(string path, string hostName, Action<X509Certificate2, string> changed, TimeProvider? clock = null) =>
        new(null, path, hostName, clock ?? TimeProvider.System, changed);

    /// <summary>
    /// The certificate to present while the device has <paramref name="addresses"/> and, after an mDNS conflict, the
    /// name <paramref name="mdnsName"/> (such as <c>wirestack-2.local</c>).
    /// </summary>
    public X509Certificate2 For(IEnumerable<IPAddress> addresses, string? mdnsName = null)
    {
        if (!IsSelfSigned)
            return _current!;
        var wanted = addresses.Where(Nameable).Distinct().ToList();
        List<string> names = [_hostName, _hostName + ".local", .. mdnsName is null || mdnsName.Equals(_hostName + ".local", StringComparison.OrdinalIgnoreCase) ? [] : new[] { mdnsName }];
        lock (_lock)
        {
            if (_current is null && File.Exists(_path))
            {
                try
                {
                    _current = X509CertificateLoader.LoadPkcs12FromFile(_path, null);
                    _changed(_current, "kept from an earlier start");
                }
                catch (CryptographicException)
                {
                    // A damaged file is replaced below.
                }
            }
            var now = _clock.GetUtcNow();
            bool expiring = _current is not null && _current.NotAfter.ToUniversalTime() - now.UtcDateTime < RenewBefore;
            bool uncovered = _current is not null && !Covers(_current, wanted, names) && now - _issuedAt >= ReissueInterval;
            if (_current is null || expiring || uncovered)
            {
                string why = _current is null ? "self-signed, new" : expiring ? "renewed before expiry" : "made again for new addresses or names";
                var made = Create(wanted, names, _current);
                OwnerOnlyFile.Replace(_path!, made.Export(X509ContentType.Pkcs12));
                _current = made;
                _issuedAt = now;
                _changed(made, why);
            }
            return _current;
        }
    }

    /// <summary>Addresses worth naming: the ones a user can type in a browser (not link-local ones, which need a zone).</summary>
    static bool Nameable(IPAddress address) => !address.IsIPv6LinkLocal && !IPAddress.IsLoopback(address) && !address.Equals(IPAddress.Any);

    static bool Covers(X509Certificate2 certificate, List<IPAddress> addresses, List<string> dnsNames)
    {
        var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        if (names is null)
            return false;
        var ips = names.EnumerateIPAddresses().ToHashSet();
        var dns = names.EnumerateDnsNames().ToHashSet(StringComparer.OrdinalIgnoreCase);
        return addresses.All(ips.Contains) && dnsNames.All(dns.Contains);
    }

    /// <summary>A certificate for the names and addresses, with <paramref name="previous"/>'s key when there is one.</summary>
    X509Certificate2 Create(List<IPAddress> addresses, List<string> dnsNames, X509Certificate2? previous)
    {
        using var key = previous?.GetECDsaPrivateKey() ?? ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={_hostName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (string name in dnsNames)
            names.AddDnsName(name);
        foreach (var address in addresses)
            names.AddIpAddress(address);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = _clock.GetUtcNow();
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now + Validity);
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>The public key pin curl's <c>--pinnedpubkey</c> takes: <c>sha256//</c> and the base64 SHA-256 of the key.</summary>
    public static string PublicKeyPin(X509Certificate2 certificate) =>
        "sha256//" + Convert.ToBase64String(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));

    /// <summary>The colon-separated SHA-256 fingerprint browsers and <c>openssl x509 -fingerprint -sha256</c> show.</summary>
    public static string Fingerprint(X509Certificate2 certificate) =>
        string.Join(':', certificate.GetCertHash(HashAlgorithmName.SHA256).Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>
    /// TLS 1.2 and 1.3 only, and only forward-secret AEAD suites (Mozilla's "intermediate" profile): nothing a
    /// scanner calls weak, and every browser of the last decade connects.
    /// </summary>
    public static void Harden(SslServerAuthenticationOptions options)
    {
        options.EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13;
        if (OperatingSystem.IsLinux())
        {
            options.CipherSuitesPolicy = new CipherSuitesPolicy([
                TlsCipherSuite.TLS_AES_128_GCM_SHA256,
                TlsCipherSuite.TLS_AES_256_GCM_SHA384,
                TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
                TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            ]);
        }
    }
}
