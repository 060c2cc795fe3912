namespace Coordination.Grains;

/// <summary>Why something attached to a session is being removed without the client asking.</summary>
internal enum RemovalReason : byte
{
    SessionExpired = 1,
    SessionRevoked = 2,
    /// <summary>A lock waiter's deadline passed; its session lives on.</summary>
    WaitExpired = 3,
    /// <summary>A lock holder reached its maximum hold time; its session lives on.</summary>
    HoldExpired = 4,
}

/// <summary>One session's removal from one grain, applied together with the others of the same step.</summary>
internal readonly record struct Removal(ulong SessionId, RemovalReason Reason)
{
    /// <summary>The session itself ends, so the caller drops it with all its attachments at once.</summary>
    public bool EndsSession => Reason is RemovalReason.SessionExpired or RemovalReason.SessionRevoked;
}

/// <summary>What falls due at a deadline.</summary>
internal enum DeadlineKind : byte
{
    SessionExpiry = 1,
    LockWait = 2,
    LockHold = 3,
    /// <summary>A distributed transaction's vote deadline (name: the transaction id).</summary>
    TransactionPrepare = 4,
}

/// <summary>
/// A due time in log time. Totally ordered (time, kind, name, session) so that several deadlines
/// due at once are always handled in the same order on every replica.
/// </summary>
internal readonly record struct Deadline(long AtMs, DeadlineKind Kind, string Name, ulong SessionId) : IComparable<Deadline>
{
    public int CompareTo(Deadline other)
    {
        var c = AtMs.CompareTo(other.AtMs);
        if (c == 0) c = Kind.CompareTo(other.Kind);
        if (c == 0) c = string.CompareOrdinal(Name, other.Name);
        if (c == 0) c = SessionId.CompareTo(other.SessionId);
        return c;
    }
}

/// <summary>
/// Every pending deadline, ordered. Derived state: not written to snapshots but rebuilt from the
/// grains on restore, so it can never disagree with them.
/// </summary>
internal sealed class DeadlineIndex
{
    private readonly SortedSet<Deadline> _due = [];
    private long _takenThroughMs = long.MinValue;

    public int Count => _due.Count;

    public long? NextMs => _due.Count == 0 ? null : _due.Min.AtMs;

    public void Add(Deadline deadline) =>
        GrainInvariant.Require(_due.Add(deadline), $"Deadline {deadline} was already scheduled.");

    /// <summary>
    /// Unschedules a deadline. Inside <see cref="TakeAllDue"/>'s step, deadlines at or before that
    /// time were already taken out, so removing one of them is a no-op rather than an error.
    /// </summary>
    public void Remove(Deadline deadline)
    {
        if (deadline.AtMs <= _takenThroughMs)
        {
            return;
        }

        GrainInvariant.Require(_due.Remove(deadline), $"Deadline {deadline} was not scheduled.");
    }

    /// <summary>Removes and returns every deadline at or before <paramref name="nowMs"/>, in order. Lasts until <see cref="BeginStep"/>.</summary>
    public List<Deadline> TakeAllDue(long nowMs)
    {
        var due = new List<Deadline>();
        while (_due.Count > 0 && _due.Min.AtMs <= nowMs)
        {
            due.Add(_due.Min);
            _due.Remove(_due.Min);
        }

        _takenThroughMs = nowMs;
        return due;
    }

    /// <summary>Same deadlines scheduled (invariant checks and tests).</summary>
    public bool SameAs(DeadlineIndex other) => _due.SetEquals(other._due);

    /// <summary>Called before each log entry: forgets the previous step's <see cref="TakeAllDue"/>.</summary>
    public void BeginStep() => _takenThroughMs = long.MinValue;
}
