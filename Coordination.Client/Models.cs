using System.Text.Json;
using System.Text.Json.Serialization;
using Coordination.Client.Wire;

namespace Coordination.Client;

// The answers of the REST contract (docs/api.md), as the client hands them to callers. Property names
// map to the camelCase JSON fields one to one; fields the contract may omit have defaults.

/// <summary>How a read is answered (docs/api.md, "Reads").</summary>
public enum ReadConsistency
{
    /// <summary>Through the leader (ReadIndex): reflects every write acknowledged before the read began.</summary>
    Linearizable,

    /// <summary>From the answering silo's own state at once; <see cref="ReadMetadata.Stale"/> says how stale.</summary>
    Stale,
}

/// <summary>The headers every answer carries: the revision it reflects and, for stale reads, how stale it may be.</summary>
public sealed record ReadMetadata(long? Revision, bool Stale, long? AppliedIndex, long? LeaderContactMs);

/// <summary>One silo of the cluster as <c>GET /v1/cluster</c> lists it.</summary>
public sealed record ClusterMember
{
    [JsonConverter(typeof(NodeIdConverter))]
    public string? Id { get; init; }

    public string? ClientUrl { get; init; }

    public string? PeerAddress { get; init; }

    /// <summary>Where the silo serves the same API over HTTP/2 without TLS, if it does (its fourth port in <c>--members</c>).</summary>
    public string? Http2Url { get; init; }
}

/// <summary>The answer of <c>GET /v1/cluster</c> from one silo: its own view of the cluster.</summary>
public sealed record ClusterStatus
{
    [JsonConverter(typeof(NodeIdConverter))]
    public string? NodeId { get; init; }

    public string? Role { get; init; }

    public long Term { get; init; }

    /// <summary>The id of the leader this silo knows of, or null when it knows none.</summary>
    [JsonConverter(typeof(NodeIdConverter))]
    public string? Leader { get; init; }

    public long CommitIndex { get; init; }

    public long AppliedIndex { get; init; }

    public long FirstIndex { get; init; }

    public long LastIndex { get; init; }

    public IReadOnlyList<JsonElement> Voters { get; init; } = [];

    public IReadOnlyList<JsonElement> Learners { get; init; } = [];

    public IReadOnlyList<ClusterMember> Members { get; init; } = [];

    /// <summary>The newest commands the answering silo's build decodes; 0 from a build that does not say.</summary>
    public int DecodeLevel { get; init; }

    /// <summary>The newest commands it proposes now (the lowest every member decodes; below <see cref="DecodeLevel"/> while an upgrade is under way); 0 from a build that does not say.</summary>
    public int CommandLevel { get; init; }
}

/// <summary>Something a session holds: a lock, a candidacy, a membership.</summary>
public sealed record SessionAttachment
{
    public string Kind { get; init; } = "";

    public string Name { get; init; } = "";
}

/// <summary>A session as <c>GET /v1/sessions/{id}</c> describes it. Times are the leader's Unix milliseconds.</summary>
public sealed record SessionInfo
{
    public long SessionId { get; init; }

    public long TtlMs { get; init; }

    public long CreatedMs { get; init; }

    public long DeadlineMs { get; init; }

    public IReadOnlyList<SessionAttachment> Attachments { get; init; } = [];
}

/// <summary>How a lock is held.</summary>
public enum LockMode
{
    /// <summary>One holder at a time.</summary>
    Exclusive,

    /// <summary>Any number of shared holders, no exclusive holder.</summary>
    Shared,

    /// <summary>Up to <c>permits</c> holders at a time.</summary>
    Semaphore,
}

/// <summary>A holder of a lock as <c>GET /v1/locks/{name}</c> lists it.</summary>
public sealed record LockHolder
{
    public long SessionId { get; init; }

    public string Mode { get; init; } = "";

    public long Token { get; init; }

    public long SinceMs { get; init; }

    public long? RevokeAtMs { get; init; }
}

/// <summary>A queued acquirer of a lock.</summary>
public sealed record LockWaiter
{
    public long SessionId { get; init; }

    public string Mode { get; init; } = "";

    public long QueuedRevision { get; init; }

    public long QueuedAtMs { get; init; }

    public long? DeadlineMs { get; init; }
}

/// <summary>The state of one lock: its holders and its queue.</summary>
public sealed record LockInfo
{
    public string Name { get; init; } = "";

    public int Permits { get; init; }

    public IReadOnlyList<LockHolder> Holders { get; init; } = [];

    public IReadOnlyList<LockWaiter> Waiters { get; init; } = [];
}

/// <summary>What <c>POST /v1/locks/{name}/abandon</c> found for the session.</summary>
public sealed record LockAbandonment
{
    public string Name { get; init; } = "";

    /// <summary><c>withdrawn</c> (its wait was removed), <c>released</c> (its hold was) or <c>none</c> (it had nothing there).</summary>
    public string Outcome { get; init; } = "";

    /// <summary>The released hold's fencing token when <see cref="Outcome"/> is <c>released</c>.</summary>
    public long? Token { get; init; }

    public int WaitersGranted { get; init; }
}

/// <summary>A candidate of an election (the leader is the first).</summary>
public sealed record ElectionCandidate
{
    public long SessionId { get; init; }

    public JsonElement? Value { get; init; }

    public long JoinedMs { get; init; }
}

/// <summary>The state of one election as <c>GET /v1/elections/{name}</c> describes it.</summary>
public sealed record ElectionInfo
{
    public string Name { get; init; } = "";

    public ElectionCandidate? Leader { get; init; }

    public long? Token { get; init; }

    public long? SinceMs { get; init; }

    public IReadOnlyList<ElectionCandidate> Candidates { get; init; } = [];
}

/// <summary>The outcome of a campaign: leader with a fencing token, or queued at a position.</summary>
public sealed record CampaignResult
{
    public string Name { get; init; } = "";

    public bool Leader { get; init; }

    public long? Token { get; init; }

    public int? Position { get; init; }
}

/// <summary>
/// What an observer of an election sees: the leader (session, value, token) or no leader, as of
/// <see cref="Revision"/>. Observations are coalesced: an observer sees the latest state after each
/// batch of election events, never a state older than one it already saw.
/// </summary>
public sealed record ElectionObservation(string Name, long Revision, long? LeaderSessionId, long? Token, JsonElement? Value)
{
    /// <summary>True when the election has a leader.</summary>
    public bool HasLeader => LeaderSessionId is not null;
}

/// <summary>A member of a group.</summary>
public sealed record GroupMember
{
    public string MemberId { get; init; } = "";

    public long SessionId { get; init; }

    public JsonElement? Metadata { get; init; }

    public long JoinedRevision { get; init; }

    public long UpdatedRevision { get; init; }
}

/// <summary>The members of one group.</summary>
public sealed record GroupMembers
{
    public string Group { get; init; } = "";

    public IReadOnlyList<GroupMember> Members { get; init; } = [];
}

/// <summary>
/// One change of a group's membership seen by a watcher. <see cref="Type"/> is the event type
/// (<c>member-joined</c>, <c>member-left</c>, <c>member-expired</c>, ...), or <c>resync</c> when the
/// event history no longer reached back: then <see cref="Members"/> holds the whole group as of <see cref="Revision"/>.
/// </summary>
public sealed record MembershipChange(string Group, long Revision, string Type, string? MemberId, long? SessionId, IReadOnlyList<GroupMember>? Members)
{
    /// <summary>The <see cref="Type"/> of a resynchronisation item.</summary>
    public const string ResyncType = "resync";
}

/// <summary>A config document. <see cref="Value"/> is the stored JSON value.</summary>
public sealed record ConfigDocument
{
    public string Name { get; init; } = "";

    public long Version { get; init; }

    public long Revision { get; init; }

    public long WrittenMs { get; init; }

    public JsonElement Value { get; init; }

    /// <summary>The answer's headers: for a stale read, how stale it may be. Not part of the JSON body.</summary>
    [JsonIgnore]
    public ReadMetadata? Read { get; init; }
}

/// <summary>The result of a config write: the new version and the revision that wrote it.</summary>
public sealed record ConfigWriteResult
{
    public string Name { get; init; } = "";

    public long Version { get; init; }

    public long Revision { get; init; }
}

/// <summary>One stored version of a config document.</summary>
public sealed record ConfigVersion
{
    public long Version { get; init; }

    public long Revision { get; init; }

    public long WrittenMs { get; init; }

    public JsonElement Value { get; init; }
}

/// <summary>The last stored versions of a config document, oldest first as the silo returns them.</summary>
public sealed record ConfigHistory
{
    public string Name { get; init; } = "";

    public IReadOnlyList<ConfigVersion> Versions { get; init; } = [];
}

/// <summary>
/// One change of a config document seen by a watcher. <see cref="Type"/> is the event type
/// (<c>config-put</c>, <c>config-deleted</c>, ...), or <c>resync</c> after the event history was
/// compacted: then <see cref="Document"/> is the document re-read at <see cref="Revision"/> (null when it does not exist).
/// </summary>
public sealed record ConfigChange(string Name, long Revision, string Type, long? Version, ConfigDocument? Document)
{
    /// <summary>The <see cref="Type"/> of a resynchronisation item.</summary>
    public const string ResyncType = "resync";

    /// <summary>True for a resynchronisation item.</summary>
    public bool IsResync => Type == ResyncType;
}

/// <summary>Values <see cref="First"/> .. <see cref="First"/> + <see cref="Count"/> - 1 of a sequence, unique and increasing.</summary>
public sealed record SequenceRange
{
    public string Name { get; init; } = "";

    public long First { get; init; }

    public int Count { get; init; }
}

/// <summary>One event of the cluster's event history (docs/api.md, "Events and watches").</summary>
public sealed record CoordinationEvent
{
    public long Revision { get; init; }

    public string Type { get; init; } = "";

    public string Kind { get; init; } = "";

    public string Name { get; init; } = "";

    public long? SessionId { get; init; }

    public long? Token { get; init; }

    public string? Subject { get; init; }

    public long? Version { get; init; }
}

/// <summary>One answer of the events long-poll.</summary>
public sealed record EventPage
{
    public bool Compacted { get; init; }

    public long ResumeAfter { get; init; }

    public IReadOnlyList<CoordinationEvent> Events { get; init; } = [];
}
