namespace Coordination.Grains;

/// <summary>
/// One lock: holders in grant order and a FIFO queue of waiters. Empty (and so inactive) when no
/// one holds or waits. <see cref="Permits"/> is meaningful only while non-empty.
/// </summary>
internal sealed class LockState : IGrainState<LockState>
{
    public int Permits { get; set; }

    public List<LockHolder> Holders { get; } = new(1);

    // Allocated on first wait: most locks never queue anyone.
    public List<LockWaiter>? Waiters { get; private set; }

    public int WaiterCount => Waiters?.Count ?? 0;

    public bool IsEmpty => Holders.Count == 0 && WaiterCount == 0;

    public List<LockWaiter> EnsureWaiters() => Waiters ??= [];

    public void DropWaitersIfEmpty()
    {
        if (Waiters is { Count: 0 })
        {
            Waiters = null;
        }
    }

    /// <summary>Whether a request in <paramref name="mode"/> is compatible with the current holders.</summary>
    public bool CanGrant(LockMode mode) => mode switch
    {
        LockMode.Exclusive => Holders.Count == 0,
        LockMode.Shared => Holders.Count == 0 || (Holders[0].Mode == LockMode.Shared && Holders.Count < Limits.HoldersPerLockMax),
        LockMode.Semaphore => Holders.Count < Permits,
        _ => false,
    };

    public int HolderIndex(ulong sessionId) => Holders.FindIndex(h => h.SessionId == sessionId);

    public int WaiterIndex(ulong sessionId) => Waiters?.FindIndex(w => w.SessionId == sessionId) ?? -1;

    public void CheckInvariants(string name, bool full)
    {
        var exclusive = Holders.Count(h => h.Mode == LockMode.Exclusive);
        var semaphore = Holders.Count(h => h.Mode == LockMode.Semaphore) + (Waiters?.Count(w => w.Mode == LockMode.Semaphore) ?? 0);
        GrainInvariant.Require(exclusive == 0 || Holders.Count == 1, $"Lock '{name}': an exclusive holder is not alone.");
        GrainInvariant.Require(semaphore == 0 || semaphore == Holders.Count + WaiterCount, $"Lock '{name}': semaphore and read/write requests are mixed.");
        GrainInvariant.Require(semaphore == 0 ? Permits == 0 : Permits is >= 1 and <= Limits.PermitsMax, $"Lock '{name}': permits {Permits} do not match its mode.");
        GrainInvariant.Require(Holders.Count <= Math.Max(Permits, Limits.HoldersPerLockMax) && Holders.Count <= Limits.HoldersPerLockMax, $"Lock '{name}' has too many holders.");
        GrainInvariant.Require(semaphore == 0 || Holders.Count <= Permits, $"Lock '{name}': more holders than permits.");
        GrainInvariant.Require(WaiterCount <= Limits.WaitersPerLockMax, $"Lock '{name}' has too many waiters.");
        GrainInvariant.Require(Waiters is null || Waiters.Count > 0, $"Lock '{name}' keeps an empty waiter list.");
        // No lost wake-up: a waiter at the head that could be granted must already have been.
        GrainInvariant.Require(WaiterCount == 0 || !CanGrant(Waiters![0].Mode), $"Lock '{name}': the head waiter is grantable but still waits.");
        if (!full)
        {
            return;
        }

        var sessions = new HashSet<ulong>();
        foreach (var h in Holders)
        {
            GrainInvariant.Require(sessions.Add(h.SessionId), $"Lock '{name}': session {h.SessionId} appears twice.");
        }

        foreach (var w in Waiters ?? [])
        {
            GrainInvariant.Require(sessions.Add(w.SessionId), $"Lock '{name}': session {w.SessionId} appears twice.");
        }
    }

    public void Write(BinaryEncoder encoder)
    {
        encoder.WriteInt32(Permits);
        encoder.WriteCount(Holders.Count);
        foreach (var h in Holders)
        {
            encoder.WriteUInt64(h.SessionId);
            encoder.WriteByte((byte)h.Mode);
            encoder.WriteUInt64(h.Token);
            encoder.WriteInt64(h.SinceMs);
            encoder.WriteInt64(h.RevokeAtMs);
        }

        encoder.WriteCount(WaiterCount);
        foreach (var w in Waiters ?? [])
        {
            encoder.WriteUInt64(w.SessionId);
            encoder.WriteByte((byte)w.Mode);
            encoder.WriteUInt64(w.QueuedRevision);
            encoder.WriteInt64(w.QueuedAtMs);
            encoder.WriteInt64(w.DeadlineMs);
            encoder.WriteInt64(w.MaxHoldMs);
        }
    }

    public static LockState Read(ref BinaryDecoder decoder)
    {
        var state = new LockState { Permits = decoder.ReadInt32() };
        var holders = decoder.ReadCount(Limits.HoldersPerLockMax);
        for (var i = 0; i < holders; i++)
        {
            state.Holders.Add(new LockHolder(decoder.ReadUInt64(), decoder.ReadEnum<LockMode>(), decoder.ReadUInt64(), decoder.ReadInt64(), decoder.ReadInt64()));
        }

        var waiters = decoder.ReadCount(Limits.WaitersPerLockMax);
        for (var i = 0; i < waiters; i++)
        {
            state.EnsureWaiters().Add(new LockWaiter(decoder.ReadUInt64(), decoder.ReadEnum<LockMode>(), decoder.ReadUInt64(), decoder.ReadInt64(), decoder.ReadInt64(), decoder.ReadInt64()));
        }

        return state;
    }

    public LockInfo ToInfo(string name) => new(name, Permits, [.. Holders], [.. Waiters ?? []]);
}
