using System.CommandLine;
using Coordination.Cli.Formatting;

namespace Coordination.Cli.Commands;

/// <summary>Options that several commands share, built fresh for each command (an option belongs to one parent).</summary>
internal static class Shared
{
    public static Argument<string> Name(string what) => new("name") { Description = $"The {what}'s name" };

    /// <summary>A duration option that accepts 500ms, 5s, 2m, 1h.</summary>
    public static Option<TimeSpan?> Duration(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result => Format.ParseDuration(result.Tokens[0].Value),
    };

    /// <summary>Stops a watch after this many items (for scripts); unbounded when absent.</summary>
    public static Option<int?> Count() => new("--count") { Description = "Stop after this many items" };

    public static Option<long?> After() => new("--after") { Description = "Resume after this revision (default: start from the current state)" };

    /// <summary>Enumerates a watch until Ctrl+C or <paramref name="count"/> items.</summary>
    public static async Task ForEachAsync<T>(IAsyncEnumerable<T> items, int? count, Action<T> write)
    {
        var written = 0;
        await foreach (var item in items)
        {
            write(item);
            written++;
            if (written == count)
            {
                return;
            }
        }
    }
}
