using System.CommandLine;
using System.Text.Json;
using Coordination.Cli.Formatting;
using Coordination.Client;
using Coordination.Client.Transactions;

namespace Coordination.Cli.Commands;

/// <summary><c>coord dtx</c>: distributed (two-phase-commit) transactions over external participants.</summary>
internal static class DistributedTransactionCommands
{
    public static Command Build(CliRuntime cli) => new("dtx", "Distributed two-phase-commit transactions over external participants")
    {
        Begin(cli), Show(cli), Outcome(cli), List(cli), Abort(cli),
    };

    private static readonly JsonElement NullWork = JsonDocument.Parse("null").RootElement.Clone();

    private static Argument<string> Id() => new("id") { Description = "The transaction's id" };

    private static Command Begin(CliRuntime cli)
    {
        var participants = new Option<string[]>("--participant")
        {
            Description = "NAME=URL: a participant and the endpoint it serves the protocol under (repeatable, at least one)",
            DefaultValueFactory = _ => [],
            AllowMultipleArgumentsPerToken = false,
        };
        var works = new Option<string[]>("--work")
        {
            Description = "NAME=JSON: the work a participant is asked to prepare (repeatable; default null)",
            DefaultValueFactory = _ => [],
            AllowMultipleArgumentsPerToken = false,
        };
        var id = new Option<string?>("--id") { Description = "The transaction id (default: the coordinator generates one); repeating a begin with the same id is harmless" };
        var prepareTimeout = Shared.Duration("--prepare-timeout", "How long the coordinator collects votes before it aborts");
        var wait = new Option<string?>("--wait") { Description = "Wait until the transaction is 'decided' or 'finished' (every participant acknowledged)" };
        var command = new Command("begin", "Begin a distributed transaction and print it") { participants, works, id, prepareTimeout, wait };
        command.SetAction(cli.Run(async run =>
        {
            var work = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var item in run.Get(works))
            {
                var (name, json) = Pair(item, "--work");
                using var parsed = JsonDocument.Parse(json);
                work[name] = parsed.RootElement.Clone();
            }

            var list = new List<DistributedTransactionParticipant>();
            foreach (var item in run.Get(participants))
            {
                var (name, url) = Pair(item, "--participant");
                if (!Uri.TryCreate(url, UriKind.Absolute, out var endpoint) || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
                {
                    throw new FormatException($"--participant: '{url}' is not an absolute http(s) URL.");
                }

                list.Add(new DistributedTransactionParticipant(name, endpoint, work.Remove(name, out var w) ? w : NullWork));
            }

            if (list.Count == 0)
            {
                throw new FormatException("--participant: at least one participant is required.");
            }

            if (work.Count > 0)
            {
                throw new FormatException($"--work: no participant named '{work.Keys.First()}'.");
            }

            var milestone = run.Get(wait) switch
            {
                null => (DistributedTransactionMilestone?)null,
                "decided" => DistributedTransactionMilestone.Decided,
                "finished" => DistributedTransactionMilestone.Finished,
                var other => throw new FormatException($"--wait: '{other}' is neither 'decided' nor 'finished'."),
            };
            var view = await run.Client.BeginDistributedTransactionAsync(new DistributedTransactionRequest(list, run.Get(id), run.Get(prepareTimeout)), run.CancellationToken);
            if (milestone is { } until)
            {
                view = await run.Client.WaitForDistributedTransactionAsync(view.Id, until, cancellationToken: run.CancellationToken);
            }

            WriteView(run, view);
        }));
        return command;
    }

    private static Command Show(CliRuntime cli)
    {
        var id = Id();
        var wait = Shared.Duration("--wait", "Hold the request until the transaction is decided (or with --finished, acknowledged by all), at most this long (60s at most)");
        var finished = new Option<bool>("--finished") { Description = "With --wait: wait until every participant acknowledged, not only until decided" };
        var command = new Command("show", "Print a distributed transaction and its participants") { id, wait, finished };
        command.SetAction(cli.Run(async run =>
        {
            var until = run.Get(finished) ? DistributedTransactionMilestone.Finished : DistributedTransactionMilestone.Decided;
            var view = await run.Client.GetDistributedTransactionAsync(run.Get(id), run.Get(wait), until, run.CancellationToken)
                ?? throw new CoordinationException("not-found", 404, $"Distributed transaction '{run.Get(id)}' does not exist.");
            WriteView(run, view);
        }));
        return command;
    }

    private static Command Outcome(CliRuntime cli)
    {
        var id = Id();
        var command = new Command("outcome", "Print commit, abort or pending (an unknown id is abort: presumed abort)") { id };
        command.SetAction(cli.Run(async run =>
        {
            var outcome = await run.Client.GetDistributedTransactionOutcomeAsync(run.Get(id), run.CancellationToken);
            var answer = new DistributedTransactionOutcome { Id = run.Get(id), Outcome = outcome };
            run.Write(answer, CliJsonContext.Default.DistributedTransactionOutcome, output => output.WriteLine(OutcomeName(outcome)));
        }));
        return command;
    }

    private static Command List(CliRuntime cli)
    {
        var state = new Option<string?>("--state") { Description = "Only transactions in this state: preparing, committing, aborting, committed or aborted" };
        var limit = new Option<int?>("--limit") { Description = "List at most this many (default 100, at most 1000)" };
        var after = new Option<string?>("--after") { Description = "Only ids after this one (the next page)" };
        var command = new Command("list", "List distributed transactions in id order") { state, limit, after };
        command.SetAction(cli.Run(async run =>
        {
            DistributedTransactionState? filter = run.Get(state) is { } text ? ParseState(text) : null;
            var views = await run.Client.ListDistributedTransactionsAsync(filter, run.Get(limit), run.Get(after), run.CancellationToken);
            run.Write(views, CliJsonContext.Default.IReadOnlyListDistributedTransactionView, _ => run.Table(
                ["ID", "STATE", "PARTICIPANTS", "CREATED", "DECIDED", "REASON"],
                views.Select(v => (IReadOnlyList<string>)[
                    v.Id, CoordinationClient.StateName(v.State), v.Participants.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Format.Time(v.CreatedMs), Format.Time(v.DecidedMs), v.Reason ?? "-"])));
        }));
        return command;
    }

    private static Command Abort(CliRuntime cli)
    {
        var id = Id();
        var reason = new Option<string?>("--reason") { Description = "Why (shown in the transaction's reason)" };
        var command = new Command("abort", "Decide abort for a transaction that is still preparing (refused with already-decided after commit)") { id, reason };
        command.SetAction(cli.Run(async run => WriteView(run, await run.Client.AbortDistributedTransactionAsync(run.Get(id), run.Get(reason), run.CancellationToken))));
        return command;
    }

    private static void WriteView(Invocation run, DistributedTransactionView view) =>
        run.Write(view, CliJsonContext.Default.DistributedTransactionView, output =>
        {
            output.WriteLine($"{view.Id}  {CoordinationClient.StateName(view.State)}  created {Format.Time(view.CreatedMs)}  deadline {Format.Time(view.DeadlineMs)}  decided {Format.Time(view.DecidedMs)}{(view.Reason is null ? "" : $"  reason: {view.Reason}")}");
            run.Table(
                ["PARTICIPANT", "ENDPOINT", "VOTE", "ACKNOWLEDGED"],
                view.Participants.Select(p => (IReadOnlyList<string>)[p.Name, p.Endpoint, VoteName(p.Vote), p.Acknowledged ? "yes" : "no"]));
        });

    private static DistributedTransactionState ParseState(string text)
    {
        foreach (var state in Enum.GetValues<DistributedTransactionState>())
        {
            if (CoordinationClient.StateName(state) == text)
            {
                return state;
            }
        }

        throw new FormatException($"--state: '{text}' is not one of preparing, committing, aborting, committed, aborted.");
    }

    private static string VoteName(ParticipantVoteState vote) => vote switch
    {
        ParticipantVoteState.Commit => "commit",
        ParticipantVoteState.Abort => "abort",
        _ => "none",
    };

    private static string OutcomeName(TransactionOutcome outcome) => outcome switch
    {
        TransactionOutcome.Commit => "commit",
        TransactionOutcome.Abort => "abort",
        _ => "pending",
    };

    private static (string Name, string Value) Pair(string text, string option)
    {
        var at = text.IndexOf('=', StringComparison.Ordinal);
        return at > 0 ? (text[..at], text[(at + 1)..]) : throw new FormatException($"{option}: '{text}' is not NAME=VALUE.");
    }
}
