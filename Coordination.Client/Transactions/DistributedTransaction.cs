using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coordination.Client.Transactions;

/// <summary>Where a distributed (two-phase-commit) transaction stands at the coordinator.</summary>
public enum DistributedTransactionState
{
    /// <summary>Votes are being collected; nothing is decided.</summary>
    [JsonStringEnumMemberName("preparing")]
    Preparing,

    /// <summary>Commit is decided and recorded; still being delivered to the participants.</summary>
    [JsonStringEnumMemberName("committing")]
    Committing,

    /// <summary>Abort is decided and recorded; still being delivered to the participants.</summary>
    [JsonStringEnumMemberName("aborting")]
    Aborting,

    /// <summary>Committed, and every participant acknowledged.</summary>
    [JsonStringEnumMemberName("committed")]
    Committed,

    /// <summary>Aborted, and every participant acknowledged.</summary>
    [JsonStringEnumMemberName("aborted")]
    Aborted,
}

/// <summary>A participant's vote as the coordinator recorded it.</summary>
public enum ParticipantVoteState
{
    /// <summary>No vote yet.</summary>
    [JsonStringEnumMemberName("none")]
    None,

    [JsonStringEnumMemberName("commit")]
    Commit,

    [JsonStringEnumMemberName("abort")]
    Abort,
}

/// <summary>The decision of a transaction as <c>GET .../outcome</c> reports it; an unknown transaction is <see cref="Abort"/> (presumed abort).</summary>
public enum TransactionOutcome
{
    [JsonStringEnumMemberName("pending")]
    Pending,

    [JsonStringEnumMemberName("commit")]
    Commit,

    [JsonStringEnumMemberName("abort")]
    Abort,
}

/// <summary>How far <see cref="CoordinationClient.WaitForDistributedTransactionAsync"/> waits.</summary>
public enum DistributedTransactionMilestone
{
    /// <summary>Until the decision is recorded (committing, aborting, committed or aborted).</summary>
    Decided,

    /// <summary>Until every participant acknowledged the decision (committed or aborted).</summary>
    Finished,
}

/// <summary>One participant named when a distributed transaction begins.</summary>
/// <param name="Name">Unique within the transaction; the coordinator sends it back in every call as <c>participant</c>.</param>
/// <param name="Endpoint">The absolute http(s) URL the participant serves the protocol under (e.g. <c>http://bank-a:7001/tx</c>).</param>
/// <param name="Work">What the participant is asked to do, passed to its prepare as is.</param>
public sealed record DistributedTransactionParticipant(string Name, Uri Endpoint, JsonElement Work);

/// <summary>A distributed transaction to begin.</summary>
/// <param name="Participants">At least one.</param>
/// <param name="Id">Chosen by the caller (same rules as grain names) to make the begin safe to repeat; generated when null.</param>
/// <param name="PrepareTimeout">How long the coordinator collects votes before it aborts; its default when null.</param>
public sealed record DistributedTransactionRequest(IReadOnlyList<DistributedTransactionParticipant> Participants, string? Id = null, TimeSpan? PrepareTimeout = null);

/// <summary>A participant as the coordinator sees it.</summary>
public sealed record DistributedTransactionParticipantView
{
    public string Name { get; init; } = "";

    public string Endpoint { get; init; } = "";

    /// <summary>The work the participant was given.</summary>
    public JsonElement? Work { get; init; }

    public ParticipantVoteState Vote { get; init; }

    /// <summary>True once the participant acknowledged the decision.</summary>
    public bool Acknowledged { get; init; }
}

/// <summary>A distributed transaction as the coordinator sees it (<c>GET /v1/distributed-transactions/{id}</c>). Times are the leader's Unix milliseconds.</summary>
public sealed record DistributedTransactionView
{
    public string Id { get; init; } = "";

    public DistributedTransactionState State { get; init; }

    /// <summary>Why it aborted (a participant's reason, a timeout, an explicit abort), when it did.</summary>
    public string? Reason { get; init; }

    public long CreatedMs { get; init; }

    /// <summary>When preparing gives up and aborts.</summary>
    public long DeadlineMs { get; init; }

    public long? DecidedMs { get; init; }

    public IReadOnlyList<DistributedTransactionParticipantView> Participants { get; init; } = [];

    /// <summary>True once commit or abort is decided (whether or not delivered).</summary>
    [JsonIgnore]
    public bool IsDecided => State != DistributedTransactionState.Preparing;

    /// <summary>True once every participant acknowledged the decision.</summary>
    [JsonIgnore]
    public bool IsFinished => State is DistributedTransactionState.Committed or DistributedTransactionState.Aborted;

    /// <summary>True when commit is decided (committing or committed).</summary>
    [JsonIgnore]
    public bool IsCommitDecided => State is DistributedTransactionState.Committing or DistributedTransactionState.Committed;
}

/// <summary>The answer of <c>GET /v1/distributed-transactions/{id}/outcome</c>.</summary>
public sealed record DistributedTransactionOutcome
{
    public string Id { get; init; } = "";

    public TransactionOutcome Outcome { get; init; }
}
