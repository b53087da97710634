// An ASP.NET Core minimal API served over HTTP and HTTPS by Kestrel on Wirestack, in the generic host:
// AddWirestack runs the stack as a hosted service (options from the "Wirestack" section of appsettings.json,
// checked at start), UseWirestack puts Kestrel's listeners on it. Ctrl-C or SIGTERM stops Kestrel, then the stack.
//   dotnet run --project samples/MinimalApiHttps -- --Wirestack:Interface=tap0 --Wirestack:Address=192.168.0.2/24
// Then, from the host side:  curl -k https://192.168.0.2/hello/you
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Wirestack;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddWirestack(); // binds builder.Configuration's "Wirestack" section
builder.WebHost.UseWirestack(listen => listen
    .Listen(80)
    .Listen(443, https => https.UseHttps(SelfSignedCertificate("minimal-api.local"))));

var app = builder.Build();
app.MapGet("/hello/{name}", (string name) => $"Hello, {name}, from Wirestack");
app.MapGet("/stack", (WirestackHost host) => new
{
    State = host.Stack.State.ToString(),
    Address = host.Stack.Ipv4Address?.ToString(),
    Frames = host.Stack.GetCounter(StackCounter.FramesReceived),
});
app.Run();

// A real deployment loads its certificate; a sample makes one for this run.
static X509Certificate2 SelfSignedCertificate(string name)
{
    using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
    var san = new SubjectAlternativeNameBuilder();
    san.AddDnsName(name);
    request.CertificateExtensions.Add(san.Build());
    using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));
    return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
}
