using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coordination.Client.Participants;

/// <summary>A coordinator's <c>POST {endpoint}/prepare</c> body.</summary>
internal sealed record PrepareCall(string? TransactionId, string? Participant, JsonElement? Work);

/// <summary>A coordinator's <c>POST {endpoint}/commit</c> or <c>/abort</c> body.</summary>
internal sealed record DecisionCall(string? TransactionId, string? Participant);

/// <summary>The answer to a prepare.</summary>
internal sealed record VoteAnswer(string Vote, string? Reason);

/// <summary>The answer to a commit or abort.</summary>
internal sealed record DecisionAcknowledged(string TransactionId, string State);

/// <summary>Source-generated serializers for the participant protocol and the journal (camelCase, nulls omitted).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PrepareCall))]
[JsonSerializable(typeof(DecisionCall))]
[JsonSerializable(typeof(VoteAnswer))]
[JsonSerializable(typeof(DecisionAcknowledged))]
[JsonSerializable(typeof(JournalLine))]
internal sealed partial class ParticipantJsonContext : JsonSerializerContext;
