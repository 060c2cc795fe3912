using System.Text.Json;

namespace Coordination.Grains;

/// <summary>Checks that bytes are exactly one well-formed UTF-8 JSON value, without building a DOM.</summary>
internal static class JsonValue
{
    public static bool IsValid(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty)
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = Limits.JsonDepthMax });
            while (reader.Read())
            {
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
