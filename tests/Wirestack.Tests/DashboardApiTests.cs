using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Wirestack.Tests;

/// <summary>
/// The dashboard API as a contract (issue 27): what a hostile or careless client sends gets a 4xx problem a person
/// can act on, never a 500 or a stall; the findings of the report, one test each.
/// </summary>
public sealed class DashboardApiTests : IAsyncLifetime
{
    DashboardHarness _dashboard = null!;

    public async ValueTask InitializeAsync() => _dashboard = await DashboardHarness.StartAsync(TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync() => _dashboard.DisposeAsync();

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    async Task<(HttpStatusCode Status, string? Type, string Body, HttpResponseMessage Response)> PostAsync(string path, byte[] body, string contentType = "application/json")
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        var response = await _dashboard.Http.PostAsync(path, content, Cancel);
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsStringAsync(Cancel), response);
    }

    /// <summary>A 400 problem (RFC 9457) that says what was wrong, with the security headers every answer has.</summary>
    static void AssertProblem(HttpStatusCode expected, (HttpStatusCode Status, string? Type, string Body, HttpResponseMessage Response) reply, string what)
    {
        Assert.True(reply.Status == expected, $"{what}: {(int)reply.Status} {reply.Body}");
        Assert.Equal("application/problem+json", reply.Type);
        using var problem = JsonDocument.Parse(reply.Body);
        Assert.Equal((int)expected, problem.RootElement.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(problem.RootElement.GetProperty("detail").GetString()), what);
        Assert.True(reply.Response.Headers.Contains("Content-Security-Policy"), what);
        Assert.True(reply.Response.Headers.Contains("X-Content-Type-Options"), what);
    }

    public static TheoryData<string, string> TypeErrors()
    {
        var data = new TheoryData<string, string>();
        foreach (string value in new[] { "\"50\"", "null", "true", "[]", "{}", "1.5", "1e309", "99999999999" })
        {
            data.Add("/api/settings/set", $"{{\"brightness\":{value}}}");
            data.Add("/api/settings/set", $"{{\"log_level\":{value}}}");
            data.Add("/api/debug", $"{{\"level\":{value}}}");
            data.Add("/api/events/get", $"{{\"page\":{value}}}");
        }
        foreach (string root in new[] { "1", "null", "[]", "\"s\"", "1e309", "", "{", "{\"a\":1}x" })
        {
            data.Add("/api/debug", root);
            if (root != "null") // an empty body or null asks for the first page
                data.Add("/api/events/get", root == "" ? "[]" : root);
            data.Add("/api/password", root);
            data.Add("/api/settings/set", root);
        }
        data.Add("/api/settings/set", "{\"device_name\":\"a\\ud800b\"}");
        data.Add("/api/settings/set", "{\"device_name\\ud800\":\"a\"}");
        data.Add("/api/settings/set", "{\"brightness\":10,\"brightness\":20}");
        data.Add("/api/settings/set", "{\"unknown\":1}");
        data.Add("/api/settings/set", "{\"brightness\":101}");
        data.Add("/api/settings/set", "{\"device_name\":\"" + new string('x', 41) + "\"}");
        data.Add("/api/debug", "{\"level\":5}");
        data.Add("/api/debug", "{\"level\":1,\"level\":2}");
        data.Add("/api/events/get", "{\"page\":0}");
        data.Add("/api/password", "{\"old_password\":1,\"new_password\":\"x\"}");
        data.Add("/api/password", "{\"old_password\":\"admin\"}");
        return data;
    }

    [Theory(DisplayName = "Issue 27, 500 on type errors: a wrong type, a root that is not an object, a lone surrogate, duplicate keys or a value out of range is a 400 problem naming the field, and changes nothing")]
    [MemberData(nameof(TypeErrors))]
    public async Task TypeErrorsAreProblems(string path, string body)
    {
        var before = _dashboard.Device.Settings.Current;
        AssertProblem(HttpStatusCode.BadRequest, await PostAsync(path, Encoding.UTF8.GetBytes(body)), $"{path} {body}");
        Assert.Equal(before, _dashboard.Device.Settings.Current);
    }

    [Theory(DisplayName = "Issue 27, a reason a person can act on: a problem's detail names the field and what it takes, in the API's words, not .NET's types")]
    [InlineData("/api/settings/set", "{\"brightness\":\"50\"}", "at $.brightness: expected an integer")]
    [InlineData("/api/settings/set", "{\"log_enabled\":1}", "at $.log_enabled: expected true or false")]
    [InlineData("/api/settings/set", "{\"device_name\":7}", "at $.device_name: expected a string, not Number")]
    [InlineData("/api/settings/set", "{\"brightness\":null}", "null is not a value for this field")]
    [InlineData("/api/settings/set", "{\"colour\":1}", "unknown field 'colour'")]
    [InlineData("/api/settings/set", "{\"brightness\":1,\"brightness\":2}", "given twice")]
    [InlineData("/api/settings/set", "{\"brightness\":101}", "brightness: must be 0 to 100")]
    [InlineData("/api/events/get", "{\"page\":\"x\"}", "at $.page: expected an integer")]
    [InlineData("/api/password", "{\"old_password\":\"a\"}", "missing field")]
    [InlineData("/api/password", "{\"old_password\":null,\"new_password\":\"b\"}", "may not be null")]
    [InlineData("/api/debug", "{\"level\":9}", "level: must be 0 (none) to 4 (verbose)")]
    public async Task DetailsSayWhatToChange(string path, string body, string expected)
    {
        var reply = await PostAsync(path, Encoding.UTF8.GetBytes(body));
        AssertProblem(HttpStatusCode.BadRequest, reply, body);
        string detail = JsonDocument.Parse(reply.Body).RootElement.GetProperty("detail").GetString()!;
        Assert.Contains(expected, detail);
        Assert.DoesNotContain("System.", detail);
        Assert.DoesNotContain("Wirestack.", detail);
    }

    [Theory(DisplayName = "Issue 27, 500 on bad UTF-8: invalid and overlong UTF-8 in a string or a key is a 400 problem")]
    [InlineData(new byte[] { 0xff, 0xfe })]
    [InlineData(new byte[] { 0xc0, 0xaf })]
    [InlineData(new byte[] { 0xe0, 0x80, 0xaf })]
    [InlineData(new byte[] { 0xed, 0xa0, 0x80 })]
    public async Task BadUtf8IsAProblem(byte[] bad)
    {
        byte[] Wrap(string before, string after) => [.. Encoding.ASCII.GetBytes(before), .. bad, .. Encoding.ASCII.GetBytes(after)];
        AssertProblem(HttpStatusCode.BadRequest, await PostAsync("/api/settings/set", Wrap("{\"device_name\":\"a", "\"}")), "in a string");
        AssertProblem(HttpStatusCode.BadRequest, await PostAsync("/api/settings/set", Wrap("{\"", "\":1}")), "in a key");
        Assert.Equal("wirestack-device", _dashboard.Device.Settings.Current.DeviceName);
    }

    [Fact(DisplayName = "Issue 27, typed requests: partial settings update only the given fields, and the reply is the seed's")]
    public async Task PartialSettings()
    {
        var reply = await PostAsync("/api/settings/set", """{"brightness":7,"device_name":"lab"}"""u8.ToArray());
        Assert.True(reply.Status == HttpStatusCode.OK, reply.Body);
        Assert.Equal("""{"status":true,"message":"Success"}""", reply.Body);
        Assert.Equal(new Device.Dashboard.DeviceSettingsModel { Brightness = 7, DeviceName = "lab" }, _dashboard.Device.Settings.Current);
        reply = await PostAsync("/api/events/get", [], "application/json");
        Assert.True(reply.Status == HttpStatusCode.OK, reply.Body);
        reply = await PostAsync("/api/debug", """{"level":3}"""u8.ToArray());
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        Assert.Equal(3, _dashboard.Device.LogLevel.Verbosity);
    }

    [Fact(DisplayName = "The seed's scripts post JSON with curl -d (labelled a form): with their own credentials (Authorization) it is read as the JSON the route takes")]
    public async Task CurlFormLabelledJson()
    {
        var reply = await PostAsync("/api/events/get", """{"page":1}"""u8.ToArray(), "application/x-www-form-urlencoded");
        Assert.True(reply.Status == HttpStatusCode.OK, reply.Body);
        reply = await PostAsync("/api/settings/set", """{"brightness":9}"""u8.ToArray(), "application/x-www-form-urlencoded");
        Assert.True(reply.Status == HttpStatusCode.OK, reply.Body);
        Assert.Equal(9, _dashboard.Device.Settings.Current.Brightness);
    }

    [Theory(DisplayName = "Issue 27, 500 on chunk sizes: a chunked body whose chunk-size line has 9 or more hex digits is a 400, on every route that reads a body")]
    [InlineData("/api/settings/set")]
    [InlineData("/api/debug")]
    [InlineData("/api/firmware/upload?name=fw.bin&offset=0&total=10")]
    public async Task LongChunkSizeIsBadRequest(string path)
    {
        await using var connection = await _dashboard.ConnectRawAsync(Cancel);
        string type = path.Contains("firmware") ? "application/octet-stream" : "application/json";
        var request = $"POST {path} HTTP/1.1\r\nHost: {DashboardHarness.Address}\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\nContent-Type: {type}\r\nTransfer-Encoding: chunked\r\n\r\n0000000001\r\n{{\r\n0\r\n\r\n";
        await connection.WriteAsync(Encoding.ASCII.GetBytes(request), Cancel);
        var buffer = new byte[4096];
        int n = await connection.ReadAsync(buffer, Cancel);
        string head = Encoding.ASCII.GetString(buffer, 0, n);
        Assert.StartsWith("HTTP/1.1 400", head);
    }

    [Fact(DisplayName = "Issue 27, silent 500s: an unhandled failure is logged with the request's id and answered with a 500 problem that shows no internals, with the security headers")]
    public async Task FailuresAreLogged()
    {
        // A file where the firmware directory must be: the upload fails with an I/O error no handler expects.
        await File.WriteAllTextAsync(Path.Combine(_dashboard.Directory, "firmware"), "not a directory", Cancel);
        var reply = await PostAsync("/api/firmware/upload?name=fw.bin&offset=0&total=10", "0123456789"u8.ToArray(), "application/octet-stream");
        AssertProblem(HttpStatusCode.InternalServerError, reply, "an I/O failure");
        Assert.DoesNotContain("IOException", reply.Body);
        Assert.DoesNotContain(_dashboard.Directory, reply.Body);
        using var problem = JsonDocument.Parse(reply.Body);
        string requestId = problem.RootElement.GetProperty("request_id").GetString()!;
        Assert.Contains(_dashboard.Log.Lines, line => line.StartsWith("Error", StringComparison.Ordinal) && line.Contains(requestId) && line.Contains("/api/firmware/upload"));
    }

    [Fact(DisplayName = "Issue 27, firmware stall: with a chunk trickling in, 40 concurrent commits and rollbacks are answered at once (a chunk holds only its own upload), and GET / stays fast throughout")]
    public async Task SlowChunkStallsNothing()
    {
        await Upload("staged.bin", 2000);
        var start = await _dashboard.Http.PostAsync("/api/firmware/upload?name=fw.bin&offset=0&total=100000", new ByteArrayContent(new byte[100]), Cancel);
        Assert.Equal(HttpStatusCode.OK, start.StatusCode);
        string id = start.Headers.GetValues("Upload-Id").Single();
        await using var slow = await _dashboard.ConnectRawAsync(Cancel);
        await slow.WriteAsync(Encoding.ASCII.GetBytes($"POST /api/firmware/upload?name=fw.bin&offset=100&total=100000&id={id} HTTP/1.1\r\nHost: {DashboardHarness.Address}\r\n" +
            "Authorization: Basic YWRtaW46YWRtaW4=\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\nabc"), Cancel);
        await Task.Delay(300, Cancel);
        var answered = Stopwatch.StartNew();
        var waiters = Enumerable.Range(0, 40).Select(async i =>
        {
            using var client = _dashboard.NewClient();
            var answer = await client.PostAsync(i % 2 == 0 ? "/api/firmware/commit" : "/api/firmware/rollback", null, Cancel);
            return (answer.StatusCode, answered.Elapsed);
        }).ToArray();
        var probes = new List<double>();
        var anonymous = _dashboard.NewClient();
        for (int i = 0; i < 20; i++)
        {
            var watch = Stopwatch.StartNew();
            using var page = await anonymous.GetAsync("/", Cancel);
            probes.Add(watch.Elapsed.TotalMilliseconds);
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            await Task.Delay(100, Cancel);
        }
        var answers = await Task.WhenAll(waiters);
        // The first commit or rollback takes the staged image; the rest find none.
        Assert.Single(answers, a => a.StatusCode == HttpStatusCode.OK);
        Assert.All(answers, a => Assert.True(a.StatusCode is HttpStatusCode.OK or HttpStatusCode.BadRequest, $"{a.StatusCode}"));
        Assert.True(answers.Max(a => a.Elapsed) < TimeSpan.FromSeconds(3), $"the last answer came after {answers.Max(a => a.Elapsed).TotalSeconds:0.0} s");
        Assert.True(probes.Max() < 500, $"GET / took up to {probes.Max():0} ms");
    }

    [Fact(DisplayName = "Issue 27, interleaved uploads: of eight clients starting an upload of the same name at once one gets a session, the others 409; a chunk without the session's id is refused, so the staged image is exactly one client's")]
    public async Task ConcurrentUploadsDoNotInterleave()
    {
        const int Total = 64 << 10;
        var images = Enumerable.Range(0, 8).Select(i => Enumerable.Repeat((byte)i, Total).ToArray()).ToArray();
        var starts = await Task.WhenAll(images.Select(image =>
            _dashboard.NewClient().PostAsync($"/api/firmware/upload?name=fw.bin&offset=0&total={Total}", new ByteArrayContent(image[..1000]), Cancel)));
        Assert.Single(starts, s => s.StatusCode == HttpStatusCode.OK);
        Assert.Equal(7, starts.Count(s => s.StatusCode == HttpStatusCode.Conflict));
        int winner = Array.FindIndex(starts, s => s.StatusCode == HttpStatusCode.OK);
        string id = starts[winner].Headers.GetValues("Upload-Id").Single();
        var foreign = await _dashboard.Http.PostAsync($"/api/firmware/upload?name=fw.bin&offset=1000&total={Total}", new ByteArrayContent(images[(winner + 1) % 8][1000..]), Cancel);
        Assert.True(foreign.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.Conflict, $"{foreign.StatusCode}");
        var rest = await _dashboard.Http.PostAsync($"/api/firmware/upload?name=fw.bin&offset=1000&total={Total}&id={id}", new ByteArrayContent(images[winner][1000..]), Cancel);
        Assert.Equal(HttpStatusCode.OK, rest.StatusCode);
        var finish = await _dashboard.Http.PostAsync($"/api/firmware/upload?name=fw.bin&offset={Total}&total={Total}&id={id}", new ByteArrayContent([]), Cancel);
        Assert.Equal(HttpStatusCode.OK, finish.StatusCode);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(images[winner])), _dashboard.Device.Firmware.Pending?.Sha256);
    }

    [Fact(DisplayName = "Issue 27, firmware sessions: a first chunk that fails (past the total, or empty) opens nothing, so the name is free for the retry at once")]
    public async Task FailedFirstChunkHoldsNoName()
    {
        var past = await _dashboard.Http.PostAsync("/api/firmware/upload?name=fw.bin&offset=0&total=10", new ByteArrayContent(new byte[20]), Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, past.StatusCode);
        var empty = await _dashboard.Http.PostAsync("/api/firmware/upload?name=fw.bin&offset=0&total=10", new ByteArrayContent([]), Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        var retry = await _dashboard.Http.PostAsync("/api/firmware/upload?name=fw.bin&offset=0&total=10", new ByteArrayContent(new byte[10]), Cancel);
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        Assert.Single(Directory.GetFiles(Path.Combine(_dashboard.Directory, "firmware"), "upload-*.part"));
    }

    [Fact(DisplayName = "Issue 27, firmware status after a restart: the current and staged images are read back from the data directory")]
    public async Task FirmwareStatusSurvivesRestart()
    {
        await Upload("one.bin", 5000);
        Assert.Equal(HttpStatusCode.OK, (await _dashboard.Http.PostAsync("/api/firmware/commit", null, Cancel)).StatusCode);
        await Upload("two.bin", 3000);
        var before = (_dashboard.Device.Firmware.Current, _dashboard.Device.Firmware.Pending);
        var restarted = new Device.Dashboard.Firmware(Path.Combine(_dashboard.Directory, "firmware"));
        Assert.Equal(before.Current, restarted.Current);
        Assert.Equal(before.Pending, restarted.Pending);
        Assert.Equal("one.bin", restarted.Current?.Name);
        Assert.Equal(3000, restarted.Pending?.Size);
    }

    async Task Upload(string name, int size)
    {
        var start = await _dashboard.Http.PostAsync($"/api/firmware/upload?name={name}&offset=0&total={size}", new ByteArrayContent(new byte[size]), Cancel);
        Assert.Equal(HttpStatusCode.OK, start.StatusCode);
        string id = start.Headers.GetValues("Upload-Id").Single();
        var finish = await _dashboard.Http.PostAsync($"/api/firmware/upload?name={name}&offset={size}&total={size}&id={id}", new ByteArrayContent([]), Cancel);
        Assert.Equal(HttpStatusCode.OK, finish.StatusCode);
    }

    [Theory(DisplayName = "Issue 27, unvalidated names and numbers: an image name outside letters, digits, '.', '-' and '_' (path, NUL, bad escape, bidi override, markup), a repeated parameter, or a number that is not plain digits is a 400 problem")]
    [InlineData("name=../../etc/passwd&offset=0&total=10")]
    [InlineData("name=a%00b&offset=0&total=10")]
    [InlineData("name=%ff&offset=0&total=10")]
    [InlineData("name=a%E2%80%AEb&offset=0&total=10")]
    [InlineData("name=%3Cscript%3E&offset=0&total=10")]
    [InlineData("name=.hidden&offset=0&total=10")]
    [InlineData("name=&offset=0&total=10")]
    [InlineData("name=a&name=b&offset=0&total=10")]
    [InlineData("name=a&offset=+0&total=10")]
    [InlineData("name=a&offset=%200&total=10")]
    [InlineData("name=a&offset=0000000000000000000000&total=10")]
    [InlineData("name=a&offset=0&offset=0&total=10")]
    [InlineData("name=a&offset=0&total=-1")]
    [InlineData("name=a&offset=0&total=0x10")]
    [InlineData("name=a&offset=0&total=99999999999999999999")]
    [InlineData("name=a&offset=0")]
    public async Task NamesAndNumbersAreValidated(string query)
    {
        AssertProblem(HttpStatusCode.BadRequest, await PostAsync("/api/firmware/upload?" + query, "0123456789"u8.ToArray(), "application/octet-stream"), query);
        Assert.Null(_dashboard.Device.Firmware.Pending);
        Assert.DoesNotContain(_dashboard.Device.Events.Get(1).Page, e => e.Text.Contains("Firmware"));
    }
}
