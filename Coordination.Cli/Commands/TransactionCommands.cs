using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Coordination.Cli.Formatting;
using Coordination.Client.Transactions;

namespace Coordination.Cli.Commands;

/// <summary><c>coord txn</c>: one internal transaction (conditions, then operations) applied all or nothing.</summary>
internal static class TransactionCommands
{
    public static Command Build(CliRuntime cli)
    {
        var ifVersion = Many("--if-version", "NAME=VERSION: only if config NAME is at VERSION (0: absent)");
        var ifAbsent = Many("--if-absent", "NAME: only if config NAME does not exist");
        var ifToken = Many("--if-token", "LOCK=TOKEN: only if TOKEN is lock LOCK's current exclusive hold");
        var put = Many("--put", "NAME=JSON: write config NAME");
        var delete = Many("--delete", "NAME: delete config NAME");
        var next = Many("--next", "NAME or NAME=COUNT: take COUNT (default 1) values of sequence NAME");
        var release = Many("--release", "LOCK=SESSION:TOKEN: release that hold of lock LOCK in the same step (refused unless it is current)");
        var command = new Command("txn", "Apply puts, deletes, sequence takes and lock releases all or nothing, under conditions (operations run as puts, deletes, nexts, releases)")
        {
            ifVersion, ifAbsent, ifToken, put, delete, next, release,
        };
        command.SetAction(cli.Run(async run =>
        {
            var builder = new TransactionBuilder();
            foreach (var (name, value) in run.Get(ifVersion).Select(v => Pair(v, "--if-version")))
            {
                builder.ConfigVersionIs(name, Number(value, "--if-version"));
            }

            foreach (var name in run.Get(ifAbsent))
            {
                builder.ConfigAbsent(name);
            }

            foreach (var (name, value) in run.Get(ifToken).Select(v => Pair(v, "--if-token")))
            {
                builder.LockTokenIs(name, Number(value, "--if-token"));
            }

            foreach (var (name, value) in run.Get(put).Select(v => Pair(v, "--put")))
            {
                using var parsed = JsonDocument.Parse(value);
                builder.Put(name, parsed.RootElement);
            }

            foreach (var name in run.Get(delete))
            {
                builder.Delete(name);
            }

            foreach (var item in run.Get(next))
            {
                var (name, count) = item.Contains('=', StringComparison.Ordinal) ? Pair(item, "--next") : (item, "1");
                builder.Next(name, checked((int)Number(count, "--next")));
            }

            foreach (var (name, hold) in run.Get(release).Select(v => Pair(v, "--release")))
            {
                var colon = hold.IndexOf(':', StringComparison.Ordinal);
                if (colon < 0)
                {
                    throw new FormatException($"--release takes LOCK=SESSION:TOKEN, not '{name}={hold}'.");
                }

                builder.ReleaseLock(name, Number(hold[..colon], "--release"), Number(hold[(colon + 1)..], "--release"));
            }

            Transaction transaction;
            try
            {
                transaction = builder.Build();
            }
            catch (InvalidOperationException e)
            {
                throw new FormatException(e.Message, e);
            }

            var result = await run.Client.CommitTransactionAsync(transaction, run.CancellationToken);
            run.Write(result, CliJsonContext.Default.TransactionResult, output =>
            {
                output.WriteLine($"committed  revision {result.Revision}");
                run.Table(
                    ["TYPE", "NAME", "VERSION", "FIRST", "COUNT"],
                    result.Results.Select(r => (IReadOnlyList<string>)[r.Type, r.Name, Format.Number(r.Version), Format.Number(r.First), Format.Number(r.Count)]));
            });
        }));
        return command;
    }

    private static Option<string[]> Many(string name, string description) => new(name)
    {
        Description = description + " (repeatable)",
        DefaultValueFactory = _ => [],
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>Splits NAME=VALUE at the first '=' (a JSON value may hold more).</summary>
    private static (string Name, string Value) Pair(string text, string option)
    {
        var at = text.IndexOf('=', StringComparison.Ordinal);
        return at > 0 ? (text[..at], text[(at + 1)..]) : throw new FormatException($"{option}: '{text}' is not NAME=VALUE.");
    }

    private static long Number(string text, string option) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? number
            : throw new FormatException($"{option}: '{text}' is not a non-negative integer.");
}
