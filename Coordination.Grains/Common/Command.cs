namespace Coordination.Grains;

/// <summary>
/// An imperative request to change grain state. Commands are plain data; they reach the state
/// machine only through the replicated log, encoded by <see cref="CommandCodec"/> under a stable
/// <see cref="CommandId"/>.
/// </summary>
public abstract record Command;

/// <summary>
/// Stable wire ids. A stored log must stay readable by every later version, so an id is never
/// reused or renumbered; an id the decoder does not know is corrupt data, not a command to skip.
/// </summary>
public enum CommandId : ushort
{
    CreateSession = 1,
    RenewSession = 2,
    RevokeSession = 3,
    AdvanceTime = 4,
    ExtendAllSessions = 5,
    ExtendSessionsBy = 6,

    AcquireLock = 10,
    ReleaseLock = 11,
    AbandonLock = 12,

    Campaign = 20,
    Proclaim = 21,
    Resign = 22,

    JoinGroup = 30,
    UpdateMember = 31,
    LeaveGroup = 32,

    PutConfig = 40,
    DeleteConfig = 41,
    RollbackConfig = 42,
    FencedPutConfig = 43,

    ReserveSequence = 50,

    ApplyTransaction = 60,
    BeginDistributedTransaction = 61,
    RecordParticipantVote = 62,
    AbortDistributedTransaction = 63,
    AcknowledgeDecision = 64,
}

/// <summary>
/// What applying a command did: a fact (<c>LockGranted</c>, <c>SessionCreated</c>) or a
/// <see cref="Rejected"/>. Every replica computes the same result for the same log entry; the
/// leader returns it to the client.
/// </summary>
public abstract record CommandResult;

/// <summary>
/// The command was refused for <paramref name="Code"/>. Contract: a rejection changed no grain
/// state and emitted no event (the applied index and log time still advance: the entry was used).
/// </summary>
public sealed record Rejected(ErrorCode Code, string Message) : CommandResult;
