using Coordination.Grains;

namespace Coordination.Api;

/// <summary>How fresh a read must be.</summary>
public enum ReadConsistency
{
    /// <summary>Reflects every write acknowledged before the read began (ReadIndex).</summary>
    Linearizable,

    /// <summary>This silo's own state, at once; may lag the leader (the response says by how much).</summary>
    Stale,
}

/// <summary>What a read reflects.</summary>
public sealed record ReadMeta(ulong AppliedIndex, bool Stale, long? LeaderContactMs);

/// <summary>One member of the cluster as the gateway reports it.</summary>
public sealed record ClusterMember(ulong Id, string? ClientUrl, string? PeerAddress, bool Voter, string? Http2Url = null);

/// <summary>The cluster as this silo sees it.</summary>
public sealed record ClusterView(
    ulong NodeId,
    string Role,
    ulong Term,
    ulong Leader,
    ulong CommitIndex,
    ulong AppliedIndex,
    ulong FirstIndex,
    ulong LastIndex,
    IReadOnlyList<ulong> Voters,
    IReadOnlyList<ulong> Learners,
    IReadOnlyList<ClusterMember> Members,
    bool Ready,
    IReadOnlyDictionary<ulong, string>? Replication = null)
{
    /// <summary>The newest command level this silo's build decodes (what other silos ask it for).</summary>
    public int DecodeLevel { get; init; }

    /// <summary>The newest command level this silo proposes now: the lowest every member decodes, capped by its configuration.</summary>
    public int CommandLevel { get; init; }

    /// <summary>This silo's wall clock (Unix ms), as the system gives it: other silos measure their skew against it.</summary>
    public long ClockMs { get; init; }
}

/// <summary>
/// What the REST gateway needs from the silo: replicate commands, run queries at a chosen
/// consistency, wait for new revisions, and describe the cluster. Implemented by the silo over its
/// Raft host; the gateway never touches consensus directly. Thread-safe.
/// </summary>
public interface ICoordinationGateway
{
    /// <summary>
    /// Replicates <paramref name="command"/> and returns its result and the revision (log index) it
    /// was applied at. With an idempotency key, a retried request returns the first result instead of
    /// applying again. Throws <see cref="NoLeaderException"/>, <see cref="OverloadedException"/>,
    /// <see cref="CommitTimeoutException"/>.
    /// </summary>
    Task<(CommandResult Result, ulong Revision)> ExecuteAsync(Command command, string? idempotencyKey, CancellationToken cancellation);

    /// <summary>Runs a query against the grains on the silo's apply thread, after a read index when linearizable.</summary>
    Task<(T Value, ReadMeta Meta)> ReadAsync<T>(Func<CoordinationStateMachine, T> query, ReadConsistency consistency, CancellationToken cancellation);

    /// <summary>Completes once this silo has applied a revision above <paramref name="afterRevision"/>.</summary>
    Task WaitForRevisionAsync(ulong afterRevision, CancellationToken cancellation);

    /// <summary>
    /// Subscribes to applied events of grain (<paramref name="kind"/>, <paramref name="name"/>); with a
    /// <paramref name="sessionId"/>, only to that session's events of the grain. A waiter subscribes,
    /// then reads, then awaits <see cref="IGrainEventSubscription.NextAsync"/> and reads again, so no
    /// event applied after it subscribed is missed; it wakes only for its grain, not for every entry.
    /// </summary>
    IGrainEventSubscription Subscribe(GrainKind kind, string name, ulong sessionId = 0);

    /// <summary>This silo's view of the cluster.</summary>
    ClusterView Cluster();

    /// <summary>How long since this silo last heard from a leader: zero on the leader, null when it has not heard from one since it started.</summary>
    TimeSpan? SinceLeaderContact { get; }

    /// <summary>
    /// Longer than this without a leader, the silo counts as cut off from the cluster (its watches
    /// say so): 3 s, or twice the longest election timeout when ticks are configured longer.
    /// </summary>
    TimeSpan LeaderSilenceMax { get; }

    /// <summary>Where to reach the leader when another silo leads; null when this silo leads or no leader is known.</summary>
    LeaderAddress? Leader { get; }
}

/// <summary>The leader's client URL, and its cleartext HTTP/2 URL when its member entry has one.</summary>
public sealed record LeaderAddress(Uri ClientUrl, Uri? Http2Url);

/// <summary>A subscription to one grain's events (<see cref="ICoordinationGateway.Subscribe"/>). Dispose to end it.</summary>
public interface IGrainEventSubscription : IDisposable
{
    /// <summary>
    /// Completes once a matching event was applied since the subscription began or since the last
    /// call completed (or a snapshot replaced the state). May complete when nothing new matches the
    /// caller's own filter; callers read again.
    /// </summary>
    Task NextAsync(CancellationToken cancellation);

    /// <summary>
    /// The events this subscription was woken for since the previous take (or since it began), those
    /// with a revision above <paramref name="after"/>, in order. False when some were not kept (too
    /// many between takes, or a snapshot replaced the state): the caller reads instead. A caller that
    /// subscribed, then read up to <paramref name="after"/>, misses nothing by answering from these.
    /// </summary>
    bool TryTakeEvents(ulong after, out IReadOnlyList<GrainEvent> events);
}

/// <summary>No leader is reachable now; the request did not apply. Retry.</summary>
public sealed class NoLeaderException(string message) : Exception(message);

/// <summary>The silo refused the request to protect itself. Retry later.</summary>
public sealed class OverloadedException(string message) : Exception(message);

/// <summary>The write was not confirmed in time: its outcome is unknown. Retry with the same idempotency key.</summary>
public sealed class CommitTimeoutException(string message) : Exception(message);

/// <summary>The idempotency key was already used for a different request.</summary>
public sealed record IdempotencyKeyReused(string Key) : CommandResult;
