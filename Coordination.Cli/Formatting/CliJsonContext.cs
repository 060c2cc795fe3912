using System.Text.Json;
using System.Text.Json.Serialization;
using Coordination.Client;
using Coordination.Client.Transactions;

namespace Coordination.Cli.Formatting;

/// <summary>The <c>--json</c> output: the client's models as camelCase JSON, one document per line.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true)]
[JsonSerializable(typeof(ClusterStatus))]
[JsonSerializable(typeof(LockInfo))]
[JsonSerializable(typeof(LockAcquired))]
[JsonSerializable(typeof(LockReleasedOutput))]
[JsonSerializable(typeof(LockAbandonment))]
[JsonSerializable(typeof(ElectionObservation))]
[JsonSerializable(typeof(IReadOnlyList<GroupMember>))]
[JsonSerializable(typeof(MembershipChange))]
[JsonSerializable(typeof(ConfigDocument))]
[JsonSerializable(typeof(ConfigWriteResult))]
[JsonSerializable(typeof(ConfigHistory))]
[JsonSerializable(typeof(ConfigChange))]
[JsonSerializable(typeof(IReadOnlyList<SessionInfo>))]
[JsonSerializable(typeof(TransactionResult))]
[JsonSerializable(typeof(DistributedTransactionView))]
[JsonSerializable(typeof(IReadOnlyList<DistributedTransactionView>))]
[JsonSerializable(typeof(DistributedTransactionOutcome))]
[JsonSerializable(typeof(JsonElement))]
internal sealed partial class CliJsonContext : JsonSerializerContext;

/// <summary>What <c>coord lock acquire</c> reports: who holds what, with which fencing token.</summary>
internal sealed record LockAcquired(string Name, long SessionId, long Token, string Mode, bool SessionCreated);

/// <summary>What <c>coord lock release</c> reports.</summary>
internal sealed record LockReleasedOutput(string Name, long SessionId, long Token, int WaitersGranted);
