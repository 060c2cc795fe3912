using System.CommandLine;
using System.Text.Json;
using Coordination.Cli.Formatting;
using Coordination.Client;

namespace Coordination.Cli.Commands;

internal static class ConfigCommands
{
    public static Command Build(CliRuntime cli) => new("config", "Versioned config documents") { Get(cli), Put(cli), History(cli), Rollback(cli), Watch(cli) };

    private static Option<long?> ExpectedVersion() => new("--expected-version") { Description = "Only if the current version is this (0: only if it does not exist)" };

    private static Command Get(CliRuntime cli)
    {
        var name = Shared.Name("document");
        var stale = new Option<bool>("--stale") { Description = "Answer from the silo's own state (may be stale)" };
        var command = new Command("get", "Print a config document") { name, stale };
        command.SetAction(cli.Run(async run =>
        {
            var document = await run.Client.GetConfigAsync(run.Get(name), run.Get(stale) ? ReadConsistency.Stale : ReadConsistency.Linearizable, cancellationToken: run.CancellationToken)
                ?? throw new CoordinationException("not-found", 404, $"Config document '{run.Get(name)}' does not exist.");
            run.Write(document, CliJsonContext.Default.ConfigDocument, output =>
            {
                var staleness = document.Read is { Stale: true } read ? $"  (stale read: applied {Format.Number(read.AppliedIndex)}, leader contact {Format.Number(read.LeaderContactMs)}ms ago)" : "";
                output.WriteLine($"{document.Name}  version {document.Version}  revision {document.Revision}  written {Format.Time(document.WrittenMs)}{staleness}");
                output.WriteLine(JsonSerializer.Serialize(document.Value, CliJsonContext.Default.JsonElement));
            });
        }));
        return command;
    }

    private static Command Put(CliRuntime cli)
    {
        var name = Shared.Name("document");
        var value = new Argument<string>("value") { Description = "The new value as JSON (e.g. '{\"replicas\": 3}' or '\"text\"')" };
        var expected = ExpectedVersion();
        var command = new Command("put", "Write a config document (compare-and-set with --expected-version)") { name, value, expected };
        command.SetAction(cli.Run(async run =>
        {
            using var parsed = JsonDocument.Parse(run.Get(value));
            var written = await run.Client.PutConfigAsync(run.Get(name), parsed.RootElement.Clone(), run.Get(expected), run.CancellationToken);
            WriteResult(run, "wrote", written);
        }));
        return command;
    }

    private static Command History(CliRuntime cli)
    {
        var name = Shared.Name("document");
        var command = new Command("history", "The last stored versions of a config document") { name };
        command.SetAction(cli.Run(async run =>
        {
            var history = await run.Client.GetConfigHistoryAsync(run.Get(name), run.CancellationToken);
            run.Write(history, CliJsonContext.Default.ConfigHistory, _ => run.Table(
                ["VERSION", "REVISION", "WRITTEN", "VALUE"],
                history.Versions.Select(v => (IReadOnlyList<string>)[Format.Number(v.Version), Format.Number(v.Revision), Format.Time(v.WrittenMs), Format.Json(v.Value)])));
        }));
        return command;
    }

    private static Command Rollback(CliRuntime cli)
    {
        var name = Shared.Name("document");
        var to = new Argument<long>("to-version") { Description = "The version whose value becomes current again" };
        var expected = ExpectedVersion();
        var command = new Command("rollback", "Write an earlier version's value as a new version") { name, to, expected };
        command.SetAction(cli.Run(async run =>
        {
            var written = await run.Client.RollbackConfigAsync(run.Get(name), run.Get(to), run.Get(expected), run.CancellationToken);
            WriteResult(run, $"rolled back to version {run.Get(to)} as", written);
        }));
        return command;
    }

    private static Command Watch(CliRuntime cli) => Shared.Watch(
        cli, "watch", "Print a config document's changes until Ctrl+C, resuming without gaps after reconnects", "document", resumable: true,
        (run, name, after) => run.Client.WatchConfigAsync(name, after, run.CancellationToken),
        CliJsonContext.Default.ConfigChange,
        change => change.IsResync
            ? $"revision {change.Revision}  current  version {Format.Number(change.Version)}  value {Format.Json(change.Document?.Value)}"
            : $"revision {change.Revision}  {change.Type}  version {Format.Number(change.Version)}");

    private static void WriteResult(Invocation run, string verb, ConfigWriteResult written) =>
        run.Write(written, CliJsonContext.Default.ConfigWriteResult, output => output.WriteLine($"{verb} {written.Name}  version {written.Version}  revision {written.Revision}"));
}
