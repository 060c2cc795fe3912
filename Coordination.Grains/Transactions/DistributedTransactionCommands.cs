namespace Coordination.Grains;

/// <summary>
/// Where a distributed (two-phase-commit) transaction stands. Preparing is the only undecided
/// state; Committing and Aborting mean the decision is in the log and is being delivered;
/// Committed and Aborted mean every participant acknowledged it.
/// </summary>
public enum DistributedTransactionState : byte
{
    Preparing = 1,
    Committing = 2,
    Aborting = 3,
    Committed = 4,
    Aborted = 5,
}

/// <summary>A participant's answer to prepare, as the coordinator recorded it.</summary>
public enum ParticipantVote : byte
{
    None = 0,
    Commit = 1,
    Abort = 2,
}

/// <summary>One external participant: a name unique in its transaction, the base URL of its prepare/commit/abort endpoints, and its work (JSON).</summary>
public sealed record ParticipantSpec(string Name, string Endpoint, byte[] Work);

/// <summary>
/// Starts a two-phase-commit transaction named <paramref name="Id"/>. Votes are awaited until
/// <paramref name="PrepareTimeoutMs"/> after the entry's log time; then the transaction aborts
/// (presumed abort). Beginning again with the same id and the same content answers the existing
/// transaction, so a retried begin is harmless.
/// </summary>
public sealed record BeginDistributedTransaction(string Id, IReadOnlyList<ParticipantSpec> Participants, long PrepareTimeoutMs) : Command;

/// <summary>
/// Records a participant's vote. The vote that completes the set decides in the same entry: the
/// first abort vote decides abort, the last commit vote decides commit. Votes on a decided
/// transaction are ignored (the answer shows the decision).
/// </summary>
public sealed record RecordParticipantVote(string Id, string Participant, ParticipantVote Vote, string Reason) : Command;

/// <summary>Decides abort if the transaction has not decided yet (an operator's or the client's abort). Refused with <see cref="ErrorCode.AlreadyDecided"/> after a commit decision.</summary>
public sealed record AbortDistributedTransaction(string Id, string Reason) : Command;

/// <summary>Records that a participant acknowledged the decision; the last acknowledgement finishes the transaction.</summary>
public sealed record AcknowledgeDecision(string Id, string Participant) : Command;

/// <summary>A participant as the coordinator sees it.</summary>
public sealed record ParticipantView(string Name, string Endpoint, byte[] Work, ParticipantVote Vote, bool Acknowledged);

/// <summary>
/// A distributed transaction: its state, why it aborted (empty otherwise), when it began, its vote
/// deadline and decision time (log time, Unix ms; 0 = not decided), and its participants.
/// </summary>
public sealed record DistributedTransactionView(
    string Id,
    DistributedTransactionState State,
    string Reason,
    long CreatedMs,
    long DeadlineMs,
    long DecidedMs,
    IReadOnlyList<ParticipantView> Participants)
{
    public bool Decided => State != DistributedTransactionState.Preparing;

    public bool Finished => State is DistributedTransactionState.Committed or DistributedTransactionState.Aborted;

    /// <summary>True once commit is decided (Committing or Committed).</summary>
    public bool Commits => State is DistributedTransactionState.Committing or DistributedTransactionState.Committed;
}

/// <summary>The answer to every distributed-transaction command: the transaction after it.</summary>
public sealed record DistributedTransactionResult(DistributedTransactionView Transaction) : CommandResult;
