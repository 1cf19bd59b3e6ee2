using System.Text.Json.Serialization;

namespace LlavaModal.Server.OpenAi;

/// <summary><c>GET /health</c>: <c>ok</c>, <c>loading</c> or <c>failed</c> (with why).</summary>
sealed record HealthResponse(string Status, string Model, string? Error);

/// <summary>One entry of <c>GET /v1/models</c>, in OpenAI's shape.</summary>
sealed record ModelEntry(string Id, string Object, long Created, string OwnedBy);

/// <summary><c>GET /v1/models</c>.</summary>
sealed record ModelList(string Object, IReadOnlyList<ModelEntry> Data);

/// <summary>Source-generated JSON for the small fixed responses (snake_case, as the OpenAI API names fields).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ModelEntry))]
sealed partial class ServerJson : JsonSerializerContext;
