namespace Coordination.Grains;

/// <summary>
/// Every size and count the grains accept has a named maximum (ARCHITECTURE.md, "Limits on
/// everything"). Exceeding one is a <see cref="ErrorCode.LimitExceeded"/> rejection, never a crash
/// or an unbounded queue. Changing a value is a protocol change: every replica must agree.
/// </summary>
public static class Limits
{
    /// <summary>
    /// Entry timestamps are Unix milliseconds in 0..this (2^53, about the year 287,000), so that
    /// adding any TTL or wait limit to one can never overflow.
    /// </summary>
    public const long TimestampMsMax = 1L << 53;

    /// <summary>Grain names and member ids: 1 to this many characters from <see cref="Names"/>.</summary>
    public const int NameLengthMax = 128;

    public const int SessionsMax = 4_194_304;
    public const long SessionTtlMsMin = 1_000;
    public const long SessionTtlMsMax = 3_600_000;

    /// <summary>Lock holds and waits, candidacies and memberships of one session, together.</summary>
    public const int AttachmentsPerSessionMax = 10_000;

    /// <summary>Active (non-empty) grains of one kind; an empty grain holds no memory and does not count.</summary>
    public const int GrainsPerKindMax = 4_194_304;

    public const int HoldersPerLockMax = 1_024;
    public const int WaitersPerLockMax = 1_024;
    public const int PermitsMax = 1_024;
    public const long LockWaitMsMax = 3_600_000;
    public const long LockHoldMsMax = 86_400_000;

    public const int CandidatesPerElectionMax = 1_024;
    public const int ElectionValueBytesMax = 4_096;

    public const int MembersPerGroupMax = 16_384;
    public const int MetadataBytesMax = 4_096;

    public const int ConfigValueBytesMax = 65_536;

    /// <summary>Versions of one configuration document kept for history and rollback, the current one included.</summary>
    public const int HistoryVersionsMax = 16;

    /// <summary>Nesting depth accepted in JSON values (configuration documents, member metadata).</summary>
    public const int JsonDepthMax = 32;

    public const int SequenceReserveCountMax = 1_000_000;

    /// <summary>Events kept for watchers; older revisions are answered with "compacted, resync".</summary>
    public const int EventHistoryMax = 16_384;

    /// <summary>Events returned by one <see cref="CoordinationStateMachine.EventsSince"/> call (whole revisions may exceed it).</summary>
    public const int EventsPerPageMax = 1_024;

    /// <summary>Sessions returned by one <see cref="CoordinationStateMachine.ListSessions"/> call.</summary>
    public const int SessionsPerPageMax = 1_024;

    /// <summary>Operations in one atomic transaction.</summary>
    public const int TransactionOperationsMax = 64;

    /// <summary>Conditions in one atomic transaction.</summary>
    public const int TransactionConditionsMax = 64;

    /// <summary>Participants of one distributed (two-phase-commit) transaction.</summary>
    public const int ParticipantsPerTransactionMax = 16;

    /// <summary>A participant's work (JSON), sent to it with prepare.</summary>
    public const int ParticipantWorkBytesMax = 16_384;

    /// <summary>A participant's endpoint URL.</summary>
    public const int ParticipantEndpointLengthMax = 2_048;

    /// <summary>The text recorded with an abort vote or an abort decision.</summary>
    public const int TransactionReasonLengthMax = 1_024;

    /// <summary>Bounds of a distributed transaction's vote deadline (after its begin).</summary>
    public const long PrepareTimeoutMsMin = 100;
    public const long PrepareTimeoutMsMax = 600_000;

    /// <summary>Distributed transactions not yet finished (preparing or delivering a decision) at once.</summary>
    public const int DistributedTransactionsActiveMax = 65_536;

    /// <summary>Finished distributed transactions kept for inspection; the oldest finished is forgotten first.</summary>
    public const int DistributedTransactionsFinishedRetained = 4_096;

    /// <summary>Largest encoded command: a transaction of several documents; single values have their own, smaller limits.</summary>
    public const int CommandBytesMax = 262_144;
}
