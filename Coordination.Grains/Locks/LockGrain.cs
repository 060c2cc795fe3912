namespace Coordination.Grains;

/// <summary>
/// The lock commands. Each handler validates everything first and changes state only when it
/// will succeed, so a rejection leaves the lock, the sessions and the history untouched.
/// Called by <see cref="CoordinationStateMachine"/> only, one entry at a time.
/// </summary>
internal static class LockGrain
{
    private const GrainKind Kind = GrainKind.Lock;

    /// <summary>The refusal of an acquire's own arguments, whatever the lock's state (the gateway asks before proposing).</summary>
    public static Rejected? CheckArguments(AcquireLock c)
    {
        if (!Enum.IsDefined(c.Mode))
        {
            return new Rejected(ErrorCode.InvalidArgument, $"Unknown lock mode {c.Mode}.");
        }

        var permitsValid = c.Mode == LockMode.Semaphore ? c.Permits is >= 1 and <= Limits.PermitsMax : c.Permits == 0;
        if (!permitsValid)
        {
            return new Rejected(ErrorCode.InvalidArgument, $"Permits must be 1..{Limits.PermitsMax} for a semaphore and 0 otherwise.");
        }

        return c.WaitMs is < 0 or > Limits.LockWaitMsMax || c.MaxHoldMs is < 0 or > Limits.LockHoldMsMax
            ? new Rejected(ErrorCode.InvalidArgument, $"WaitMs must be 0..{Limits.LockWaitMsMax} and MaxHoldMs 0..{Limits.LockHoldMsMax}.")
            : null;
    }

    public static CommandResult Acquire(LockState state, AcquireLock c, StepContext ctx)
    {
        if (CheckArguments(c) is { } refused)
        {
            return refused;
        }

        if (!state.IsEmpty && state.Permits != c.Permits)
        {
            return new Rejected(ErrorCode.InvalidArgument, state.Permits == 0
                ? $"Lock '{c.Name}' is in use as a read/write lock."
                : $"Lock '{c.Name}' is in use as a semaphore of {state.Permits} permits.");
        }

        if (ctx.Sessions.CheckAttach(c.SessionId, Kind, c.Name, ctx.NowMs) is { } sessionRejected)
        {
            return sessionRejected;
        }

        // FIFO: a request is granted at once only when nobody waits, so no one jumps the queue.
        if (state.WaiterCount == 0 && (state.IsEmpty || state.CanGrant(c.Mode)))
        {
            state.Permits = c.Permits;
            ctx.Sessions.Attach(c.SessionId, Kind, c.Name);
            return new LockGranted(c.Name, Grant(state, c.Name, c.SessionId, c.Mode, c.MaxHoldMs, ctx));
        }

        if (c.WaitMs == 0)
        {
            return new Rejected(ErrorCode.LockBusy, $"Lock '{c.Name}' is not available.");
        }

        if (state.WaiterCount >= Limits.WaitersPerLockMax)
        {
            return new Rejected(ErrorCode.LimitExceeded, $"Lock '{c.Name}' has {Limits.WaitersPerLockMax} waiters (WaitersPerLockMax).");
        }

        var waiter = new LockWaiter(c.SessionId, c.Mode, ctx.Index, ctx.NowMs, ctx.NowMs + c.WaitMs, c.MaxHoldMs);
        state.EnsureWaiters().Add(waiter);
        ctx.Deadlines.Add(WaitDeadline(c.Name, waiter));
        ctx.Sessions.Attach(c.SessionId, Kind, c.Name);
        ctx.Emit(EventType.LockQueued, Kind, c.Name, c.SessionId);
        return new LockQueued(c.Name, state.WaiterCount - 1);
    }

    /// <summary>Why a release would be refused (null: it would succeed); shared by release and transactions.</summary>
    public static Rejected? CheckRelease(LockState? state, string name, ulong sessionId, ulong token)
    {
        var index = state?.HolderIndex(sessionId) ?? -1;
        if (index < 0)
        {
            return new Rejected(ErrorCode.LockNotHeld, $"Session {sessionId} does not hold lock '{name}'.");
        }

        return state!.Holders[index].Token == token
            ? null
            : new Rejected(ErrorCode.WrongToken, $"Lock '{name}' is held by session {sessionId} with another token.");
    }

    public static CommandResult Release(LockState state, ReleaseLock c, StepContext ctx)
    {
        if (CheckRelease(state, c.Name, c.SessionId, c.Token) is { } refused)
        {
            return refused;
        }

        var (token, granted) = ReleaseHold(state, c.Name, c.SessionId, state.HolderIndex(c.SessionId), ctx);
        return new LockReleased(c.Name, token, granted);
    }

    /// <summary>Ends the hold at <paramref name="index"/> as a release does, and grants the queue; returns the hold's token and how many were granted.</summary>
    private static (ulong Token, int Granted) ReleaseHold(LockState state, string name, ulong sessionId, int index, StepContext ctx)
    {
        var token = state.Holders[index].Token;
        RemoveHolder(state, name, index, EventType.LockReleased, ctx);
        ctx.Sessions.Detach(sessionId, Kind, name);
        return (token, GrantWaiters(state, name, ctx));
    }

    /// <summary>
    /// Withdraws the session's wait or releases its hold, whichever it has; a success with nothing
    /// to do otherwise, so a caller unsure whether its acquire was queued or granted can always send it.
    /// </summary>
    public static CommandResult Abandon(LockState state, AbandonLock c, StepContext ctx)
    {
        var holder = state.HolderIndex(c.SessionId);
        if (holder >= 0)
        {
            var (token, granted) = ReleaseHold(state, c.Name, c.SessionId, holder, ctx);
            return new LockAbandoned(c.Name, LockAbandonOutcome.HoldReleased, token, granted);
        }

        if (state.WaiterIndex(c.SessionId) >= 0)
        {
            RemoveWaiter(state, c.Name, c.SessionId, ctx);
            ctx.Sessions.Detach(c.SessionId, Kind, c.Name);
            // Removing a waiter can unblock those behind it (a shared waiter behind an exclusive head).
            return new LockAbandoned(c.Name, LockAbandonOutcome.WaitWithdrawn, 0, GrantWaiters(state, c.Name, ctx));
        }

        return new LockAbandoned(c.Name, LockAbandonOutcome.Nothing, 0, 0);
    }

    /// <summary>
    /// Removes every hold and wait in <paramref name="removals"/> (ended sessions, passed wait
    /// deadlines, maximum hold times), then grants the queue once. Doing it as one batch means at
    /// most one exclusive grant per lock per step, so exclusive tokens strictly increase.
    /// </summary>
    public static (int WaitsExpired, int HoldsRevoked) Remove(LockState state, string name, IReadOnlyList<Removal> removals, StepContext ctx)
    {
        int waits = 0, holds = 0;
        foreach (var removal in removals)
        {
            var holder = state.HolderIndex(removal.SessionId);
            if (holder >= 0)
            {
                GrainInvariant.Require(removal.Reason != RemovalReason.WaitExpired, $"Wait deadline for a holder of lock '{name}'.");
                holds += removal.Reason == RemovalReason.HoldExpired ? 1 : 0;
                RemoveHolder(state, name, holder, removal.Reason == RemovalReason.HoldExpired ? EventType.LockHoldRevoked : EventType.LockReleased, ctx);
            }
            else
            {
                GrainInvariant.Require(removal.Reason != RemovalReason.HoldExpired, $"Hold deadline for a waiter of lock '{name}'.");
                waits += removal.Reason == RemovalReason.WaitExpired ? 1 : 0;
                RemoveWaiter(state, name, removal.SessionId, ctx);
            }

            if (!removal.EndsSession)
            {
                ctx.Sessions.Detach(removal.SessionId, Kind, name);
            }
        }

        // Removing a waiter can unblock those behind it (a shared waiter behind an exclusive one).
        GrantWaiters(state, name, ctx);
        return (waits, holds);
    }

    /// <summary>Grants queued requests from the head while they are compatible; stops at the first that is not (FIFO).</summary>
    private static int GrantWaiters(LockState state, string name, StepContext ctx)
    {
        var granted = 0;
        while (state.WaiterCount > 0 && state.CanGrant(state.Waiters![0].Mode))
        {
            var waiter = state.Waiters[0];
            state.Waiters.RemoveAt(0);
            ctx.Deadlines.Remove(WaitDeadline(name, waiter));
            Grant(state, name, waiter.SessionId, waiter.Mode, waiter.MaxHoldMs, ctx);
            granted++;
        }

        state.DropWaitersIfEmpty();
        ResetIfEmpty(state);
        return granted;
    }

    /// <summary>The fencing token is the log index of the grant (ARCHITECTURE.md, "Fencing").</summary>
    private static ulong Grant(LockState state, string name, ulong sessionId, LockMode mode, long maxHoldMs, StepContext ctx)
    {
        GrainInvariant.Require(state.Holders.Count == 0 || state.Holders[^1].Token <= ctx.Index, $"Lock '{name}': fencing token would go backwards.");
        var holder = new LockHolder(sessionId, mode, ctx.Index, ctx.NowMs, maxHoldMs == 0 ? 0 : ctx.NowMs + maxHoldMs);
        state.Holders.Add(holder);
        if (holder.RevokeAtMs != 0)
        {
            ctx.Deadlines.Add(HoldDeadline(name, holder));
        }

        ctx.Emit(EventType.LockGranted, Kind, name, sessionId, holder.Token);
        return holder.Token;
    }

    private static void RemoveHolder(LockState state, string name, int index, EventType reason, StepContext ctx)
    {
        var holder = state.Holders[index];
        state.Holders.RemoveAt(index);
        if (holder.RevokeAtMs != 0)
        {
            ctx.Deadlines.Remove(HoldDeadline(name, holder));
        }

        ctx.Emit(reason, Kind, name, holder.SessionId, holder.Token);
        ResetIfEmpty(state);
    }

    private static void RemoveWaiter(LockState state, string name, ulong sessionId, StepContext ctx)
    {
        var index = state.WaiterIndex(sessionId);
        GrainInvariant.Require(index >= 0, $"Session {sessionId} neither holds nor waits for lock '{name}'.");
        var waiter = state.Waiters![index];
        state.Waiters.RemoveAt(index);
        ctx.Deadlines.Remove(WaitDeadline(name, waiter));

        ctx.Emit(EventType.LockWaitEnded, Kind, name, sessionId);
        state.DropWaitersIfEmpty();
        ResetIfEmpty(state);
    }

    /// <summary>An unused lock forgets its semaphore size, so its next user may pick any mode.</summary>
    private static void ResetIfEmpty(LockState state)
    {
        if (state.IsEmpty)
        {
            state.Permits = 0;
        }
    }

    public static Deadline WaitDeadline(string name, LockWaiter waiter) => new(waiter.DeadlineMs, DeadlineKind.LockWait, name, waiter.SessionId);

    public static Deadline HoldDeadline(string name, LockHolder holder) => new(holder.RevokeAtMs, DeadlineKind.LockHold, name, holder.SessionId);
}
