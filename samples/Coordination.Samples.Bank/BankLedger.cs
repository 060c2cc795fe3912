using System.Text.Json;
using System.Text.Json.Serialization;
using Coordination.Client.Participants;

namespace Coordination.Samples.Bank;

/// <summary>One change of one account inside a transaction: negative takes money out, positive puts it in.</summary>
public sealed record Move(string Account, long Delta);

/// <summary>What a transaction holds at this bank between prepare and the decision.</summary>
public sealed record Hold(string TransactionId, IReadOnlyList<Move> Moves);

/// <summary>The bank's durable state: balances and the holds of prepared transactions.</summary>
public sealed record LedgerState(IReadOnlyDictionary<string, long> Balances, IReadOnlyList<Hold> Holds)
{
    /// <summary>
    /// Money the bank is accountable for: every balance plus every debit held by a prepared transaction (taken out of
    /// a balance at prepare, not yet gone). Prepare and abort never change it; commit changes it by exactly the
    /// transaction's net delta at this bank (0 for a transfer between two accounts of this bank).
    /// </summary>
    public long Money => Balances.Values.Sum() + Holds.Sum(h => h.Moves.Where(m => m.Delta < 0).Sum(m => -m.Delta));
}

/// <summary>
/// The bank's participant: accounts with balances, persisted as one file replaced atomically on every change
/// (temporary file + fsync + rename + directory fsync).
/// </summary>
/// <remarks>
/// Work is <c>{"account": "alice", "delta": -100}</c> or <c>{"moves": [{"account", "delta"}, ...]}</c> (a transfer
/// between two accounts of this bank). Prepare reserves: a debit leaves its balance at once and is held; a credit is
/// only held. It votes abort for an unknown account, a zero or missing delta, or insufficient funds. Commit drops the
/// hold and adds the credits; abort drops the hold and returns the debits. All three are idempotent: the hold is the
/// record of what is still to do, and it changes in the same atomic file write as the balances.
/// </remarks>
public sealed class BankLedger : ITransactionParticipant
{
    /// <summary>The most accounts a bank holds.</summary>
    public const int AccountsMax = 10_000;

    /// <summary>The most moves one transaction may make at one bank.</summary>
    public const int MovesPerTransactionMax = 16;

    private readonly Lock _lock = new();
    private readonly string _path;
    private readonly Dictionary<string, long> _balances;
    private readonly Dictionary<string, Hold> _holds;

    private BankLedger(string path, Dictionary<string, long> balances, Dictionary<string, Hold> holds)
    {
        _path = path;
        _balances = balances;
        _holds = holds;
    }

    /// <summary>Fault hooks the test endpoints set (<c>--enable-fault-hooks</c>); none by default.</summary>
    public BankFaults Faults { get; } = new();

    /// <summary>
    /// Opens the ledger in <paramref name="dataDirectory"/>; a new directory starts with <paramref name="initialAccounts"/>,
    /// an existing one ignores them.
    /// </summary>
    public static BankLedger Open(string dataDirectory, IReadOnlyDictionary<string, long> initialAccounts)
    {
        Directory.CreateDirectory(dataDirectory);
        var path = Path.Combine(dataDirectory, "ledger.json");
        if (!File.Exists(path))
        {
            var fresh = new BankLedger(path, new Dictionary<string, long>(initialAccounts, StringComparer.Ordinal), new Dictionary<string, Hold>(StringComparer.Ordinal));
            fresh.Save();
            return fresh;
        }

        var stored = JsonSerializer.Deserialize(File.ReadAllBytes(path), BankJsonContext.Default.StoredLedger)
            ?? throw new InvalidDataException($"{path} is empty.");
        return new BankLedger(
            path,
            new Dictionary<string, long>(stored.Balances, StringComparer.Ordinal),
            stored.Holds.ToDictionary(h => h.TransactionId, StringComparer.Ordinal));
    }

    /// <summary>A consistent copy of balances and holds.</summary>
    public LedgerState Snapshot()
    {
        lock (_lock)
        {
            return new LedgerState(new SortedDictionary<string, long>(_balances, StringComparer.Ordinal), [.. _holds.Values.OrderBy(h => h.TransactionId, StringComparer.Ordinal)]);
        }
    }

    public async Task<ParticipantVote> PrepareAsync(string transactionId, JsonElement work, CancellationToken cancellationToken)
    {
        switch (Faults.Prepare)
        {
            case "hang":
                await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                break;
            case "fail":
                throw new InvalidOperationException("prepare failed (fault hook)");
        }

        var moves = ParseMoves(work);
        if (moves is null)
        {
            return ParticipantVote.Abort("work must be {account, delta} or {moves: [{account, delta}, ...]} with non-zero deltas");
        }

        ParticipantVote vote;
        lock (_lock)
        {
            if (_holds.ContainsKey(transactionId))
            {
                // Prepared before (the vote was lost in a crash): the reservation stands.
                return ParticipantVote.Commit;
            }

            vote = Check(moves);
            if (vote.IsCommit)
            {
                foreach (var move in moves.Where(m => m.Delta < 0))
                {
                    _balances[move.Account] += move.Delta;
                }

                _holds[transactionId] = new Hold(transactionId, moves);
                Save();
            }
        }

        if (Faults.Prepare == "exit-before-vote")
        {
            // The reservation is durable, the library has not journaled the vote: a crash right here.
            BankFaults.Crash();
        }

        return vote;
    }

    public Task CommitAsync(string transactionId, CancellationToken cancellationToken)
    {
        if (Faults.Commit == "fail")
        {
            throw new InvalidOperationException("commit failed (fault hook)");
        }

        lock (_lock)
        {
            if (_holds.Remove(transactionId, out var hold))
            {
                foreach (var move in hold.Moves.Where(m => m.Delta > 0))
                {
                    _balances[move.Account] += move.Delta;
                }

                Save();
            }
        }

        return Task.CompletedTask;
    }

    public Task AbortAsync(string transactionId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_holds.Remove(transactionId, out var hold))
            {
                foreach (var move in hold.Moves.Where(m => m.Delta < 0))
                {
                    _balances[move.Account] -= move.Delta;
                }

                Save();
            }
        }

        return Task.CompletedTask;
    }

    private ParticipantVote Check(IReadOnlyList<Move> moves)
    {
        foreach (var move in moves)
        {
            if (!_balances.ContainsKey(move.Account))
            {
                return ParticipantVote.Abort($"unknown account '{move.Account}'");
            }
        }

        foreach (var debit in moves.Where(m => m.Delta < 0).GroupBy(m => m.Account, StringComparer.Ordinal))
        {
            var needed = -debit.Sum(m => m.Delta);
            if (_balances[debit.Key] < needed)
            {
                return ParticipantVote.Abort($"insufficient funds in '{debit.Key}': {_balances[debit.Key]} available, {needed} needed");
            }
        }

        return ParticipantVote.Commit;
    }

    private static List<Move>? ParseMoves(JsonElement work)
    {
        if (work.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        try
        {
            var parsed = JsonSerializer.Deserialize(work, BankJsonContext.Default.Work);
            var moves = parsed?.Moves is { } list ? [.. list] : parsed is { Account: { } account, Delta: { } delta } ? new List<Move> { new(account, delta) } : null;
            return moves is { Count: > 0 and <= MovesPerTransactionMax } && moves.All(m => m.Account is { Length: > 0 } && m.Delta != 0) ? moves : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Writes the whole ledger atomically; called under the lock.</summary>
    private void Save()
    {
        var stored = new StoredLedger(_balances, [.. _holds.Values]);
        DurableFiles.ReplaceAtomically(_path, JsonSerializer.SerializeToUtf8Bytes(stored, BankJsonContext.Default.StoredLedger));
    }
}

/// <summary>The fault hooks of <c>POST /faults</c>: where the next prepare or commit misbehaves.</summary>
public sealed partial class BankFaults
{
    /// <summary>The exit code of a simulated crash (non-zero: the process did not shut down cleanly).</summary>
    public const int CrashExitCode = 70;

    /// <summary>
    /// Ends the process at once with <see cref="CrashExitCode"/>, as a crash would: no shutdown handlers, no answer to
    /// requests in flight. (Environment.Exit would first wait for the web host to drain those requests.)
    /// </summary>
    public static void Crash()
    {
        if (OperatingSystem.IsWindows())
        {
            Environment.Exit(CrashExitCode);
        }

        ExitNow(CrashExitCode);
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "_exit")]
    private static partial void ExitNow(int code);

    private string? _prepare;
    private string? _commit;

    /// <summary><c>hang</c>, <c>fail</c>, <c>exit-before-vote</c>, <c>exit-after-vote</c> or null.</summary>
    public string? Prepare
    {
        get => Volatile.Read(ref _prepare);
        set => Volatile.Write(ref _prepare, value);
    }

    /// <summary><c>fail</c>, <c>exit-before-ack</c> or null.</summary>
    public string? Commit
    {
        get => Volatile.Read(ref _commit);
        set => Volatile.Write(ref _commit, value);
    }
}

internal sealed record Work(string? Account, long? Delta, IReadOnlyList<Move>? Moves);

internal sealed record StoredLedger(IReadOnlyDictionary<string, long> Balances, IReadOnlyList<Hold> Holds);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Work))]
[JsonSerializable(typeof(Move))]
[JsonSerializable(typeof(StoredLedger))]
[JsonSerializable(typeof(LedgerState))]
[JsonSerializable(typeof(TransferRequest))]
[JsonSerializable(typeof(TransferResult))]
[JsonSerializable(typeof(FaultsRequest))]
internal sealed partial class BankJsonContext : JsonSerializerContext;
