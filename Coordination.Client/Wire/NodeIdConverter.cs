using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coordination.Client.Wire;

/// <summary>
/// Reads a node id written as a JSON number or string into its text, so that <c>leader</c> and
/// <c>members[].id</c> of <c>GET /v1/cluster</c> compare equal whichever way a silo writes them.
/// Raft node ids start at 1: a silo that knows no leader writes <c>0</c> (or null), read here as null.
/// </summary>
public sealed class NodeIdConverter : JsonConverter<string?>
{
    public override bool HandleNull => true;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.Null => null,
        JsonTokenType.String => reader.GetString(),
        JsonTokenType.Number => reader.TryGetUInt64(out var id) && id == 0
            ? null
            : System.Text.Encoding.UTF8.GetString(reader.HasValueSequence ? System.Buffers.BuffersExtensions.ToArray(reader.ValueSequence) : reader.ValueSpan),
        _ => throw new JsonException($"A node id must be a number or a string, not {reader.TokenType}."),
    };

    public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }
}
