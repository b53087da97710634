using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Wirestack.Device.Dashboard;

/// <summary>The routes of ../shared/DASHBOARD-API.md, plus /api/network and the live event stream.</summary>
internal static class DashboardApi
{
    // Handlers that answer asynchronously say they return Task<IResult>: the request delegate generator of a native
    // build otherwise takes some of them for plain Tasks and never writes their result (an empty 200).
    public static void Map(WebApplication app, DashboardContext device)
    {
        MapSession(app, device);
        MapDevice(app, device);
        MapFirmware(app, device);
        // An untyped RequestDelegate: a typed one binds the same overload, but the request delegate generator of a
        // native build then intercepts it as a route handler and fails to compile.
        app.MapGet("/api/live", context => StreamLiveAsync(context, device))
            .WithMetadata(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, null, ["text/event-stream"]));
    }

    /// <summary>Who is logged in, logging in and out, the password.</summary>
    static void MapSession(WebApplication app, DashboardContext device)
    {
        // GET tells the page who is logged in; a login with credentials (Basic) starts a new session, whose token
        // only the cookie carries.
        app.MapMethods("/api/login", ["GET", "POST"], (HttpContext context) =>
        {
            string user = (string)context.Items[DashboardServer.UserKey]!;
            if (context.Request.Headers.Authorization.ToString().StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
            {
                bool https = context.Request.IsHttps;
                string token = device.Users.Sessions.Create(user, https);
                context.Response.Headers.Append("Set-Cookie", device.Users.Sessions.Cookie(token, https));
                device.Events.Add(2, 0, $"User {user} logged in from {context.Connection.RemoteIpAddress}");
            }
            return Results.Json(new UserReply(user), DashboardJson.Default.UserReply);
        }).Produces<UserReply>();

        // POST only: a state change a link or an image tag must not trigger.
        app.MapPost("/api/logout", (HttpContext context) =>
        {
            if (Users.SessionToken(context) is { } token)
                device.Users.Sessions.Revoke(token);
            context.Response.Headers.Append("Set-Cookie", Sessions.ExpiredCookie(context.Request.IsHttps));
            return Results.Text("true", "application/json");
        }).Produces<bool>();

        app.MapPost("/api/password", async Task<IResult> (HttpContext context, PasswordRequest request) =>
        {
            string user = (string)context.Items[DashboardServer.UserKey]!;
            var (error, busy) = await device.Users.ChangePasswordAsync(user, request.OldPassword, request.NewPassword,
                context.Connection.RemoteIpAddress ?? System.Net.IPAddress.None, context.RequestAborted);
            if (error is not null)
                return ApiProblems.Result(busy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status400BadRequest, error);
            device.Events.Add(2, 1, $"User {user} changed the password; earlier sessions end");
            return Results.Text("true", "application/json");
        }).AddEndpointFilter(ApiProblems.Validated).Produces<bool>();
    }

    /// <summary>The seed's device: log level, telemetry, events, settings, reset, and the network view.</summary>
    static void MapDevice(WebApplication app, DashboardContext device)
    {
        app.MapPost("/api/debug", (DebugRequest request) =>
        {
            device.LogLevel.Verbosity = request.Level;
            device.Events.Add(1, 0, $"Log level set to {request.Level}");
            return Results.Text("true", "application/json");
        }).AddEndpointFilter(ApiProblems.Validated).Produces<bool>();

        app.MapGet("/api/stats/get", () =>
        {
            var (temperature, humidity, points) = device.Telemetry.Read();
            return Results.Json(new StatsReply(temperature, humidity, points), DashboardJson.Default.StatsReply);
        }).Produces<StatsReply>();

        // The seed's page asks for a page with a body; an empty one means the first.
        app.MapPost("/api/events/get", (EventsRequest? request) =>
        {
            var (events, total) = device.Events.Get(request?.Page ?? 1);
            return Results.Json(new EventsReply(events, total), DashboardJson.Default.EventsReply);
        }).AddEndpointFilter(ApiProblems.Validated).Produces<EventsReply>();

        app.MapGet("/api/settings/get", () => Results.Json(device.Settings.Current, DashboardJson.Default.DeviceSettingsModel)).Produces<DeviceSettingsModel>();

        app.MapPost("/api/settings/set", (SettingsPatch patch) =>
        {
            device.Settings.Update(patch);
            device.LogLevel.Verbosity = device.Settings.Current.LogEnabled ? device.Settings.Current.LogLevel : 0;
            device.Events.Add(1, 1, "Settings changed");
            return Results.Json(new StatusReply(true, "Success"), DashboardJson.Default.StatusReply);
        }).AddEndpointFilter(ApiProblems.Validated).Produces<StatusReply>();

        app.MapPost("/api/device/reset", (HttpContext context) =>
        {
            device.Events.Add(1, 2, "Device reset requested");
            // Answer first; restart the stack once the response has gone out.
            context.Response.OnCompleted(() =>
            {
                _ = Task.Delay(200).ContinueWith(_ => device.RequestReset(), TaskScheduler.Default);
                return Task.CompletedTask;
            });
            return Results.Json(new StatusReply(true, "Resetting"), DashboardJson.Default.StatusReply);
        }).Produces<StatusReply>();

        app.MapGet("/api/network", async (CancellationToken cancellationToken) =>
            Results.Json(await NetworkView.SnapshotAsync(device, cancellationToken), DashboardJson.Default.NetworkSnapshot)).Produces<NetworkSnapshot>();
    }

    /// <summary>Firmware: upload sessions, status, commit and rollback.</summary>
    static void MapFirmware(WebApplication app, DashboardContext device)
    {
        app.MapPost("/api/firmware/upload", async Task<IResult> (HttpContext context) =>
        {
            var (upload, error) = FirmwareUpload.Parse(context.Request.Query);
            if (error is not null)
                return ApiProblems.Result(StatusCodes.Status400BadRequest, error);
            var outcome = await device.Firmware.WriteAsync(upload, context.Request.Body, context.RequestAborted);
            if (outcome.Error is not null)
                return ApiProblems.Result(outcome.Status, outcome.Error);
            if (outcome.UploadId is { } id)
                context.Response.Headers["Upload-Id"] = id;
            if (outcome.Staged)
                device.Events.Add(3, 1, $"Firmware {upload.Name} ({upload.Total} bytes) uploaded and staged");
            return Results.Text("true", "application/json");
        }).Produces<bool>();

        app.MapGet("/api/firmware/status", () => Results.Json(new FirmwareStatusReply(device.Firmware.Current, device.Firmware.Pending), DashboardJson.Default.FirmwareStatusReply))
            .Produces<FirmwareStatusReply>();

        app.MapPost("/api/firmware/commit", async Task<IResult> (CancellationToken cancellationToken) =>
        {
            var outcome = await device.Firmware.CommitAsync(cancellationToken);
            if (outcome.Error is not null)
                return ApiProblems.Result(outcome.Status, outcome.Error);
            device.Events.Add(3, 2, $"Firmware {device.Firmware.Current?.Name} committed");
            return Results.Json(new StatusReply(true, "Success"), DashboardJson.Default.StatusReply);
        }).Produces<StatusReply>().ProducesProblem(StatusCodes.Status409Conflict);

        app.MapPost("/api/firmware/rollback", async Task<IResult> (CancellationToken cancellationToken) =>
        {
            var outcome = await device.Firmware.RollbackAsync(cancellationToken);
            if (outcome.Error is not null)
                return ApiProblems.Result(outcome.Status, outcome.Error);
            device.Events.Add(3, 1, "Staged firmware discarded");
            return Results.Json(new StatusReply(true, "Success"), DashboardJson.Default.StatusReply);
        }).Produces<StatusReply>().ProducesProblem(StatusCodes.Status409Conflict);
    }

    /// <summary>Server-Sent Events: a snapshot every second and each new log event as it happens.</summary>
    static async Task StreamLiveAsync(HttpContext context, DashboardContext device)
    {
        context.Response.Headers.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        var cancellation = context.RequestAborted;
        var events = device.Events.Subscribe(cancellation);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        var tick = timer.WaitForNextTickAsync(cancellation).AsTask();
        var next = events.WaitToReadAsync(cancellation).AsTask();
        try
        {
            await WriteEventAsync(context, "stats", Live(device), DashboardJson.Default.LiveStats);
            while (!cancellation.IsCancellationRequested)
            {
                var done = await Task.WhenAny(tick, next);
                if (done == tick)
                {
                    // A logout, an expired session or a changed password ends the stream too, not only new requests.
                    if (!await tick || !device.Users.StillAuthenticated(context))
                        break;
                    await WriteEventAsync(context, "stats", Live(device), DashboardJson.Default.LiveStats);
                    tick = timer.WaitForNextTickAsync(cancellation).AsTask();
                }
                else
                {
                    if (!await next)
                        break;
                    while (events.TryRead(out var entry))
                        await WriteEventAsync(context, "event", entry, DashboardJson.Default.DeviceEvent);
                    next = events.WaitToReadAsync(cancellation).AsTask();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Where the API's OpenAPI document is served (behind login).</summary>
    public const string DocumentPath = "/openapi/v1.json";

    /// <summary>
    /// Serves the OpenAPI document of this API, docs/openapi/v1.json, embedded at build time; a test keeps it equal
    /// to what ASP.NET Core's generator makes from these routes.
    /// </summary>
    public static void MapDocument(WebApplication app)
    {
        using var stream = typeof(DashboardApi).Assembly.GetManifestResourceStream("openapi-v1.json")
            ?? throw new InvalidOperationException("the OpenAPI document is not embedded");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        byte[] document = copy.ToArray();
        app.MapGet(DocumentPath, () => Results.Bytes(document, "application/json")).ExcludeFromDescription();
    }

    static LiveStats Live(DashboardContext device)
    {
        var (temperature, humidity, points) = device.Telemetry.Read();
        return new LiveStats(
            temperature,
            humidity,
            points,
            device.Stack.State.ToString(),
            device.Stack.GetCounter(StackCounter.FramesReceived),
            device.Stack.GetCounter(StackCounter.FramesSent),
            device.Stack.GetCounter(StackCounter.BytesReceived),
            device.Stack.GetCounter(StackCounter.BytesSent),
            device.Clock.GetUtcNow().ToUnixTimeMilliseconds());
    }

    static async Task WriteEventAsync<T>(HttpContext context, string name, T data, JsonTypeInfo<T> type)
    {
        await context.Response.WriteAsync($"event: {name}\ndata: {JsonSerializer.Serialize(data, type)}\n\n", context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }
}
