namespace Coordination.Consensus;

/// <summary>How the leader replicates to one follower.</summary>
public enum ReplicationState
{
    /// <summary>The follower's position is unknown: one append at a time until one is accepted.</summary>
    Probe,

    /// <summary>The follower keeps up: appends are pipelined, up to the in-flight limit.</summary>
    Replicate,

    /// <summary>The follower needs entries the leader has compacted: a snapshot is on its way.</summary>
    Snapshot,
}

/// <summary>The leader's knowledge of one member's log (Raft §5.3 nextIndex / matchIndex).</summary>
internal sealed class Progress(ulong next, int inflightAppendsMax)
{
    /// <summary>Highest index known to be replicated (persisted) on the member.</summary>
    public ulong Match { get; private set; }

    /// <summary>Next index to send.</summary>
    public ulong Next { get; private set; } = next;

    public ReplicationState State { get; private set; } = ReplicationState.Probe;

    /// <summary>In Probe: an append has been sent and not answered; wait before sending more.</summary>
    public bool ProbeSent { get; set; }

    /// <summary>In Snapshot: the index of the snapshot sent.</summary>
    public ulong PendingSnapshot { get; private set; }

    /// <summary>Ticks since the snapshot was sent; a lost snapshot is retried after a timeout.</summary>
    public int SnapshotElapsedTicks { get; set; }

    /// <summary>Heard from in the current check-quorum period.</summary>
    public bool RecentActive { get; set; }

    /// <summary>Match when the previous heartbeat was answered; no change means appends were lost.</summary>
    public ulong MatchAtLastHeartbeat { get; set; }

    /// <summary>Highest read-index round this member has confirmed (ReadIndex, Raft dissertation §6.4).</summary>
    public ulong ReadRoundAcked { get; set; }

    public Inflights Inflights { get; } = new(inflightAppendsMax);

    public bool IsPaused => State switch
    {
        ReplicationState.Probe => ProbeSent,
        ReplicationState.Replicate => Inflights.IsFull,
        _ => true,
    };

    public void BecomeProbe()
    {
        // After a snapshot, resume right after it; otherwise right after the last known match.
        Next = State == ReplicationState.Snapshot ? Math.Max(Match + 1, PendingSnapshot + 1) : Match + 1;
        ResetState(ReplicationState.Probe);
    }

    public void BecomeReplicate()
    {
        Next = Match + 1;
        ResetState(ReplicationState.Replicate);
    }

    public void BecomeSnapshot(ulong snapshotIndex)
    {
        ResetState(ReplicationState.Snapshot);
        PendingSnapshot = snapshotIndex;
    }

    private void ResetState(ReplicationState state)
    {
        State = state;
        ProbeSent = false;
        PendingSnapshot = 0;
        SnapshotElapsedTicks = 0;
        Inflights.Reset();
    }

    /// <summary>The member acknowledged up to <paramref name="index"/>; returns false for a stale acknowledgement.</summary>
    public bool MaybeUpdate(ulong index)
    {
        var updated = false;
        if (Match < index)
        {
            Match = index;
            updated = true;
            ProbeSent = false;
        }

        Next = Math.Max(Next, index + 1);
        return updated;
    }

    /// <summary>Records an append of <paramref name="count"/> entries ending at <paramref name="last"/>: pipelined ones advance Next optimistically.</summary>
    public void SentEntries(int count, ulong last)
    {
        if (State == ReplicationState.Replicate)
        {
            if (count == 0)
            {
                // An empty append only carries the commit index; it takes no in-flight slot.
                return;
            }

            Next = last + 1;
            Inflights.Add(last);
        }
        else
        {
            ProbeSent = true;
        }
    }

    /// <summary>
    /// The member rejected an append whose previous index was <paramref name="rejected"/>; it suggests
    /// trying <paramref name="hint"/> + 1 next. Returns false for a stale rejection.
    /// </summary>
    public bool MaybeDecreaseTo(ulong rejected, ulong hint)
    {
        if (State == ReplicationState.Replicate)
        {
            // Stale if the rejected append is one already known to match.
            if (rejected <= Match)
            {
                return false;
            }

            Next = Match + 1;
            return true;
        }

        // In Probe, only the answer to the probe in flight counts.
        if (Next - 1 != rejected)
        {
            return false;
        }

        Next = Math.Max(Math.Min(rejected, hint + 1), Match + 1);
        ProbeSent = false;
        return true;
    }

    public override string ToString() => $"{State} match={Match} next={Next}";
}

/// <summary>A bounded ring of the last index of each append in flight to one member.</summary>
internal sealed class Inflights(int capacity)
{
    private readonly ulong[] _buffer = new ulong[capacity];
    private int _start;

    public int Count { get; private set; }

    public bool IsFull => Count == _buffer.Length;

    public void Add(ulong last)
    {
        Invariant.Require(!IsFull, "cannot add to a full in-flight window");
        _buffer[(_start + Count) % _buffer.Length] = last;
        Count++;
    }

    /// <summary>Frees every append ending at or before <paramref name="index"/>.</summary>
    public void FreeLessOrEqual(ulong index)
    {
        while (Count > 0 && _buffer[_start] <= index)
        {
            _start = (_start + 1) % _buffer.Length;
            Count--;
        }
    }

    public void Reset()
    {
        _start = 0;
        Count = 0;
    }
}
