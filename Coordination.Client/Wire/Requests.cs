using System.Text.Json;

namespace Coordination.Client.Wire;

// Request and small answer bodies of docs/api.md that callers never see. Null fields are omitted on
// the wire (CoordinationJsonContext), which is how the contract says "absent" (e.g. expectedVersion).

internal sealed record CreateSessionRequest(long TtlMs);

internal sealed record SessionCreated(long SessionId, long TtlMs, long DeadlineMs);

internal sealed record SessionKeptAlive(long SessionId, long DeadlineMs);

internal sealed record SessionList(IReadOnlyList<SessionInfo>? Sessions);

internal sealed record AcquireLockRequest(long SessionId, string Mode, int? Permits, long WaitMs, long MaxHoldMs, string? ReadConfig = null);

internal sealed record LockGranted(string Name, long Token, ConfigDocument? Config = null);

internal sealed record ReleaseLockRequest(long SessionId, long Token);

internal sealed record LockReleased(string Name, long Token, int WaitersGranted);

internal sealed record AbandonLockRequest(long SessionId);

internal sealed record CampaignRequest(long SessionId, JsonElement? Value);

internal sealed record ProclaimRequest(long Token, JsonElement? Value);

internal sealed record Proclaimed(string Name, long Token);

internal sealed record ResignRequest(long SessionId);

internal sealed record Resigned(string Name, bool WasLeader);

internal sealed record JoinGroupRequest(long SessionId, JsonElement? Metadata);

internal sealed record UpdateMemberRequest(JsonElement? Metadata);

internal sealed record MemberRef(string Group, string MemberId);

internal sealed record PutConfigRequest(JsonElement Value, long? ExpectedVersion);

internal sealed record AddSiloRequest(long Id, string ClientUrl, string PeerAddress, string? Http2Url);

internal sealed record FencedPutRequest(JsonElement Value, string LockName, long Token);

internal sealed record RollbackRequest(long ToVersion, long? ExpectedVersion);

internal sealed record ConfigDeleted(string Name, long Version);

internal sealed record NextRequest(int Count);

internal sealed record SequenceLast(string Name, long Last);

/// <summary>An <c>application/problem+json</c> body; <see cref="Code"/> is the contract's stable error code.</summary>
internal sealed record Problem(string? Type, string? Title, int? Status, string? Detail, string? Code, JsonElement? Errors);

/// <summary>Marks a request without a body or an answer whose body the caller does not need.</summary>
internal sealed record Empty;

internal sealed record TransactionConditionWire(string Type, string? Name, long? Version, string? LockName, long? Token);

internal sealed record TransactionOperationWire(string Type, string Name, JsonElement? Value, int? Count, long? SessionId = null, long? Token = null);

internal sealed record TransactionRequest(IReadOnlyList<TransactionConditionWire> Conditions, IReadOnlyList<TransactionOperationWire> Operations);

internal sealed record DistributedParticipantWire(string Name, string Endpoint, JsonElement Work);

internal sealed record BeginDistributedTransactionRequest(string? Id, IReadOnlyList<DistributedParticipantWire> Participants, long? PrepareTimeoutMs);

internal sealed record AbortDistributedTransactionRequest(string? Reason);

internal sealed record DistributedTransactionList(IReadOnlyList<Coordination.Client.Transactions.DistributedTransactionView>? Transactions);
