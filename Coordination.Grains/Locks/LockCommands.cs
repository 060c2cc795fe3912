namespace Coordination.Grains;

/// <summary>How a lock is held. Stable numeric values.</summary>
public enum LockMode : byte
{
    /// <summary>One holder at a time (the write side of a read/write lock).</summary>
    Exclusive = 1,

    /// <summary>Any number of shared holders (up to <see cref="Limits.HoldersPerLockMax"/>), never together with an exclusive one.</summary>
    Shared = 2,

    /// <summary>A counting semaphore: at most N holders, N given by <see cref="AcquireLock.Permits"/>.</summary>
    Semaphore = 3,
}

/// <summary>
/// Acquire lock <paramref name="Name"/> for <paramref name="SessionId"/>. Granted at once only if no
/// one waits (FIFO: nobody jumps the queue) and the mode is compatible with the holders; otherwise
/// rejected with <see cref="ErrorCode.LockBusy"/> when <paramref name="WaitMs"/> is 0 (try), or
/// queued until granted or until entry time + <paramref name="WaitMs"/>.
/// </summary>
/// <param name="Permits">For <see cref="LockMode.Semaphore"/> the number of permits N (1..<see cref="Limits.PermitsMax"/>), the same for every user of the lock while it is in use; 0 for the other modes.</param>
/// <param name="MaxHoldMs">0 for no limit, else the grant is revoked this long after it is made.</param>
public sealed record AcquireLock(string Name, ulong SessionId, LockMode Mode, int Permits = 0, long WaitMs = 0, long MaxHoldMs = 0) : Command;

/// <summary>Release the hold of <paramref name="SessionId"/>, proven by its fencing <paramref name="Token"/>; grants the next waiters in the same step.</summary>
public sealed record ReleaseLock(string Name, ulong SessionId, ulong Token) : Command;

/// <summary>
/// Withdraw whatever <paramref name="SessionId"/> has on lock <paramref name="Name"/>, for a caller
/// that gave up on an acquire whose outcome it does not know: its wait is removed, or (the grant
/// raced the give-up) its hold is released as by <see cref="ReleaseLock"/>, without the token it
/// never saw; either way the next waiters are granted in the same step. Nothing there is a success
/// too, so it may be repeated. One session should not acquire one lock twice at a time: this acts on
/// whatever the session has there.
/// </summary>
public sealed record AbandonLock(string Name, ulong SessionId) : Command;

/// <summary>
/// The lock was granted with fencing <paramref name="Token"/>: the log index of the grant, so
/// tokens of one lock never decrease, and an exclusive grant's token is above every earlier one.
/// </summary>
public sealed record LockGranted(string Name, ulong Token) : CommandResult;

/// <summary>The request waits at <paramref name="Position"/> (0 = next) in the FIFO queue.</summary>
public sealed record LockQueued(string Name, int Position) : CommandResult;

/// <summary>The hold ended; <paramref name="WaitersGranted"/> waiters were granted in the same step.</summary>
public sealed record LockReleased(string Name, ulong Token, int WaitersGranted) : CommandResult;

/// <summary>What an <see cref="AbandonLock"/> found. Stable numeric values.</summary>
public enum LockAbandonOutcome : byte
{
    /// <summary>The session neither held nor waited for the lock: nothing changed.</summary>
    Nothing = 0,

    /// <summary>The session's wait was removed (event <see cref="EventType.LockWaitEnded"/>).</summary>
    WaitWithdrawn = 1,

    /// <summary>The session's hold was released (event <see cref="EventType.LockReleased"/>).</summary>
    HoldReleased = 2,
}

/// <summary>
/// The session no longer holds or waits for the lock. <paramref name="Token"/> is the released
/// hold's token (0 unless <see cref="LockAbandonOutcome.HoldReleased"/>); <paramref name="WaitersGranted"/>
/// waiters were granted in the same step.
/// </summary>
public sealed record LockAbandoned(string Name, LockAbandonOutcome Outcome, ulong Token, int WaitersGranted) : CommandResult;

/// <summary>A current hold: granted at log time <paramref name="SinceMs"/>; revoked at <paramref name="RevokeAtMs"/> unless 0.</summary>
public sealed record LockHolder(ulong SessionId, LockMode Mode, ulong Token, long SinceMs, long RevokeAtMs);

/// <summary>A queued request: <paramref name="QueuedRevision"/> is the log index of its acquire; it gives up at <paramref name="DeadlineMs"/>.</summary>
public sealed record LockWaiter(ulong SessionId, LockMode Mode, ulong QueuedRevision, long QueuedAtMs, long DeadlineMs, long MaxHoldMs);

/// <summary>Introspection of one lock: holders with tokens and since when, waiters in queue order.</summary>
/// <param name="Permits">N for a semaphore in use; 0 otherwise.</param>
public sealed record LockInfo(string Name, int Permits, IReadOnlyList<LockHolder> Holders, IReadOnlyList<LockWaiter> Waiters);
