using System.Globalization;
using System.Text.Json;

namespace Coordination.Cli.Formatting;

/// <summary>How the CLI writes times, durations and JSON values in tables.</summary>
internal static class Format
{
    /// <summary>A leader timestamp (Unix milliseconds) as UTC; "-" for none.</summary>
    public static string Time(long? unixMs) => unixMs is > 0 and { } ms
        ? DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)
        : "-";

    /// <summary>Milliseconds as the shortest exact unit: 1500 → "1500ms", 10000 → "10s", 120000 → "2m".</summary>
    public static string Duration(long ms) => ms switch
    {
        0 => "0",
        _ when ms % 60_000 == 0 => $"{ms / 60_000}m",
        _ when ms % 1_000 == 0 => $"{ms / 1_000}s",
        _ => $"{ms}ms",
    };

    /// <summary>A JSON value on one line; "-" when absent.</summary>
    public static string Json(JsonElement? value) =>
        value is { ValueKind: not JsonValueKind.Undefined } v ? JsonSerializer.Serialize(v, CliJsonContext.Default.JsonElement) : "-";

    public static string Number(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "-";

    /// <summary>Parses "500ms", "5s", "2m", "1h" or a plain number of seconds.</summary>
    public static TimeSpan ParseDuration(string text)
    {
        var units = new (string Suffix, Func<double, TimeSpan> Make)[] { ("ms", TimeSpan.FromMilliseconds), ("s", TimeSpan.FromSeconds), ("m", TimeSpan.FromMinutes), ("h", TimeSpan.FromHours) };
        foreach (var (suffix, make) in units)
        {
            if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(text.AsSpan(0, text.Length - suffix.Length), NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) && amount >= 0)
            {
                return make(amount);
            }
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0
            ? TimeSpan.FromSeconds(seconds)
            : throw new FormatException($"'{text}' is not a duration (e.g. 500ms, 5s, 2m).");
    }
}
