using System.CommandLine;
using System.Text.Json.Serialization.Metadata;
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

    /// <summary>
    /// A command that prints the items of a watch, one line each (or one JSON document each with
    /// <c>--json</c>), until Ctrl+C or <c>--count</c> items; with <paramref name="resumable"/> it takes <c>--after</c>.
    /// </summary>
    public static Command Watch<T>(
        CliRuntime cli, string command, string description, string what, bool resumable,
        Func<Invocation, string, long?, IAsyncEnumerable<T>> watch, JsonTypeInfo<T> type, Func<T, string> line)
    {
        var name = Name(what);
        var count = Count();
        var after = After();
        var built = new Command(command, description) { name, count };
        if (resumable)
        {
            built.Options.Add(after);
        }

        built.SetAction(cli.Run(async run =>
        {
            var written = 0;
            await foreach (var item in watch(run, run.Get(name), resumable ? run.Get(after) : null))
            {
                run.Write(item, type, output => output.WriteLine(line(item)));
                if (++written == run.Get(count))
                {
                    return;
                }
            }
        }));
        return built;
    }
}
