using System.Globalization;
using System.Text.Json;
using Coordination.Client;
using Coordination.Client.Participants;
using Coordination.Client.Transactions;

namespace Coordination.Samples.Bank;

/// <summary>The bank's command line: <c>--urls</c> (ASP.NET Core's), <c>--data-dir</c>, <c>--coordinator</c>, <c>--accounts</c>, <c>--enable-fault-hooks</c>.</summary>
public sealed record BankSettings(string DataDirectory, IList<Uri> Coordinator, IReadOnlyDictionary<string, long> InitialAccounts, bool FaultHooks, IReadOnlyList<string> HostArguments)
{
    /// <summary>Parses the bank's own options and passes the rest (e.g. <c>--urls</c>) on to the web host.</summary>
    /// <exception cref="FormatException">A malformed option.</exception>
    public static BankSettings Parse(string[] args)
    {
        var dataDirectory = "bank-data";
        IList<Uri> coordinator = [CoordinationClientOptions.DefaultEndpoint];
        var accounts = new Dictionary<string, long>(StringComparer.Ordinal);
        var faultHooks = false;
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--data-dir":
                    dataDirectory = Value(args, ref i);
                    break;
                case "--coordinator":
                    coordinator = CoordinationClientOptions.ParseEndpoints(Value(args, ref i));
                    break;
                case "--accounts":
                    foreach (var pair in Value(args, ref i).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        var at = pair.IndexOf('=', StringComparison.Ordinal);
                        if (at <= 0 || !long.TryParse(pair[(at + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var balance))
                        {
                            throw new FormatException($"--accounts: '{pair}' is not NAME=BALANCE.");
                        }

                        accounts[pair[..at]] = balance;
                    }

                    break;
                case "--enable-fault-hooks":
                    faultHooks = true;
                    break;
                default:
                    rest.Add(args[i]);
                    break;
            }
        }

        return new BankSettings(dataDirectory, coordinator, accounts, faultHooks, rest);
    }

    private static string Value(string[] args, ref int i) =>
        ++i < args.Length ? args[i] : throw new FormatException($"{args[i - 1]} needs a value.");
}

/// <summary>A transfer between two accounts, each at a bank named by its base URL.</summary>
public sealed record AccountRef(string Bank, string Account);

/// <summary><c>POST /transfers</c>: moves <see cref="Amount"/> from one account to another in one distributed transaction.</summary>
public sealed record TransferRequest(AccountRef? From, AccountRef? To, long Amount, string? Id);

/// <summary>The decision of a transfer.</summary>
public sealed record TransferResult(string Id, string State, bool Committed, string? Reason);

internal sealed record FaultsRequest(string? Prepare, string? Commit);

/// <summary>Builds the bank's web application.</summary>
public static class BankApp
{
    /// <summary>How long <c>POST /transfers</c> waits for the decision before answering with the state it has.</summary>
    public static readonly TimeSpan TransferDecisionWaitMax = TimeSpan.FromSeconds(30);

    /// <summary>Builds the bank; <paramref name="services"/> may replace registrations (tests reach an in-process silo this way).</summary>
    public static WebApplication Build(BankSettings settings, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateSlimBuilder([.. settings.HostArguments]);
        var ledger = BankLedger.Open(settings.DataDirectory, settings.InitialAccounts);
        builder.Services.AddSingleton(ledger);
        builder.Services.AddSingleton(new CoordinationClient(new CoordinationClientOptions { Endpoints = settings.Coordinator }));
        builder.Services.AddTransactionParticipant<BankLedger>(o =>
        {
            o.JournalPath = Path.Combine(settings.DataDirectory, "participant-journal.log");
            o.CoordinatorEndpoints = settings.Coordinator;
            o.AfterPrepareRecorded = (_, _) =>
            {
                if (ledger.Faults.Prepare == "exit-after-vote")
                {
                    BankFaults.Crash();
                }

                return Task.CompletedTask;
            };
            o.AfterDecisionRecorded = (_, committed) =>
            {
                if (committed && ledger.Faults.Commit == "exit-before-ack")
                {
                    BankFaults.Crash();
                }

                return Task.CompletedTask;
            };
        });

        services?.Invoke(builder.Services);
        var app = builder.Build();
        app.MapTransactionParticipant("/tx");
        app.MapGet("/accounts", () => TypedResults.Json(ledger.Snapshot(), BankJsonContext.Default.LedgerState));
        app.MapPost("/transfers", TransferAsync);
        if (settings.FaultHooks)
        {
            app.MapPost("/faults", async (HttpContext http) =>
            {
                var faults = await JsonSerializer.DeserializeAsync(http.Request.Body, BankJsonContext.Default.FaultsRequest, http.RequestAborted);
                if (faults is null
                    || faults.Prepare is not (null or "hang" or "fail" or "exit-before-vote" or "exit-after-vote")
                    || faults.Commit is not (null or "fail" or "exit-before-ack"))
                {
                    return Results.Problem("prepare: hang|fail|exit-before-vote|exit-after-vote|null; commit: fail|exit-before-ack|null", statusCode: 400);
                }

                ledger.Faults.Prepare = faults.Prepare;
                ledger.Faults.Commit = faults.Commit;
                return Results.Ok(faults);
            });
        }

        return app;
    }

    private static async Task<IResult> TransferAsync(HttpContext http, CoordinationClient coordinator)
    {
        TransferRequest? transfer;
        try
        {
            transfer = await JsonSerializer.DeserializeAsync(http.Request.Body, BankJsonContext.Default.TransferRequest, http.RequestAborted);
        }
        catch (JsonException e)
        {
            return Results.Problem(e.Message, statusCode: 400);
        }

        if (transfer is not { From: { } from, To: { } to, Amount: > 0 }
            || !Uri.TryCreate(from.Bank, UriKind.Absolute, out var fromBank) || !Uri.TryCreate(to.Bank, UriKind.Absolute, out var toBank))
        {
            return Results.Problem("A transfer is {from: {bank, account}, to: {bank, account}, amount > 0}; bank is the bank's base URL.", statusCode: 400);
        }

        var request = new DistributedTransactionRequest(Participants(fromBank, from.Account, toBank, to.Account, transfer.Amount), transfer.Id);
        try
        {
            var begun = await coordinator.BeginDistributedTransactionAsync(request, http.RequestAborted);
            var view = await coordinator.WaitForDistributedTransactionAsync(begun.Id, DistributedTransactionMilestone.Decided, TransferDecisionWaitMax, http.RequestAborted);
            return TypedResults.Json(
                new TransferResult(view.Id, CoordinationClient.StateName(view.State), view.IsCommitDecided, view.Reason),
                BankJsonContext.Default.TransferResult);
        }
        catch (CoordinationException e)
        {
            return Results.Problem(e.Message, statusCode: StatusCodes.Status502BadGateway, title: e.Code);
        }
    }

    /// <summary>One participant per bank: two legs at one bank become one participant with both moves.</summary>
    internal static List<DistributedTransactionParticipant> Participants(Uri fromBank, string fromAccount, Uri toBank, string toAccount, long amount)
    {
        static Uri Endpoint(Uri bank) => new(bank.AbsoluteUri.TrimEnd('/') + "/tx");
        static JsonElement Leg(string account, long delta) => JsonSerializer.SerializeToElement(new Move(account, delta), BankJsonContext.Default.Move);

        if (Endpoint(fromBank) == Endpoint(toBank))
        {
            var moves = JsonSerializer.SerializeToElement(new Work(null, null, [new Move(fromAccount, -amount), new Move(toAccount, amount)]), BankJsonContext.Default.Work);
            return [new DistributedTransactionParticipant("bank", Endpoint(fromBank), moves)];
        }

        return
        [
            new DistributedTransactionParticipant("from", Endpoint(fromBank), Leg(fromAccount, -amount)),
            new DistributedTransactionParticipant("to", Endpoint(toBank), Leg(toAccount, amount)),
        ];
    }
}
