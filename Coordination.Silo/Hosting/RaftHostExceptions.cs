namespace Coordination.Silo.Hosting;

/// <summary>This silo is not the leader and cannot take the request; <see cref="LeaderId"/> is the leader it knows, or 0.</summary>
public sealed class NotLeaderException(ulong leaderId) : Exception(leaderId == 0 ? "no leader is known" : $"silo {leaderId} is the leader")
{
    public ulong LeaderId { get; } = leaderId;
}

/// <summary>The proposal's entry was replaced by another leader's: it was not applied and can be retried.</summary>
public sealed class ProposalDroppedException() : Exception("the proposal was overwritten by a new leader and not applied");

/// <summary>The silo refused work to protect itself (a queue or limit is full).</summary>
public sealed class OverloadedException(string what) : Exception($"overloaded: {what}");
