using System.Text.Json;

namespace Coordination.Grains;

/// <summary>Checks that bytes are exactly one well-formed UTF-8 JSON value, without building a DOM.</summary>
internal static class JsonValue
{
    /// <summary>Why <paramref name="value"/> is not an acceptable JSON value of at most <paramref name="bytesMax"/> bytes (named <paramref name="limitName"/>), or null.</summary>
    public static Rejected? Check(byte[] value, int bytesMax, string limitName, string what, bool allowEmpty)
    {
        if (value.Length > bytesMax)
        {
            return new Rejected(ErrorCode.LimitExceeded, $"{what} is at most {bytesMax} bytes ({limitName}).");
        }

        return (allowEmpty && value.Length == 0) || IsValid(value)
            ? null
            : new Rejected(ErrorCode.InvalidArgument, $"{what} must be one JSON value.");
    }

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
