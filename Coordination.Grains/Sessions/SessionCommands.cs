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

/// <summary>
/// Proposed by a new leader instead of <see cref="ExtendAllSessions"/> (command level 3): every
/// session's deadline moves on by <paramref name="LeaderlessMs"/>, how long the new leader went
/// without hearing from a leader (the time no keep-alive could commit), and at most to the entry
/// time plus its TTL. A session already past its deadline by more than that stays past it, and the
/// next <see cref="AdvanceTime"/> expires it: with <see cref="ExtendAllSessions"/> every leader change
/// gave every session a whole TTL, so leadership changing more often than a TTL kept a crashed
/// client's session, and its locks, forever.
/// </summary>
public sealed record ExtendSessionsBy(long LeaderlessMs) : Command;

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
