namespace Coordination.Grains;

/// <summary>
/// The two-phase-commit coordinator's replicated state. The state machine only records: a begin,
/// each vote, an abort, each acknowledgement. It decides in the same entry that makes the decision
/// inevitable (the first abort vote, the last commit vote, the vote deadline passing), so the
/// decision is in the log before anyone can be told. Talking to participants is the leader's
/// job (the silo's coordinator driver), which reads this state and proposes what it hears.
/// </summary>
public sealed partial class CoordinationStateMachine
{
    private readonly DistributedTransactionTable _transactions = new();

    private CommandResult BeginDistributedTransaction(BeginDistributedTransaction c)
    {
        if (!Names.IsValid(c.Id))
        {
            return new Rejected(ErrorCode.InvalidName, $"'{c.Id}' is not a valid transaction id.");
        }

        if (c.Participants.Count is < 1 or > Limits.ParticipantsPerTransactionMax)
        {
            return new Rejected(ErrorCode.LimitExceeded, $"A distributed transaction has 1..{Limits.ParticipantsPerTransactionMax} participants (ParticipantsPerTransactionMax).");
        }

        if (c.PrepareTimeoutMs is < Limits.PrepareTimeoutMsMin or > Limits.PrepareTimeoutMsMax)
        {
            return new Rejected(ErrorCode.InvalidArgument, $"The prepare timeout is {Limits.PrepareTimeoutMsMin}..{Limits.PrepareTimeoutMsMax} ms.");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in c.Participants)
        {
            if (CheckParticipant(p) is { } refused)
            {
                return refused;
            }

            if (!names.Add(p.Name))
            {
                return new Rejected(ErrorCode.InvalidArgument, $"Participant '{p.Name}' is named twice.");
            }
        }

        if (_transactions.Find(c.Id) is { } existing)
        {
            return existing.SameAs(c)
                ? new DistributedTransactionResult(existing.ToView())
                : new Rejected(ErrorCode.AlreadyExists, $"Distributed transaction '{c.Id}' exists with different participants or timeout.");
        }

        if (_transactions.ActiveCount >= Limits.DistributedTransactionsActiveMax)
        {
            return new Rejected(ErrorCode.LimitExceeded, $"{Limits.DistributedTransactionsActiveMax} distributed transactions are unfinished (DistributedTransactionsActiveMax).");
        }

        var transaction = new DistributedTransaction(
            c.Id,
            _step.NowMs,
            _step.NowMs + c.PrepareTimeoutMs,
            [.. c.Participants.Select(p => new ParticipantState(p.Name, p.Endpoint, p.Work))]);
        _transactions.Add(transaction);
        _deadlines.Add(transaction.PrepareDeadline);
        return new DistributedTransactionResult(transaction.ToView());
    }

    private static Rejected? CheckParticipant(ParticipantSpec p)
    {
        if (!Names.IsValid(p.Name))
        {
            return new Rejected(ErrorCode.InvalidName, $"'{p.Name}' is not a valid participant name.");
        }

        if (p.Endpoint.Length > Limits.ParticipantEndpointLengthMax
            || !Uri.TryCreate(p.Endpoint, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            return new Rejected(ErrorCode.InvalidArgument, $"Participant '{p.Name}': the endpoint is an absolute http or https URL of at most {Limits.ParticipantEndpointLengthMax} characters.");
        }

        return JsonValue.Check(p.Work, Limits.ParticipantWorkBytesMax, nameof(Limits.ParticipantWorkBytesMax), $"Participant '{p.Name}': work", allowEmpty: false);
    }

    private CommandResult RecordParticipantVote(RecordParticipantVote c)
    {
        if (FindParticipant(c.Id, c.Participant, out var transaction) is not { } participant)
        {
            return NotFoundTransaction(c.Id, c.Participant);
        }

        if (c.Vote == ParticipantVote.None || !Enum.IsDefined(c.Vote) || c.Reason.Length > Limits.TransactionReasonLengthMax)
        {
            return new Rejected(ErrorCode.InvalidArgument, $"A vote is commit or abort, with a reason of at most {Limits.TransactionReasonLengthMax} characters.");
        }

        if (transaction!.State != DistributedTransactionState.Preparing || participant.Vote != ParticipantVote.None)
        {
            // Late or repeated: the first vote and the decision stand.
            return new DistributedTransactionResult(transaction.ToView());
        }

        if (_step.NowMs > transaction.DeadlineMs)
        {
            // Past the deadline the vote no longer counts, whatever it is: presumed abort.
            Decide(transaction, commit: false, MissingVotes(transaction));
            return new DistributedTransactionResult(transaction.ToView());
        }

        participant.Vote = c.Vote;
        if (c.Vote == ParticipantVote.Abort)
        {
            // It has aborted its side already: no need to tell it.
            participant.Acknowledged = true;
            Decide(transaction, commit: false, $"Participant '{participant.Name}' voted abort: {c.Reason}");
        }
        else if (transaction.Participants.All(p => p.Vote == ParticipantVote.Commit))
        {
            Decide(transaction, commit: true, "");
        }

        return new DistributedTransactionResult(transaction.ToView());
    }

    private CommandResult AbortDistributedTransaction(AbortDistributedTransaction c)
    {
        if (_transactions.Find(c.Id) is not { } transaction)
        {
            return NotFoundTransaction(c.Id, null);
        }

        if (c.Reason.Length > Limits.TransactionReasonLengthMax)
        {
            return new Rejected(ErrorCode.InvalidArgument, $"A reason is at most {Limits.TransactionReasonLengthMax} characters.");
        }

        switch (transaction.State)
        {
            case DistributedTransactionState.Preparing:
                Decide(transaction, commit: false, c.Reason.Length == 0 ? "Aborted on request." : c.Reason);
                break;
            case DistributedTransactionState.Committing or DistributedTransactionState.Committed:
                return new Rejected(ErrorCode.AlreadyDecided, $"Distributed transaction '{c.Id}' already decided commit.");
        }

        return new DistributedTransactionResult(transaction.ToView());
    }

    private CommandResult AcknowledgeDecision(AcknowledgeDecision c)
    {
        if (FindParticipant(c.Id, c.Participant, out var transaction) is not { } participant)
        {
            return NotFoundTransaction(c.Id, c.Participant);
        }

        if (transaction!.State == DistributedTransactionState.Preparing)
        {
            return new Rejected(ErrorCode.InvalidArgument, $"Distributed transaction '{c.Id}' has not decided; there is nothing to acknowledge.");
        }

        if (!participant.Acknowledged)
        {
            participant.Acknowledged = true;
            FinishIfAcknowledged(transaction);
        }

        return new DistributedTransactionResult(transaction.ToView());
    }

    /// <summary>Presumed abort at the vote deadline (from <see cref="AdvanceTime"/>).</summary>
    private void ExpirePrepare(string id)
    {
        var transaction = _transactions.Find(id);
        GrainInvariant.Require(transaction is { State: DistributedTransactionState.Preparing }, $"A vote deadline fell due for '{id}', which is not preparing.");
        Decide(transaction!, commit: false, MissingVotes(transaction!));
    }

    private void Decide(DistributedTransaction transaction, bool commit, string reason)
    {
        GrainInvariant.Require(transaction.State == DistributedTransactionState.Preparing, $"Distributed transaction '{transaction.Id}' decided twice.");
        GrainInvariant.Require(!commit || transaction.Participants.All(p => p.Vote == ParticipantVote.Commit), $"Commit of '{transaction.Id}' without every commit vote.");
        _deadlines.Remove(transaction.PrepareDeadline);
        transaction.State = commit ? DistributedTransactionState.Committing : DistributedTransactionState.Aborting;
        transaction.Reason = Truncate(reason, Limits.TransactionReasonLengthMax);
        transaction.DecidedMs = _step.NowMs;
        FinishIfAcknowledged(transaction);
    }

    /// <summary>Cuts at a character boundary: half a surrogate pair would read back differently from a snapshot.</summary>
    private static string Truncate(string text, int lengthMax)
    {
        if (text.Length <= lengthMax)
        {
            return text;
        }

        var end = char.IsHighSurrogate(text[lengthMax - 1]) ? lengthMax - 1 : lengthMax;
        return text[..end];
    }

    private void FinishIfAcknowledged(DistributedTransaction transaction)
    {
        if (transaction.Participants.All(p => p.Acknowledged))
        {
            transaction.State = transaction.State == DistributedTransactionState.Committing ? DistributedTransactionState.Committed : DistributedTransactionState.Aborted;
            _transactions.MarkFinished(transaction);
        }
    }

    private static string MissingVotes(DistributedTransaction transaction) =>
        $"No vote from {string.Join(", ", transaction.Participants.Where(p => p.Vote == ParticipantVote.None).Select(p => $"'{p.Name}'"))} within {transaction.DeadlineMs - transaction.CreatedMs} ms (presumed abort).";

    private ParticipantState? FindParticipant(string id, string participant, out DistributedTransaction? transaction)
    {
        transaction = Names.IsValid(id) ? _transactions.Find(id) : null;
        return transaction?.Find(participant);
    }

    private static Rejected NotFoundTransaction(string id, string? participant) =>
        new(ErrorCode.NotFound, participant is null ? $"Distributed transaction '{id}' does not exist." : $"Distributed transaction '{id}' has no participant '{participant}'.");

    /// <summary>The distributed transaction <paramref name="id"/>, or null if unknown or forgotten.</summary>
    public DistributedTransactionView? GetDistributedTransaction(string id) =>
        Names.IsValid(id) ? _transactions.Find(id)?.ToView() : null;

    /// <summary>
    /// Distributed transactions with an id after <paramref name="afterId"/> (ordinal), optionally only
    /// in <paramref name="state"/> or only unfinished, at most <paramref name="max"/>.
    /// </summary>
    public IReadOnlyList<DistributedTransactionView> ListDistributedTransactions(DistributedTransactionState? state = null, bool unfinishedOnly = false, string afterId = "", int max = 1_000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        return [.. _transactions.InIdOrder
            .Where(t => string.CompareOrdinal(t.Id, afterId) > 0 && (state is null || t.State == state) && !(unfinishedOnly && t.Finished))
            .Take(max)
            .Select(t => t.ToView())];
    }
}
