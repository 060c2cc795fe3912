namespace Coordination.Grains;

/// <summary>A condition of an atomic transaction; all must hold when it is applied.</summary>
public abstract record TransactionCondition;

/// <summary>The document's current version is <paramref name="Version"/> (0: the document does not exist).</summary>
public sealed record ConfigVersionIs(string Name, long Version) : TransactionCondition;

/// <summary>The lock is held exclusively with fencing token <paramref name="Token"/>: the writer is the current holder.</summary>
public sealed record LockTokenIs(string LockName, ulong Token) : TransactionCondition;

/// <summary>An operation of an atomic transaction.</summary>
public abstract record TransactionOperation;

public sealed record PutConfigOperation(string Name, byte[] Value) : TransactionOperation;

public sealed record DeleteConfigOperation(string Name) : TransactionOperation;

public sealed record ReserveSequenceOperation(string Name, int Count) : TransactionOperation;

/// <summary>
/// Releases the session's hold of a lock (as <see cref="ReleaseLock"/>) in the same entry as the
/// other operations: a holder writes what it guarded and lets go in one step, and the next waiter's
/// grant (in this entry too) sees the write.
/// </summary>
public sealed record ReleaseLockOperation(string LockName, ulong SessionId, ulong Token) : TransactionOperation;

/// <summary>
/// Applies every operation or none, in one log entry (so every change carries the same revision):
/// if any condition fails or any operation would be refused, nothing changes. Each grain appears
/// at most once among the operations.
/// </summary>
public sealed record ApplyTransaction(IReadOnlyList<TransactionCondition> Conditions, IReadOnlyList<TransactionOperation> Operations) : Command;

/// <summary>The transaction applied; one result per operation, in order.</summary>
public sealed record TransactionApplied(IReadOnlyList<CommandResult> Results) : CommandResult;
