namespace Coordination.Grains;

/// <summary>Opens a session whose deadline is the entry time plus <paramref name="TtlMs"/>; the session id is the entry's log index.</summary>
public sealed record CreateSession(long TtlMs) : Command;

/// <summary>Keep-alive: moves the deadline to the entry time plus the TTL. Rejected once the deadline has passed.</summary>
public sealed record RenewSession(ulong SessionId) : Command;

/// <summary>Closes a session now, releasing everything attached to it in this step.</summary>
public sealed record RevokeSession(ulong SessionId) : Command;

/// <summary>
/// Proposed by the leader when its clock reaches <see cref="CoordinationStateMachine.NextDeadlineMs"/>:
/// at the entry time, expires every due session (with everything attached), lock wait and
/// maximum hold, granting the next waiters and promoting the next candidates in the same step.
/// </summary>
public sealed record AdvanceTime : Command;

/// <summary>
/// Proposed by a new leader before anything else: every session's deadline becomes at least the
/// entry time plus its TTL, so the time without a leader never expires a live client.
/// </summary>
public sealed record ExtendAllSessions : Command;

public sealed record SessionCreated(ulong SessionId, long TtlMs, long DeadlineMs) : CommandResult;

public sealed record SessionRenewed(ulong SessionId, long DeadlineMs) : CommandResult;

public sealed record SessionRevoked(ulong SessionId) : CommandResult;

public sealed record TimeAdvanced(long NowMs, int SessionsExpired, int LockWaitsExpired, int LockHoldsRevoked) : CommandResult;

public sealed record SessionsExtended(int Count) : CommandResult;

/// <summary>A grain a session is attached to (it holds or waits for a lock, campaigns, or is a member).</summary>
public readonly record struct Attachment(GrainKind Kind, string Name) : IComparable<Attachment>
{
    public int CompareTo(Attachment other)
    {
        var c = Kind.CompareTo(other.Kind);
        return c != 0 ? c : string.CompareOrdinal(Name, other.Name);
    }
}

/// <summary>A session as the host sees it: id, lease and what would be released with it.</summary>
public sealed record SessionInfo(ulong SessionId, long TtlMs, long CreatedMs, long DeadlineMs, IReadOnlyList<Attachment> Attachments);
