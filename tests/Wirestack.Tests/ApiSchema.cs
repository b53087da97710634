using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Wirestack.Tests;

/// <summary>
/// The part of JSON Schema (2020-12, as OpenAPI 3.1 uses it) the dashboard's document needs, both ways: whether an
/// answer conforms to a schema, and values made from a schema, valid or deliberately not. Schemathesis does this for
/// Python; it is not reachable from this machine's registries, so the schema-driven fuzzing is ours.
/// </summary>
internal sealed class ApiSchema(JsonElement document)
{
    public JsonElement Document { get; } = document;

    JsonElement Resolve(JsonElement schema)
    {
        while (schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty("$ref", out var reference))
        {
            string name = reference.GetString()!.Split('/')[^1];
            schema = Document.GetProperty("components").GetProperty("schemas").GetProperty(name);
        }
        return schema;
    }

    static IEnumerable<string> Types(JsonElement schema) =>
        !schema.TryGetProperty("type", out var type) ? []
        : type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!)
        : [type.GetString()!];

    /// <summary>Adds to <paramref name="errors"/> every way <paramref name="value"/> breaks <paramref name="schema"/>.</summary>
    public void Validate(JsonElement value, JsonElement schema, string path, List<string> errors)
    {
        schema = Resolve(schema);
        if (schema.TryGetProperty("oneOf", out var oneOf))
        {
            int passing = oneOf.EnumerateArray().Count(option =>
            {
                var optionErrors = new List<string>();
                Validate(value, option, path, optionErrors);
                return optionErrors.Count == 0;
            });
            if (passing != 1)
                errors.Add($"{path}: matches {passing} of oneOf's schemas");
            return;
        }
        var types = Types(schema).ToList();
        if (types.Count > 0 && !types.Any(t => IsType(value, t)))
        {
            errors.Add($"{path}: {value.ValueKind} where the schema says {string.Join(" or ", types)}");
            return;
        }
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                var properties = schema.TryGetProperty("properties", out var p) ? p : default;
                if (schema.TryGetProperty("required", out var required))
                {
                    foreach (var name in required.EnumerateArray().Select(r => r.GetString()!))
                    {
                        if (!value.TryGetProperty(name, out _))
                            errors.Add($"{path}: required '{name}' is missing");
                    }
                }
                foreach (var member in value.EnumerateObject())
                {
                    if (properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty(member.Name, out var memberSchema))
                        Validate(member.Value, memberSchema, $"{path}.{member.Name}", errors);
                    else if (schema.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind == JsonValueKind.False)
                        errors.Add($"{path}: '{member.Name}' is not in the schema");
                }
                break;
            case JsonValueKind.Array when schema.TryGetProperty("items", out var items):
                int index = 0;
                foreach (var item in value.EnumerateArray())
                    Validate(item, items, $"{path}[{index++}]", errors);
                break;
            case JsonValueKind.Number:
                double number = value.GetDouble();
                if (Bound(schema, "minimum") is { } minimum && number < minimum)
                    errors.Add($"{path}: {number} is below {minimum}");
                if (Bound(schema, "maximum") is { } maximum && number > maximum)
                    errors.Add($"{path}: {number} is above {maximum}");
                break;
            case JsonValueKind.String when Bound(schema, "maxLength") is { } maxLength && value.GetString()!.Length > maxLength:
                errors.Add($"{path}: longer than {maxLength}");
                break;
        }
    }

    static bool IsType(JsonElement value, string type) => type switch
    {
        "object" => value.ValueKind == JsonValueKind.Object,
        "array" => value.ValueKind == JsonValueKind.Array,
        "string" => value.ValueKind == JsonValueKind.String,
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "null" => value.ValueKind == JsonValueKind.Null,
        "number" => value.ValueKind == JsonValueKind.Number,
        "integer" => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out _),
        _ => true,
    };

    static double? Bound(JsonElement schema, string name) =>
        !schema.TryGetProperty(name, out var bound) ? null
        : bound.ValueKind == JsonValueKind.Number ? bound.GetDouble()
        : double.Parse(bound.GetString()!, CultureInfo.InvariantCulture);

    /// <summary>A JSON value <paramref name="schema"/> accepts.</summary>
    public string Valid(JsonElement schema, Random random, int depth = 0)
    {
        schema = Resolve(schema);
        if (schema.TryGetProperty("oneOf", out var oneOf))
        {
            var options = oneOf.EnumerateArray().ToList();
            return Valid(options[random.Next(options.Count)], random, depth + 1);
        }
        var types = Types(schema).ToList();
        string type = types.Count == 0 ? "object" : types[random.Next(types.Count)];
        switch (type)
        {
            case "null":
                return "null";
            case "boolean":
                return random.Next(2) == 0 ? "true" : "false";
            case "integer":
            case "number":
                long least = (long)(Bound(schema, "minimum") ?? -1000), most = (long)(Bound(schema, "maximum") ?? 1000);
                return (least + (long)(random.NextDouble() * (most - least + 1))).ToString(CultureInfo.InvariantCulture);
            case "string":
                int length = random.Next(0, (int)Math.Min(Bound(schema, "maxLength") ?? 24, 24) + 1);
                return JsonSerializer.Serialize(new string([.. Enumerable.Range(0, length).Select(_ => (char)random.Next('a', 'z' + 1))]));
            case "array":
                if (!schema.TryGetProperty("items", out var items) || depth > 4)
                    return "[]";
                return "[" + string.Join(",", Enumerable.Range(0, random.Next(3)).Select(_ => Valid(items, random, depth + 1))) + "]";
            default:
                var required = schema.TryGetProperty("required", out var r) ? r.EnumerateArray().Select(n => n.GetString()!).ToHashSet() : [];
                var members = new List<string>();
                if (schema.TryGetProperty("properties", out var properties) && depth < 5)
                {
                    foreach (var property in properties.EnumerateObject())
                    {
                        if (required.Contains(property.Name) || random.Next(2) == 0)
                            members.Add($"{JsonSerializer.Serialize(property.Name)}:{Valid(property.Value, random, depth + 1)}");
                    }
                }
                return "{" + string.Join(",", members) + "}";
        }
    }

    /// <summary>The property names an object schema declares.</summary>
    public IReadOnlyList<string> PropertyNames(JsonElement schema)
    {
        schema = Resolve(schema);
        if (schema.TryGetProperty("oneOf", out var oneOf))
            return oneOf.EnumerateArray().SelectMany(PropertyNames).ToList();
        return schema.TryGetProperty("properties", out var properties) ? properties.EnumerateObject().Select(p => p.Name).ToList() : [];
    }

    static readonly string[] WrongValues = ["\"x\"", "null", "true", "[]", "{}", "1.5", "1e309", "-99999999999", "\"50\"", "-1", "2147483648", "\"\\ud800\""];

    /// <summary>
    /// A body <paramref name="schema"/> should refuse, or one at its edges: wrong types and nulls in its fields,
    /// unknown and repeated fields, roots of the wrong kind, broken UTF-8 and JSON, deep nesting, oversize.
    /// </summary>
    public byte[] Mutated(JsonElement schema, Random random)
    {
        string valid = Valid(schema, random);
        var names = PropertyNames(schema);
        string name = names.Count > 0 ? names[random.Next(names.Count)] : "x";
        string wrong = WrongValues[random.Next(WrongValues.Length)];
        switch (random.Next(12))
        {
            case 0:
            case 1:
                return Encoding.UTF8.GetBytes($"{{{JsonSerializer.Serialize(name)}:{wrong}}}");
            case 2:
                return Encoding.UTF8.GetBytes(new[] { "1", "null", "[]", "\"s\"", "", "{", "}", "1e309", "{}x" }[random.Next(9)]);
            case 3:
                return Encoding.UTF8.GetBytes(valid.Length > 2 ? valid[..^1] + ",\"unknown_field\":1}" : "{\"unknown_field\":1}");
            case 4:
                return Encoding.UTF8.GetBytes($"{{{JsonSerializer.Serialize(name)}:1,{JsonSerializer.Serialize(name)}:2}}");
            case 5:
                return [.. Encoding.UTF8.GetBytes($"{{{JsonSerializer.Serialize(name)}:\"a"), .. new[] { new byte[] { 0xff }, [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe0, 0x80] }[random.Next(4)], .. "\"}"u8.ToArray()];
            case 6:
                int depth = random.Next(60, 3000);
                return Encoding.UTF8.GetBytes(new string('[', depth) + new string(']', depth));
            case 7:
                return Encoding.UTF8.GetBytes($"{{{JsonSerializer.Serialize(name)}:\"{new string('x', random.Next(100, 20000))}\"}}");
            case 8:
                var noise = new byte[random.Next(1, 200)];
                random.NextBytes(noise);
                return noise;
            case 9:
                return Encoding.UTF8.GetBytes(valid[..random.Next(valid.Length + 1)]);
            case 10:
                return Encoding.UTF8.GetBytes($"{{{JsonSerializer.Serialize(name + "\u202e")}:1}}");
            default:
                return Encoding.UTF8.GetBytes(valid);
        }
    }
}
