using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Wirestack.Device.Dashboard;

/// <summary>
/// Every 4xx and 5xx the dashboard sends is an RFC 9457 problem (<c>application/problem+json</c>) whose
/// <c>detail</c> says what to change, with the request's id and the security headers; the seed's clients read
/// <c>message</c>, so the detail is there too. Requests are bound strictly (typed records, strict JSON, ranges checked),
/// and a failure no handler expected is logged with the request id and answered without internals.
/// </summary>
internal static partial class ApiProblems
{
    public static void AddServices(IServiceCollection services)
    {
        services.ConfigureHttpJsonOptions(o => Strict(o.SerializerOptions));
        services.AddProblemDetails(o => o.CustomizeProblemDetails = Complete);
        // A body that does not bind throws, so the handler below can say why instead of a bare 400.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
    }

    /// <summary>The request options DashboardJson declares, on the options the framework binds bodies with.</summary>
    static void Strict(JsonSerializerOptions options)
    {
        options.TypeInfoResolverChain.Insert(0, DashboardJson.Default);
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.AllowDuplicateProperties = false;
        options.RespectNullableAnnotations = true;
        options.RespectRequiredConstructorParameters = true;
        // The web defaults read "50" as 50; a number is a number.
        options.NumberHandling = JsonNumberHandling.Strict;
    }

    /// <summary>An endpoint filter that answers a 400 problem when the request body's values are out of range.</summary>
    public static async ValueTask<object?> Validated(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        foreach (var argument in context.Arguments)
        {
            if (argument is IValidatedRequest request && request.Problem() is { } problem)
                return Result(StatusCodes.Status400BadRequest, problem);
        }
        return await next(context);
    }

    public static void UseErrorHandling(WebApplication app, ILogger log)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = async context =>
            {
                var error = context.Features.Get<IExceptionHandlerPathFeature>();
                var (status, detail) = error?.Error switch
                {
                    BadHttpRequestException bad => (bad.StatusCode, Describe(bad)),
                    _ => (StatusCodes.Status500InternalServerError, $"The device failed to answer this request; its log says why (request {context.TraceIdentifier})."),
                };
                if (status >= 500)
                    log.LogError(error?.Error, "Request {RequestId} {Method} {Path} failed", context.TraceIdentifier, context.Request.Method, error?.Path);
                else
                    log.LogDebug("Request {RequestId} {Method} {Path} refused: {Detail}", context.TraceIdentifier, context.Request.Method, error?.Path, detail);
                await WriteAsync(context, status, detail);
            },
        });
        // What answers with a bare status (no route, wrong method) gets a problem too.
        app.UseStatusCodePages();
    }

    /// <summary>Answers with a problem: <paramref name="status"/> and a reason the client can act on.</summary>
    public static async Task WriteAsync(HttpContext context, int status, string detail)
    {
        context.Response.StatusCode = status;
        var problems = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        await problems.WriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = { Status = status, Detail = detail } });
    }

    /// <summary>A problem result for a route handler.</summary>
    public static IResult Result(int status, string detail) => Results.Problem(detail: detail, statusCode: status);

    static void Complete(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        problem.Detail ??= problem.Title;
        problem.Extensions["message"] = problem.Detail;
        problem.Extensions["request_id"] = context.HttpContext.TraceIdentifier;
        // The exception handler clears the response's headers before a problem is written.
        WebSurface.AddSecurityHeaders(context.HttpContext.Response);
    }

    /// <summary>A validation key (the record's property) as the field's name on the wire.</summary>
    static string Field(string key) => JsonNamingPolicy.SnakeCaseLower.ConvertName(key);

    /// <summary>Why a request could not be read, in the API's words rather than .NET's type names.</summary>
    internal static string Describe(BadHttpRequestException bad)
    {
        if (bad.InnerException is JsonException json)
            return Describe(json);
        if (bad.Message.StartsWith("Required parameter", StringComparison.Ordinal) || bad.Message.StartsWith("Implicit body", StringComparison.Ordinal))
            return "this request needs a JSON object in its body";
        if (bad.StatusCode == StatusCodes.Status415UnsupportedMediaType)
            return "this route takes a JSON body: send Content-Type: application/json";
        return bad.Message;
    }

    internal static string Describe(JsonException json)
    {
        string where = json.Path is { Length: > 1 } path ? $"at {path}: " : "";
        string message = json.Message;
        int cut = message.IndexOf(" Path: ", StringComparison.Ordinal) is >= 0 and var p ? p : message.IndexOf(" LineNumber: ", StringComparison.Ordinal);
        if (cut >= 0)
            message = message[..cut];
        string reason = message switch
        {
            _ when ConvertedTo().Match(message) is { Success: true } m => "expected " + Expected(json.Path, m.Groups[1].Value),
            _ when Unmapped().Match(message) is { Success: true } m => $"unknown field '{m.Groups[1].Value}'",
            _ when Duplicate().Match(message) is { Success: true } m => $"field '{m.Groups[1].Value}' given twice",
            _ when Missing().Match(message) is { Success: true } m => $"missing field {m.Groups[1].Value}",
            _ when NullNotAllowed().Match(message) is { Success: true } m => $"'{Field(m.Groups[1].Value)}' may not be null",
            _ => TypeName().Replace(message, "the request"),
        };
        return $"the body is not a valid request: {where}{reason}";
    }

    /// <summary>What the field at <paramref name="path"/> takes: the request records say, else the type the message named.</summary>
    static string Expected(string? path, string named)
    {
        string field = path?[(path.LastIndexOf('.') + 1)..] ?? "";
        return FieldTypes.Value.TryGetValue(field, out var type) ? Friendly(type.FullName ?? "") : Friendly(named);
    }

    static readonly Lazy<Dictionary<string, Type>> FieldTypes = new(() =>
        new[] { typeof(DebugRequest), typeof(EventsRequest), typeof(PasswordRequest), typeof(SettingsPatch) }
            .SelectMany(type => DashboardJson.Default.GetTypeInfo(type)!.Properties)
            .GroupBy(property => property.Name)
            .ToDictionary(group => group.Key, group => Nullable.GetUnderlyingType(group.First().PropertyType) ?? group.First().PropertyType));

    static string Friendly(string type) => type switch
    {
        _ when type.Contains("System.Int32", StringComparison.Ordinal) => "an integer",
        _ when type.Contains("System.Boolean", StringComparison.Ordinal) => "true or false",
        _ when type.Contains("System.String", StringComparison.Ordinal) => "a string",
        _ => "a JSON object",
    };

    [GeneratedRegex(@"could not be converted to ([^ ]+?)\.?$")]
    private static partial Regex ConvertedTo();

    [GeneratedRegex(@"The JSON property '([^']*)' could not be mapped")]
    private static partial Regex Unmapped();

    [GeneratedRegex(@"Duplicate property '([^']*)'")]
    private static partial Regex Duplicate();

    [GeneratedRegex(@"missing required properties including: (.*?)\.?$")]
    private static partial Regex Missing();

    [GeneratedRegex(@"(?:parameter|property) '([^']*)' on type '[^']*' doesn't allow null")]
    private static partial Regex NullNotAllowed();

    [GeneratedRegex(@"type '[^']*'")]
    private static partial Regex TypeName();
}
