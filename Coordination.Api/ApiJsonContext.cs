using System.Text.Json;
using System.Text.Json.Serialization;
using Coordination.Api.Endpoints;

namespace Coordination.Api;

/// <summary>
/// Serialization metadata for every REST body, generated at compile time: no reflection or
/// runtime code generation on the request path. First in the gateway's resolver chain; anything
/// not listed (the small anonymous health answers) still falls back to reflection.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(CreateSessionRequest))]
[JsonSerializable(typeof(SessionResponse))]
[JsonSerializable(typeof(SessionKeepAliveResponse))]
[JsonSerializable(typeof(SessionIdResponse))]
[JsonSerializable(typeof(SessionInfoResponse))]
[JsonSerializable(typeof(SessionListResponse))]
[JsonSerializable(typeof(AcquireLockRequest))]
[JsonSerializable(typeof(LockGrantResponse))]
[JsonSerializable(typeof(ReleaseLockRequest))]
[JsonSerializable(typeof(LockReleaseResponse))]
[JsonSerializable(typeof(AbandonLockRequest))]
[JsonSerializable(typeof(LockAbandonResponse))]
[JsonSerializable(typeof(LockInfoResponse))]
[JsonSerializable(typeof(CampaignRequest))]
[JsonSerializable(typeof(CampaignResponse))]
[JsonSerializable(typeof(ProclaimRequest))]
[JsonSerializable(typeof(ProclaimResponse))]
[JsonSerializable(typeof(ResignRequest))]
[JsonSerializable(typeof(ResignResponse))]
[JsonSerializable(typeof(ElectionResponse))]
[JsonSerializable(typeof(JoinRequest))]
[JsonSerializable(typeof(UpdateMemberRequest))]
[JsonSerializable(typeof(MemberResponse))]
[JsonSerializable(typeof(GroupResponse))]
[JsonSerializable(typeof(ConfigResponse))]
[JsonSerializable(typeof(PutConfigRequest))]
[JsonSerializable(typeof(ConfigWriteResponse))]
[JsonSerializable(typeof(ConfigDeleteResponse))]
[JsonSerializable(typeof(ConfigHistoryResponse))]
[JsonSerializable(typeof(RollbackRequest))]
[JsonSerializable(typeof(FencedPutRequest))]
[JsonSerializable(typeof(NextSequenceRequest))]
[JsonSerializable(typeof(SequenceReservedResponse))]
[JsonSerializable(typeof(SequenceResponse))]
[JsonSerializable(typeof(EventDto))]
[JsonSerializable(typeof(EventsResponse))]
[JsonSerializable(typeof(TransactionRequest))]
[JsonSerializable(typeof(TransactionResponse))]
[JsonSerializable(typeof(BeginDistributedTransactionRequest))]
[JsonSerializable(typeof(AbortDistributedTransactionRequest))]
[JsonSerializable(typeof(DistributedTransactionResponse))]
[JsonSerializable(typeof(DistributedTransactionListResponse))]
[JsonSerializable(typeof(DistributedOutcomeResponse))]
[JsonSerializable(typeof(ClusterView))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
