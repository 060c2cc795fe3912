using System.Text.Json;

namespace Coordination.Client.Transactions;

/// <summary>A condition of an internal transaction (docs/api.md, "Transactions"): all must hold, or nothing is applied.</summary>
public abstract record TransactionCondition
{
    private protected TransactionCondition()
    {
    }
}

/// <summary>Config document <paramref name="Name"/> is at version <paramref name="Version"/> (0: it does not exist).</summary>
public sealed record ConfigVersionIs(string Name, long Version) : TransactionCondition;

/// <summary>Config document <paramref name="Name"/> does not exist.</summary>
public sealed record ConfigAbsent(string Name) : TransactionCondition;

/// <summary><paramref name="Token"/> is the current exclusive hold of lock <paramref name="LockName"/> (a fenced transaction).</summary>
public sealed record LockTokenIs(string LockName, long Token) : TransactionCondition;

/// <summary>An operation of an internal transaction; all are applied in one log entry, in the order given.</summary>
public abstract record TransactionOperation
{
    private protected TransactionOperation()
    {
    }
}

/// <summary>Writes config document <paramref name="Name"/>.</summary>
public sealed record PutOperation(string Name, JsonElement Value) : TransactionOperation;

/// <summary>Deletes config document <paramref name="Name"/>; the whole transaction is refused when it does not exist.</summary>
public sealed record DeleteOperation(string Name) : TransactionOperation;

/// <summary>Takes <paramref name="Count"/> values of sequence <paramref name="Name"/>.</summary>
public sealed record NextOperation(string Name, int Count) : TransactionOperation;

/// <summary>
/// Releases session <paramref name="SessionId"/>'s hold <paramref name="Token"/> of lock <paramref name="LockName"/>
/// in the same entry as the other operations: write what the lock guards and let go in one step.
/// </summary>
public sealed record ReleaseLockOperation(string LockName, long SessionId, long Token) : TransactionOperation;

/// <summary>
/// An internal transaction: conditions and operations the cluster applies all or nothing, in one log entry
/// (<c>POST /v1/transactions</c>). Build one with <see cref="TransactionBuilder"/>; commit it with
/// <see cref="CoordinationClient.CommitTransactionAsync"/>. Immutable.
/// </summary>
public sealed record Transaction(IReadOnlyList<TransactionCondition> Conditions, IReadOnlyList<TransactionOperation> Operations)
{
    /// <summary>The most operations one transaction may hold (the silo's <c>TransactionOperationsMax</c>).</summary>
    public const int OperationsMax = 64;

    /// <summary>The most conditions one transaction may hold (the silo's <c>TransactionConditionsMax</c>).</summary>
    public const int ConditionsMax = 64;
}

/// <summary>
/// Collects the conditions and operations of a <see cref="Transaction"/>. Not thread-safe; one builder per transaction.
/// </summary>
/// <example>
/// <code>
/// var txn = new TransactionBuilder()
///     .ConfigVersionIs("accounts/a", 3).ConfigAbsent("accounts/c")
///     .Put("accounts/a", a).Put("accounts/c", c).Next("transfer-ids")
///     .Build();
/// var result = await client.CommitTransactionAsync(txn);
/// </code>
/// </example>
public sealed class TransactionBuilder
{
    private readonly List<TransactionCondition> _conditions = [];
    private readonly List<TransactionOperation> _operations = [];

    /// <summary>Requires config document <paramref name="name"/> to be at <paramref name="version"/> (0: absent).</summary>
    public TransactionBuilder ConfigVersionIs(string name, long version)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentOutOfRangeException.ThrowIfNegative(version);
        return Add(new ConfigVersionIs(name, version));
    }

    /// <summary>Requires config document <paramref name="name"/> not to exist.</summary>
    public TransactionBuilder ConfigAbsent(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return Add(new ConfigAbsent(name));
    }

    /// <summary>Requires <paramref name="token"/> to be the current exclusive hold of lock <paramref name="lockName"/>.</summary>
    public TransactionBuilder LockTokenIs(string lockName, long token)
    {
        ArgumentException.ThrowIfNullOrEmpty(lockName);
        ArgumentOutOfRangeException.ThrowIfNegative(token);
        return Add(new LockTokenIs(lockName, token));
    }

    /// <summary>Writes config document <paramref name="name"/>.</summary>
    public TransactionBuilder Put(string name, JsonElement value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return Add(new PutOperation(name, value.Clone()));
    }

    /// <summary>Deletes config document <paramref name="name"/>.</summary>
    public TransactionBuilder Delete(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return Add(new DeleteOperation(name));
    }

    /// <summary>Takes <paramref name="count"/> values of sequence <paramref name="name"/>.</summary>
    public TransactionBuilder Next(string name, int count = 1)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        return Add(new NextOperation(name, count));
    }

    /// <summary>Releases the hold <paramref name="token"/> of session <paramref name="sessionId"/> on lock <paramref name="lockName"/>.</summary>
    public TransactionBuilder ReleaseLock(string lockName, long sessionId, long token)
    {
        ArgumentException.ThrowIfNullOrEmpty(lockName);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sessionId);
        ArgumentOutOfRangeException.ThrowIfNegative(token);
        return Add(new ReleaseLockOperation(lockName, sessionId, token));
    }

    /// <summary>
    /// Releases <paramref name="held"/> in the same step as the other operations. The release is refused
    /// unless the hold is still current, so the whole transaction is fenced by it: the usual end of a
    /// critical section, one write instead of two.
    /// </summary>
    public TransactionBuilder ReleaseLock(LockHandle held)
    {
        ArgumentNullException.ThrowIfNull(held);
        return ReleaseLock(held.Name, held.Session.Id, held.Token);
    }

    /// <summary>The transaction as built so far.</summary>
    /// <exception cref="InvalidOperationException">No operation, or more than the silo accepts.</exception>
    public Transaction Build()
    {
        if (_operations.Count is < 1 or > Transaction.OperationsMax || _conditions.Count > Transaction.ConditionsMax)
        {
            throw new InvalidOperationException($"A transaction has 1..{Transaction.OperationsMax} operations and at most {Transaction.ConditionsMax} conditions.");
        }

        return new Transaction([.. _conditions], [.. _operations]);
    }

    private TransactionBuilder Add(TransactionCondition condition)
    {
        _conditions.Add(condition);
        return this;
    }

    private TransactionBuilder Add(TransactionOperation operation)
    {
        _operations.Add(operation);
        return this;
    }
}

/// <summary>What one operation did: for a put or delete the document version, for a next the values taken.</summary>
public sealed record TransactionOperationResult
{
    /// <summary><c>put</c>, <c>delete</c>, <c>next</c> or <c>release</c>.</summary>
    public string Type { get; init; } = "";

    public string Name { get; init; } = "";

    /// <summary>The written version (put) or the deleted version (delete).</summary>
    public long? Version { get; init; }

    /// <summary>The revision of the write (put).</summary>
    public long? Revision { get; init; }

    /// <summary>The first value taken (next).</summary>
    public long? First { get; init; }

    /// <summary>How many values were taken (next).</summary>
    public int? Count { get; init; }

    /// <summary>The released hold's fencing token (release).</summary>
    public long? Token { get; init; }

    /// <summary>Waiters granted the lock by the release (release).</summary>
    public int? WaitersGranted { get; init; }
}

/// <summary>A committed internal transaction: the one revision every change carries, and one result per operation, in order.</summary>
public sealed record TransactionResult
{
    public long Revision { get; init; }

    public IReadOnlyList<TransactionOperationResult> Results { get; init; } = [];
}

/// <summary>
/// A transaction was refused because one of its conditions did not hold (<c>409 condition-failed</c>);
/// nothing was applied. <see cref="Exception.Message"/> names the condition.
/// </summary>
public sealed class TransactionConditionFailedException : CoordinationException
{
    public TransactionConditionFailedException()
        : base("condition-failed", 409, "A transaction condition did not hold.")
    {
    }

    public TransactionConditionFailedException(string message)
        : base("condition-failed", 409, message)
    {
    }

    public TransactionConditionFailedException(string message, Exception innerException)
        : base("condition-failed", 409, message, innerException)
    {
    }
}
