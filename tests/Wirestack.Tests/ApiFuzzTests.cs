using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Wirestack.Device.Dashboard;

namespace Wirestack.Tests;

/// <summary>
/// The dashboard held to its own OpenAPI document (issue 27): requests made from the document, valid and hostile,
/// against the real dashboard over two in-memory stacks; every answer must be one the document declares for its
/// operation, of the declared content type and schema, and never a 5xx or a stall. The seed and the number of
/// examples are fixed so a failure reproduces; WIRESTACK_API_FUZZ_EXAMPLES asks for a longer run (scripts/api-fuzz.sh).
/// </summary>
public sealed partial class ApiFuzzTests : IAsyncLifetime
{
    public const int Seed = 27;
    public const int ExamplesPerOperation = 150;

    DashboardHarness _dashboard = null!;

    public async ValueTask InitializeAsync() => _dashboard = await DashboardHarness.StartAsync(TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync() => _dashboard.DisposeAsync();

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    async Task<JsonElement> DocumentAsync() =>
        JsonDocument.Parse(await _dashboard.Http.GetStringAsync(DashboardApi.DocumentPath, Cancel)).RootElement.Clone();

    static IEnumerable<(string Path, string Method, JsonElement Operation)> Operations(JsonElement document) =>
        document.GetProperty("paths").EnumerateObject().SelectMany(path =>
            path.Value.EnumerateObject().Select(operation => (path.Name, operation.Name.ToUpperInvariant(), operation.Value)));

    [Fact(DisplayName = "Issue 27, schema-driven fuzzing: for every operation of the OpenAPI document, 150 requests made from it (seed 27) — valid examples, wrong types, nulls, unknown and repeated fields, out-of-range numbers, broken UTF-8 and JSON, deep nesting, oversize bodies, hostile query strings, and valid uploads walked chunk by chunk through their Upload-Id to a staged image — get only answers the document declares, of its content type and schema, no 5xx and no stall; accepted settings are held")]
    public async Task EveryOperationKeepsItsContract()
    {
        int examples = int.TryParse(Environment.GetEnvironmentVariable("WIRESTACK_API_FUZZ_EXAMPLES"), out int n) && n > 0 ? n : ExamplesPerOperation;
        var document = await DocumentAsync();
        var schema = new ApiSchema(document);
        var failures = new List<string>();
        var tally = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var (path, method, operation) in Operations(document))
        {
            var random = new Random(Seed ^ StableHash(method + " " + path));
            UploadSession? upload = null;
            // A dropped event stream holds its connection for about 3 s (until the server's next write finds the
            // peer gone), so streams opened faster than that would meet the source's share of 1,024 connections,
            // which refuses them as it should: a longer run opens no more streams than the test command's.
            int count = path == "/api/live" ? Math.Min(examples, ExamplesPerOperation) : examples;
            for (int example = 0; example < count; example++)
            {
                bool valid = example % 4 == 0;
                // Valid upload requests follow the API's links (stateful, as Schemathesis's links mode): a chunk at offset 0, the rest with the Upload-Id it
                // answered, then the empty chunk that stages the image.
                bool uploading = valid && path == "/api/firmware/upload";
                using var request = uploading ? NextUploadStep(ref upload, random) : MakeRequest(schema, path, method, operation, random, valid);
                string what = $"{method} {request.RequestUri}";
                string? sent = request.Content is { } content ? await content.ReadAsStringAsync(Cancel) : null;
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                HttpResponseMessage response;
                try
                {
                    response = await _dashboard.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                }
                catch (OperationCanceledException) when (!Cancel.IsCancellationRequested)
                {
                    failures.Add($"{what}: no answer in 10 s");
                    continue;
                }
                catch (HttpRequestException e)
                {
                    failures.Add($"{what} ({sent?.Length ?? 0} bytes): no answer, {e.InnerException?.Message ?? e.Message}");
                    continue;
                }
                using (response)
                {
                    int status = (int)response.StatusCode;
                    if (uploading)
                        upload = status == 200 ? upload?.Answered(response) : null;
                    tally[$"{method} {path} {status}"] = tally.GetValueOrDefault($"{method} {path} {status}") + 1;
                    string? mediaType = response.Content.Headers.ContentType?.MediaType;
                    // A stream's head is what there is to check; its body never ends.
                    string body = mediaType == "text/event-stream" ? "" : await response.Content.ReadAsStringAsync(timeout.Token);
                    foreach (var problem in Check(schema, operation, status, mediaType, body))
                        failures.Add($"{what}: {status} {problem}");
                    if (path == "/api/settings/set" && status == 200 && SettingsMissing(sent!) is { } missing)
                        failures.Add($"{what}: 200 but the settings do not hold {missing} of {sent}");
                }
            }
        }
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join("\n", tally.Select(t => $"{t.Key}: {t.Value}")));
        Assert.True(tally.GetValueOrDefault("POST /api/firmware/commit 200") > 0, "no upload was staged and committed: the fuzzer's upload steps are not reaching the firmware");
        Assert.True(failures.Count == 0, $"{failures.Count} answers broke the contract ({_dashboard.Device.ConnectionShares.Refused} connections refused past the source's share):\n{string.Join("\n", failures.Take(25))}");
    }

    /// <summary>A field an accepted settings change sent that the settings do not now hold, if any.</summary>
    string? SettingsMissing(string sent)
    {
        var now = JsonSerializer.SerializeToElement(_dashboard.Device.Settings.Current, DashboardJson.Default.DeviceSettingsModel);
        foreach (var field in JsonDocument.Parse(sent).RootElement.EnumerateObject())
        {
            if (!now.TryGetProperty(field.Name, out var value) || !JsonElement.DeepEquals(value, field.Value))
                return field.Name;
        }
        return null;
    }

    /// <summary>Why an answer breaks the document, if it does.</summary>
    static IEnumerable<string> Check(ApiSchema schema, JsonElement operation, int status, string? mediaType, string body)
    {
        if (status >= 500)
            yield return "a server error: " + body[..Math.Min(body.Length, 300)];
        var responses = operation.GetProperty("responses");
        if (!responses.TryGetProperty(status.ToString(System.Globalization.CultureInfo.InvariantCulture), out var declared) && !responses.TryGetProperty("default", out declared))
        {
            yield return "is not a status the document declares for this operation: " + body[..Math.Min(body.Length, 200)];
            yield break;
        }
        if (!declared.TryGetProperty("content", out var content) || !content.EnumerateObject().Any())
            yield break;
        if (mediaType is null || !content.TryGetProperty(mediaType, out var media))
        {
            yield return $"answered {mediaType ?? "no content type"}, the document says {string.Join(" or ", content.EnumerateObject().Select(c => c.Name))}";
            yield break;
        }
        if (!media.TryGetProperty("schema", out var bodySchema) || !mediaType.Contains("json", StringComparison.Ordinal))
            yield break;
        JsonElement value;
        try
        {
            value = JsonDocument.Parse(body).RootElement;
        }
        catch (JsonException e)
        {
            value = default;
            body = e.Message;
        }
        if (value.ValueKind == JsonValueKind.Undefined)
        {
            yield return "a body that is not JSON: " + body;
            yield break;
        }
        var errors = new List<string>();
        schema.Validate(value, bodySchema, "$", errors);
        foreach (var error in errors)
            yield return error;
    }

    static readonly string[] HostileQueryValues = ["", "+0", "%200", "0x10", "-1", "99999999999999999999", "%ff", "..%2F..%2Fetc%2Fpasswd", "a%00b", "a%E2%80%AEb", "%3Cscript%3E", "1e3", "0000000000000000000000", "%20", "%0a"];

    static HttpRequestMessage MakeRequest(ApiSchema schema, string path, string method, JsonElement operation, Random random, bool valid)
    {
        var query = new List<string>();
        if (operation.TryGetProperty("parameters", out var parameters))
        {
            foreach (var parameter in parameters.EnumerateArray())
            {
                string name = parameter.GetProperty("name").GetString()!;
                bool required = parameter.TryGetProperty("required", out var r) && r.GetBoolean();
                if (!valid && random.Next(6) == 0)
                    continue;   // left out
                if (!required && random.Next(2) == 0)
                    continue;
                string value = valid || random.Next(3) == 0 ? ValidQueryValue(name, random) : HostileQueryValues[random.Next(HostileQueryValues.Length)];
                query.Add($"{name}={value}");
                if (!valid && random.Next(8) == 0)
                    query.Add($"{name}={value}");   // repeated
            }
            if (!valid && random.Next(8) == 0)
                query.Add("unknown=1");
        }
        string uri = path.TrimStart('/') + (query.Count > 0 ? "?" + string.Join("&", query) : "");
        var request = new HttpRequestMessage(new HttpMethod(method), uri);
        if (operation.TryGetProperty("requestBody", out var requestBody) && requestBody.GetProperty("content").EnumerateObject().FirstOrDefault() is { Name: { } type } media)
        {
            byte[] body;
            if (type.Contains("json", StringComparison.Ordinal))
                body = valid ? Encoding.UTF8.GetBytes(schema.Valid(media.Value.GetProperty("schema"), random)) : schema.Mutated(media.Value.GetProperty("schema"), random);
            else
            {
                body = new byte[random.Next(0, valid ? 2000 : 70000)];
                random.NextBytes(body);
            }
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(type);
        }
        else if (method == "POST")
        {
            // Routes without a body: an empty one, or junk they must ignore or refuse.
            var junk = new byte[valid ? 0 : random.Next(0, 300)];
            random.NextBytes(junk);
            request.Content = new ByteArrayContent(junk);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }
        return request;
    }

    /// <summary>An upload the fuzzer is walking through: its id once the first chunk is answered, and what is sent.</summary>
    sealed record UploadSession(string Name, int Total, int Offset, int Pending, string? Id)
    {
        public UploadSession? Answered(HttpResponseMessage response)
        {
            if (Offset + Pending == Total && Pending == 0)
                return null;   // staged: the next valid step starts another
            string? id = Id ?? (response.Headers.TryGetValues("Upload-Id", out var ids) ? ids.Single() : null);
            return id is null ? null : this with { Offset = Offset + Pending, Pending = 0, Id = id };
        }
    }

    static HttpRequestMessage NextUploadStep(ref UploadSession? upload, Random random)
    {
        upload ??= new UploadSession($"fuzz-{random.Next(1000)}.bin", random.Next(1, 200_000), 0, 0, null);
        int size = Math.Min(upload.Total - upload.Offset, random.Next(1, 70_000));
        upload = upload with { Pending = size };
        var body = new byte[size];
        random.NextBytes(body);
        string id = upload.Id is null ? "" : $"&id={upload.Id}";
        var request = new HttpRequestMessage(HttpMethod.Post, $"api/firmware/upload?name={upload.Name}&offset={upload.Offset}&total={upload.Total}{id}")
        {
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return request;
    }

    static string ValidQueryValue(string name, Random random) => name switch
    {
        "name" => new string([.. Enumerable.Range(0, random.Next(1, 12)).Select(_ => (char)random.Next('a', 'z' + 1))]) + ".bin",
        "offset" => random.Next(3) == 0 ? random.Next(0, 5000).ToString(System.Globalization.CultureInfo.InvariantCulture) : "0",
        "total" => random.Next(1, 5000).ToString(System.Globalization.CultureInfo.InvariantCulture),
        "id" => Convert.ToHexStringLower(BitConverter.GetBytes(random.NextInt64())) + Convert.ToHexStringLower(BitConverter.GetBytes(random.NextInt64())),
        _ => random.Next(100).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>FNV-1a: the same number for the same operation in every run (string.GetHashCode is per process).</summary>
    static int StableHash(string text)
    {
        uint hash = 2166136261;
        foreach (char c in text)
            hash = (hash ^ c) * 16777619;
        return (int)hash;
    }

    [Fact(DisplayName = "Issue 27, the document cannot drift: the OpenAPI document the device serves (docs/openapi/v1.json, embedded) is what ASP.NET Core's generator makes from the routes and records (scripts/update-openapi.sh rewrites it)")]
    public async Task ServedDocumentIsTheGeneratedOne()
    {
        string generated = await _dashboard.Http.GetStringAsync(ApiDocumentGenerator.Path, Cancel);
        if (Environment.GetEnvironmentVariable("WIRESTACK_UPDATE_OPENAPI") == "1")
            await File.WriteAllTextAsync(Path.Combine(RepositoryRoot(), "docs", "openapi", "v1.json"), generated.ReplaceLineEndings("\n") + "\n", Cancel);
        string served = await _dashboard.Http.GetStringAsync(DashboardApi.DocumentPath, Cancel);
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(System.Text.Json.Nodes.JsonNode.Parse(generated), System.Text.Json.Nodes.JsonNode.Parse(served)),
            "docs/openapi/v1.json is not what the routes make; run scripts/update-openapi.sh and review the difference");
    }

    [Fact(DisplayName = "Issue 27, the prose cannot drift: the README's API table names every operation of the OpenAPI document, and the document has every operation the table names")]
    public async Task ReadmeMatchesTheDocument()
    {
        var document = await DocumentAsync();
        var documented = Operations(document).Select(o => $"{o.Method} {o.Path}").ToHashSet();
        string readme = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "README.md"), Cancel);
        var table = ApiTableRow().Matches(readme)
            .SelectMany(m => m.Groups["methods"].Value.Split(new[] { ", ", " or " }, StringSplitOptions.RemoveEmptyEntries).Select(verb => $"{verb} {m.Groups["path"].Value}"))
            .ToHashSet();
        Assert.Empty(documented.Except(table));
        Assert.Empty(table.Except(documented));
    }

    static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Wirestack.slnx")))
            directory = directory.Parent;
        return directory?.FullName ?? throw new DirectoryNotFoundException("the repository's root (Wirestack.slnx)");
    }

    // A row of the README's API table: | `GET` | `/api/…` | …
    [GeneratedRegex(@"^\| `(?<methods>[A-Z, or]+)` \| `(?<path>/[^`?]+)", RegexOptions.Multiline)]
    private static partial Regex ApiTableRow();
}
