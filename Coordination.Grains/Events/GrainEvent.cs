namespace Coordination.Grains;

/// <summary>What changed. Stable numeric values (they are stored in snapshots); only add.</summary>
public enum EventType : byte
{
    SessionCreated = 1,
    SessionExpired = 2,
    SessionRevoked = 3,

    LockGranted = 10,
    LockQueued = 11,
    LockReleased = 12,
    /// <summary>The holder kept the lock past its maximum hold time.</summary>
    LockHoldRevoked = 13,
    /// <summary>A waiter left the queue without a grant: its deadline passed or its session ended.</summary>
    LockWaitEnded = 14,

    LeaderElected = 20,
    LeaderProclaimed = 21,
    NoLeader = 22,
    CandidateQueued = 23,
    CandidateLeft = 24,

    MemberJoined = 30,
    MemberUpdated = 31,
    MemberLeft = 32,
    MemberExpired = 33,

    ConfigPut = 40,
    ConfigDeleted = 41,

    SequenceReserved = 50,
}

/// <summary>
/// One change, stamped with its <paramref name="Revision"/> (the log index of the command that
/// caused it). Several events may share a revision (a release that grants the next waiters); they
/// are kept and paged as a whole. Fields that do not apply to a type are 0 or empty.
/// </summary>
/// <param name="SessionId">The session concerned (holder, candidate, member owner, the session itself).</param>
/// <param name="Token">Lock fencing token or election term token; the first value for a sequence.</param>
/// <param name="Subject">The member id for membership events.</param>
/// <param name="Version">The document version for configuration events; the count for sequences.</param>
public sealed record GrainEvent(
    ulong Revision,
    EventType Type,
    GrainKind Kind,
    string Name,
    ulong SessionId = 0,
    ulong Token = 0,
    string Subject = "",
    long Version = 0);

/// <summary>Which events a watcher wants: a kind, optionally one name of that kind. Null means all.</summary>
public sealed record EventFilter(GrainKind? Kind = null, string? Name = null)
{
    public static readonly EventFilter All = new();

    public bool Matches(GrainEvent e) => (Kind is null || e.Kind == Kind) && (Name is null || e.Name == Name);
}

/// <summary>
/// The answer to <see cref="CoordinationStateMachine.EventsSince"/>.
/// When <see cref="Compacted"/> is true the events after the asked revision are no longer all
/// kept: <see cref="Events"/> is empty and the watcher must read current state (queries, or a
/// snapshot) as of <see cref="ResumeAfter"/> and then resume from that revision. Never a silent gap.
/// Otherwise <see cref="Events"/> holds every matching event after the asked revision up to
/// <see cref="ResumeAfter"/>, whole revisions only; pass <see cref="ResumeAfter"/> to the next call.
/// <see cref="More"/> is true when the page was cut at its size limit: matching events after
/// <see cref="ResumeAfter"/> exist already, so read again at once. A watcher that instead waits for its
/// grain's next wake-up would hear only of events applied after it subscribed, not of this backlog.
/// </summary>
public sealed record EventsPage(bool Compacted, ulong ResumeAfter, IReadOnlyList<GrainEvent> Events, bool More = false);
