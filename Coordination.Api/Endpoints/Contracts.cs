using System.Text.Json;
using Coordination.Grains;

namespace Coordination.Api.Endpoints;

// Request and response bodies of the REST API (docs/api.md). Records with camelCase JSON.
public sealed record CreateSessionRequest(long TtlMs);

public sealed record SessionResponse(ulong SessionId, long TtlMs, long DeadlineMs);

public sealed record SessionKeepAliveResponse(ulong SessionId, long DeadlineMs);

public sealed record SessionIdResponse(ulong SessionId);

public sealed record AttachmentDto(string Kind, string Name);

public sealed record SessionInfoResponse(ulong SessionId, long TtlMs, long CreatedMs, long DeadlineMs, IReadOnlyList<AttachmentDto> Attachments);

public sealed record SessionListResponse(IReadOnlyList<SessionInfoResponse> Sessions);

/// <param name="ReadConfig">A config document to read as of the grant and return with it (the data the lock guards): one round trip less per critical section.</param>
public sealed record AcquireLockRequest(ulong SessionId, string? Mode, int Permits, long WaitMs, long MaxHoldMs, string? ReadConfig = null);

/// <param name="Config">The document the acquire named in <c>readConfig</c>, read on the granting silo once the grant was applied (so it holds every write of earlier holders); version 0 when it does not exist; left out when not asked, or when the read could not be made (read it yourself).</param>
public sealed record LockGrantResponse(string Name, ulong Token, [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] ConfigResponse? Config = null);

public sealed record ReleaseLockRequest(ulong SessionId, ulong Token);

public sealed record LockReleaseResponse(string Name, ulong Token, int WaitersGranted);

public sealed record AbandonLockRequest(ulong SessionId);

/// <param name="Outcome"><c>withdrawn</c> (the wait was removed), <c>released</c> (the hold was, <paramref name="Token"/> its token) or <c>none</c>.</param>
public sealed record LockAbandonResponse(string Name, string Outcome, ulong? Token, int WaitersGranted);

public sealed record LockHolderDto(ulong SessionId, string Mode, ulong Token, long SinceMs, long RevokeAtMs);

public sealed record LockWaiterDto(ulong SessionId, string Mode, ulong QueuedRevision, long QueuedAtMs, long DeadlineMs);

public sealed record LockInfoResponse(string Name, int Permits, IReadOnlyList<LockHolderDto> Holders, IReadOnlyList<LockWaiterDto> Waiters);

public sealed record CampaignRequest(ulong SessionId, JsonElement? Value);

public sealed record CampaignResponse(string Name, bool Leader, ulong? Token, int? Position);

public sealed record ProclaimRequest(ulong Token, JsonElement? Value);

public sealed record ProclaimResponse(string Name, ulong Token);

public sealed record ResignRequest(ulong SessionId);

public sealed record ResignResponse(string Name, bool WasLeader);

public sealed record CandidateDto(ulong SessionId, JsonElement? Value, long JoinedMs);

public sealed record ElectionResponse(string Name, CandidateDto? Leader, ulong Token, long SinceMs, IReadOnlyList<CandidateDto> Candidates);

public sealed record JoinRequest(ulong SessionId, JsonElement? Metadata);

public sealed record UpdateMemberRequest(JsonElement? Metadata);

public sealed record MemberResponse(string Group, string MemberId);

public sealed record MemberDto(string MemberId, ulong SessionId, JsonElement? Metadata, ulong JoinedRevision, ulong UpdatedRevision);

public sealed record GroupResponse(string Group, IReadOnlyList<MemberDto> Members);

public sealed record ConfigResponse(string Name, long Version, ulong Revision, long WrittenMs, JsonElement? Value);

public sealed record PutConfigRequest(JsonElement? Value, long? ExpectedVersion);

public sealed record ConfigWriteResponse(string Name, long Version, ulong Revision);

public sealed record ConfigDeleteResponse(string Name, long Version);

public sealed record ConfigVersionDto(long Version, ulong Revision, long WrittenMs, JsonElement? Value);

public sealed record ConfigHistoryResponse(string Name, IReadOnlyList<ConfigVersionDto> Versions);

public sealed record RollbackRequest(long ToVersion, long? ExpectedVersion);

public sealed record FencedPutRequest(JsonElement? Value, string? LockName, ulong Token);

public sealed record NextSequenceRequest(int Count);

public sealed record SequenceReservedResponse(string Name, ulong First, int Count);

public sealed record SequenceResponse(string Name, ulong Last);

public sealed record EventDto(ulong Revision, string Type, string Kind, string Name, ulong SessionId, ulong Token, string Subject, long Version);

public sealed record EventsResponse(bool Compacted, ulong ResumeAfter, IReadOnlyList<EventDto> Events);

/// <summary>Kebab-case names for enums on the wire.</summary>
internal static class WireNames
{
    public static string Of(LockMode mode) => mode switch
    {
        LockMode.Exclusive => "exclusive",
        LockMode.Shared => "shared",
        _ => "semaphore",
    };

    public static LockMode? ParseMode(string? mode) => mode switch
    {
        null or "" or "exclusive" => LockMode.Exclusive,
        "shared" => LockMode.Shared,
        "semaphore" => LockMode.Semaphore,
        _ => null,
    };

    public static string Of(LockAbandonOutcome outcome) => outcome switch
    {
        LockAbandonOutcome.WaitWithdrawn => "withdrawn",
        LockAbandonOutcome.HoldReleased => "released",
        _ => "none",
    };

    public static string Of(GrainKind kind) => kind.ToString().ToLowerInvariant();

    public static GrainKind? ParseKind(string? kind) =>
        Enum.TryParse<GrainKind>(kind, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) ? parsed : null;

    public static string Of(EventType type) => JsonNamingPolicy.KebabCaseLower.ConvertName(type.ToString());

    public static EventDto Of(GrainEvent e) => new(e.Revision, Of(e.Type), Of(e.Kind), e.Name, e.SessionId, e.Token, e.Subject, e.Version);
}
