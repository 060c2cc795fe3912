using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Coordination.Cli.Formatting;
using Coordination.Client;

namespace Coordination.Cli;

/// <summary>Exit codes of <c>coord</c>.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The cluster refused the request or could not be reached; stderr names the error code.</summary>
    public const int Refused = 1;

    /// <summary>Bad arguments (a malformed endpoint, duration or JSON value).</summary>
    public const int Usage = 2;
}

/// <summary>What every command shares: the global options and the way a command runs (client, output, errors).</summary>
internal sealed class CliRuntime(Option<string> endpoints, Option<bool> json, Func<IList<Uri>, CoordinationClient> clientFactory)
{
    /// <summary>Wraps a command body: builds the client, maps refusals to exit codes and stderr, ends quietly on Ctrl+C.</summary>
    public Func<ParseResult, CancellationToken, Task<int>> Run(Func<Invocation, Task> body) => async (parse, cancellationToken) =>
    {
        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        IList<Uri> urls;
        try
        {
            urls = CoordinationClientOptions.ParseEndpoints(parse.GetValue(endpoints)!);
        }
        catch (FormatException e)
        {
            await error.WriteLineAsync($"coord: --endpoints: {e.Message}");
            return ExitCodes.Usage;
        }

        using var client = clientFactory(urls);
        try
        {
            await body(new Invocation(parse, client, parse.GetValue(json), output, cancellationToken));
            return ExitCodes.Ok;
        }
        catch (CoordinationException e)
        {
            await error.WriteLineAsync($"coord: {e.Code}: {e.Message}");
            return ExitCodes.Refused;
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            await error.WriteLineAsync($"coord: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ExitCodes.Ok;
        }
    };
}

/// <summary>One run of one command: its parse result, client, and output in the chosen format.</summary>
internal sealed class Invocation(ParseResult parse, CoordinationClient client, bool json, TextWriter output, CancellationToken cancellationToken)
{
    public ParseResult Parse { get; } = parse;

    public CoordinationClient Client { get; } = client;

    public bool Json { get; } = json;

    public TextWriter Output { get; } = output;

    public CancellationToken CancellationToken { get; } = cancellationToken;

    public T Get<T>(Argument<T> argument) => Parse.GetValue(argument)!;

    public T Get<T>(Option<T> option) => Parse.GetValue(option)!;

    /// <summary>Writes <paramref name="value"/> as one line of JSON with <c>--json</c>, else runs <paramref name="human"/>.</summary>
    public void Write<T>(T value, JsonTypeInfo<T> type, Action<TextWriter> human)
    {
        if (Json)
        {
            Output.WriteLine(JsonSerializer.Serialize(value, type));
        }
        else
        {
            human(Output);
        }
    }

    public void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows) => Formatting.Table.Write(Output, headers, rows);
}
