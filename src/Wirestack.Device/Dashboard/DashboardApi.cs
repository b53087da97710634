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
        });

        // POST only: a state change a link or an image tag must not trigger.
        app.MapPost("/api/logout", (HttpContext context) =>
        {
            if (Users.SessionToken(context) is { } token)
                device.Users.Sessions.Revoke(token);
            context.Response.Headers.Append("Set-Cookie", Sessions.ExpiredCookie(context.Request.IsHttps));
            return Results.Text("true", "application/json");
        });

        app.MapPost("/api/password", async Task<IResult> (HttpContext context) =>
        {
            string user = (string)context.Items[DashboardServer.UserKey]!;
            var body = await ReadJsonAsync(context);
            if (body is not { } json || !json.TryGetProperty("old_password", out var old) || old.ValueKind != JsonValueKind.String
                || !json.TryGetProperty("new_password", out var changed) || changed.ValueKind != JsonValueKind.String)
                return Results.Json(new StatusReply(false, "expected {\"old_password\": \"…\", \"new_password\": \"…\"}"), DashboardJson.Default.StatusReply, statusCode: 400);
            var (error, busy) = await device.Users.ChangePasswordAsync(user, old.GetString()!, changed.GetString()!,
                context.Connection.RemoteIpAddress ?? System.Net.IPAddress.None, context.RequestAborted);
            if (error is not null)
                return Results.Json(new StatusReply(false, error), DashboardJson.Default.StatusReply, statusCode: busy ? 503 : 400);
            device.Events.Add(2, 1, $"User {user} changed the password; earlier sessions end");
            return Results.Text("true", "application/json");
        });

        app.MapPost("/api/debug", async Task<IResult> (HttpContext context) =>
        {
            var body = await ReadJsonAsync(context);
            if (body is not { } json || !json.TryGetProperty("level", out var level) || !level.TryGetInt32(out int value) || value is < 0 or > 4)
                return Results.Json(new StatusReply(false, "expected {\"level\": 0..4}"), DashboardJson.Default.StatusReply, statusCode: 400);
            device.LogLevel.Verbosity = value;
            device.Events.Add(1, 0, $"Log level set to {value}");
            return Results.Text("true", "application/json");
        });

        app.MapGet("/api/stats/get", () =>
        {
            var (temperature, humidity, points) = device.Telemetry.Read();
            return Results.Json(new StatsReply(temperature, humidity, points), DashboardJson.Default.StatsReply);
        });

        app.MapPost("/api/events/get", async Task<IResult> (HttpContext context) =>
        {
            var body = await ReadJsonAsync(context);
            int page = body is { } json && json.TryGetProperty("page", out var p) && p.TryGetInt32(out int n) ? n : 1;
            var (events, total) = device.Events.Get(page);
            return Results.Json(new EventsReply(events, total), DashboardJson.Default.EventsReply);
        });

        app.MapGet("/api/settings/get", () => Results.Json(device.Settings.Current, DashboardJson.Default.DeviceSettingsModel));

        app.MapPost("/api/settings/set", async Task<IResult> (HttpContext context) =>
        {
            var body = await ReadJsonAsync(context);
            string? error = body is { } json ? device.Settings.Update(json) : "expected a JSON object";
            if (error is not null)
                return Results.Json(new StatusReply(false, error), DashboardJson.Default.StatusReply, statusCode: 400);
            device.LogLevel.Verbosity = device.Settings.Current.LogEnabled ? device.Settings.Current.LogLevel : 0;
            device.Events.Add(1, 1, "Settings changed");
            return Results.Json(new StatusReply(true, "Success"), DashboardJson.Default.StatusReply);
        });

        app.MapPost("/api/firmware/upload", async Task<IResult> (HttpContext context) =>
        {
            var query = context.Request.Query;
            string name = query["name"].ToString();
            if (!long.TryParse(query["offset"], out long offset) || offset < 0)
                return Results.Text("missing or invalid offset", statusCode: 400);
            if (!long.TryParse(query["total"], out long total) || total <= 0)
                return Results.Text("missing or invalid total", statusCode: 400);
            string? error = await device.Firmware.WriteAsync(name, offset, total, context.Request.Body, context.RequestAborted);
            if (error is not null)
                return Results.Text(error, statusCode: 400);
            if (offset == total)
                device.Events.Add(3, 1, $"Firmware {name} ({total} bytes) uploaded and staged");
            return Results.Text("true", "application/json");
        });

        app.MapGet("/api/firmware/status", () => Results.Json(new FirmwareStatusReply(device.Firmware.Current, device.Firmware.Pending), DashboardJson.Default.FirmwareStatusReply));

        app.MapPost("/api/firmware/commit", () =>
        {
            if (!device.Firmware.Commit())
                return Results.Json(new StatusReply(false, "no staged firmware"), DashboardJson.Default.StatusReply, statusCode: 400);
            device.Events.Add(3, 2, $"Firmware {device.Firmware.Current!.Name} committed");
            return Results.Json(new StatusReply(true, "Success"), DashboardJson.Default.StatusReply);
        });

        app.MapPost("/api/firmware/rollback", () =>
        {
            if (!device.Firmware.Rollback())
                return Results.Json(new StatusReply(false, "no staged firmware"), DashboardJson.Default.StatusReply, statusCode: 400);
            device.Events.Add(3, 1, "Staged firmware discarded");
            return Results.Json(new StatusReply(true, "Success"), DashboardJson.Default.StatusReply);
        });

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
        });

        app.MapGet("/api/network", async (CancellationToken cancellationToken) =>
            Results.Json(await NetworkView.SnapshotAsync(device, cancellationToken), DashboardJson.Default.NetworkSnapshot));

        // An untyped RequestDelegate: a typed one binds the same overload, but the request delegate generator of a
        // native build then intercepts it as a route handler and fails to compile.
        app.MapGet("/api/live", async context =>
        {
            // Server-Sent Events: a snapshot every second and each new log event as it happens.
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
        });
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

    static async Task<JsonElement?> ReadJsonAsync(HttpContext context)
    {
        try
        {
            using var document = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
