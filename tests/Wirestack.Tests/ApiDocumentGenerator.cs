using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;

using Wirestack.Device.Dashboard;

namespace Wirestack.Tests;

/// <summary>
/// Makes the API's OpenAPI 3.1 document with ASP.NET Core's generator from the dashboard's routes, their request
/// records and the replies they declare, for the test that keeps the committed document (docs/openapi/v1.json,
/// which the device serves) equal to what the routes say. Generated here rather than in the device: the generator
/// and its route descriptions cost a native build 2 MB of binary and about 2.7 MB of idle memory for a document that
/// never changes at run time. What the routes cannot say for themselves is added here: how a user authenticates,
/// the answers every route may give before its handler runs (403, 421, 429, 503 from the login middleware; 400, 413
/// and 415 for bodies), and the firmware upload's query and octet-stream body, which its handler parses itself to be
/// strict about them.
/// </summary>
internal static class ApiDocumentGenerator
{
    /// <summary>Where the generator serves what it makes, beside the committed document.</summary>
    public const string Path = "/openapi/generated.json";

    public static void AddServices(IServiceCollection services) => services.AddOpenApi("generated", options =>
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            // The document is served by whatever address the device has.
            document.Servers = [];
            document.Info = new OpenApiInfo
            {
                Title = "wirestack-device dashboard API",
                Version = "1",
                Description = "The seed's device dashboard API and Wirestack's additions. Every error is an RFC 9457 problem.",
            };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes = new Dictionary<string, IOpenApiSecurityScheme>
            {
                ["basic"] = new OpenApiSecurityScheme { Type = SecuritySchemeType.Http, Scheme = "basic" },
                ["session"] = new OpenApiSecurityScheme { Type = SecuritySchemeType.Http, Scheme = "bearer", Description = "The token of a session a login started (also the access_token cookie)." },
            };
            document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
            document.Components.Schemas[ProblemName] = ProblemSchema;
            document.Paths.Add("/api/live", Live(document));
            return Task.CompletedTask;
        });
        options.AddSchemaTransformer((schema, context, _) =>
        {
            // The framework's problem schema forbids the members every problem here carries (message, request_id).
            if (context.JsonTypeInfo.Type == typeof(Microsoft.AspNetCore.Mvc.ProblemDetails))
            {
                schema.AdditionalPropertiesAllowed = true;
                schema.AdditionalProperties = null;
            }
            if (context.JsonPropertyInfo is { } property)
            {
                // Fields that may be left out but not null have their own converter, which hides their type.
                schema.Type = property.CustomConverter switch
                {
                    NotNull<int> => JsonSchemaType.Integer,
                    NotNull<bool> => JsonSchemaType.Boolean,
                    NotNullString => JsonSchemaType.String,
                    _ => schema.Type,
                };
                var (minimum, maximum, maxLength) = ApiLimits.Of(property.DeclaringType, Member(property));
                schema.Minimum = minimum?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? schema.Minimum;
                schema.Maximum = maximum?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? schema.Maximum;
                schema.MaxLength = maxLength ?? schema.MaxLength;
            }
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            string method = context.Description.HttpMethod ?? "GET";
            operation.Responses ??= new OpenApiResponses();
            var document = context.Document!;
            BeforeHandler(operation, document);
            if (HttpMethods.IsPost(method))
            {
                Problem(operation, document, StatusCodes.Status400BadRequest, "The request is not valid: the detail says why");
                Problem(operation, document, StatusCodes.Status413PayloadTooLarge, "The body is larger than the route takes");
                Problem(operation, document, StatusCodes.Status415UnsupportedMediaType, "A cookie-authenticated POST without its route's content type (CSRF)");
            }
            operation.Security = [
                new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("basic", document)] = [] },
                new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("session", document)] = [] },
            ];
            if (context.Description.RelativePath == "api/firmware/upload")
                DescribeUpload(operation, document);
            return Task.CompletedTask;
        });
    });

    public static void Map(WebApplication app) => app.MapOpenApi("/openapi/{documentName}.json");

    /// <summary>The generator's services and route, for <see cref="DashboardServer.StartAsync"/>.</summary>
    public static DashboardExtension Extension { get; } = new(builder => AddServices(builder.Services), Map);

    /// <summary>The record member behind a JSON property (its wire name is snake_case).</summary>
    static string Member(System.Text.Json.Serialization.Metadata.JsonPropertyInfo property) =>
        (property.AttributeProvider as System.Reflection.MemberInfo)?.Name ?? property.Name;

    /// <summary>The live stream: a plain request delegate, which the route description cannot see.</summary>
    static OpenApiPathItem Live(OpenApiDocument document)
    {
        var operation = new OpenApiOperation
        {
            Summary = "Server-Sent Events: a stats event every second and each new log event; ends at logout or a password change",
            Responses = new OpenApiResponses
            {
                ["200"] = new OpenApiResponse
                {
                    Description = "The stream",
                    Content = new Dictionary<string, OpenApiMediaType> { ["text/event-stream"] = new OpenApiMediaType() },
                },
            },
        };
        BeforeHandler(operation, document);
        return new OpenApiPathItem { Operations = new Dictionary<HttpMethod, OpenApiOperation> { [HttpMethod.Get] = operation } };
    }

    /// <summary>What the login middleware answers before any route's handler runs.</summary>
    static void BeforeHandler(OpenApiOperation operation, OpenApiDocument document)
    {
        Problem(operation, document, StatusCodes.Status403Forbidden, "No user, or the wrong password");
        Problem(operation, document, StatusCodes.Status421MisdirectedRequest, "The Host header names something other than the device");
        Problem(operation, document, StatusCodes.Status429TooManyRequests, "Too many failed logins from this source (Retry-After)");
        Problem(operation, document, StatusCodes.Status503ServiceUnavailable, "Busy checking other logins (Retry-After)");
    }

    const string ProblemName = "Problem";

    static void Problem(OpenApiOperation operation, OpenApiDocument document, int status, string description)
    {
        string key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (operation.Responses!.ContainsKey(key))
            return;
        operation.Responses[key] = new OpenApiResponse
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType> { ["application/problem+json"] = new OpenApiMediaType { Schema = new OpenApiSchemaReference(ProblemName, document) } },
        };
    }

    static readonly OpenApiSchema ProblemSchema = new()
    {
        Type = JsonSchemaType.Object,
        Required = new HashSet<string> { "status", "detail" },
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["type"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["title"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer },
            ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "What to change" },
            ["message"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The detail again, where the seed's clients look" },
            ["request_id"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The id the device's log gives this request" },
        },
    };

    static void DescribeUpload(OpenApiOperation operation, OpenApiDocument document)
    {
        OpenApiParameter Query(string name, JsonSchemaType type, bool required, string description, string? pattern = null, decimal? minimum = null) => new()
        {
            Name = name,
            In = ParameterLocation.Query,
            Required = required,
            Description = description,
            Schema = new OpenApiSchema { Type = type, Pattern = pattern, Minimum = minimum?.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        };
        operation.Parameters = [
            Query("name", JsonSchemaType.String, true, "The image's name", "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$"),
            Query("offset", JsonSchemaType.Integer, true, "Where this chunk goes; the total with an empty body finishes the upload", minimum: 0),
            Query("total", JsonSchemaType.Integer, true, "The image's size in bytes, at most 64 MiB", minimum: 1),
            Query("id", JsonSchemaType.String, false, "The Upload-Id the first chunk's answer carried; every later chunk gives it", "^[0-9a-f]{32}$"),
        ];
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = false,
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["application/octet-stream"] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } },
            },
        };
        if (operation.Responses!["200"] is OpenApiResponse done)
        {
            done.Headers = new Dictionary<string, IOpenApiHeader>
            {
                ["Upload-Id"] = new OpenApiHeader { Description = "The upload session's id, to give as id= with every later chunk", Schema = new OpenApiSchema { Type = JsonSchemaType.String } },
            };
        }
        Problem(operation, document, StatusCodes.Status409Conflict, "An upload of this name is open, or another chunk of this upload is arriving");
    }
}
