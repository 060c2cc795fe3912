using Coordination.Client.Transactions;
using Coordination.Client.Wire;

namespace Coordination.Client;

public sealed partial class CoordinationClient
{
    /// <summary>
    /// Applies <paramref name="transaction"/> all or nothing (<c>POST /v1/transactions</c>): every change in
    /// one log entry with one revision. Sent with one idempotency key for all attempts, so a retried commit
    /// applies at most once.
    /// </summary>
    /// <exception cref="TransactionConditionFailedException">A condition did not hold; nothing was applied.</exception>
    /// <exception cref="CoordinationException">An operation was refused (e.g. <c>not-found</c> for a delete); nothing was applied.</exception>
    public async Task<TransactionResult> CommitTransactionAsync(Transaction transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        var body = new TransactionRequest(
            [.. transaction.Conditions.Select(ToWire)],
            [.. transaction.Operations.Select(ToWire)]);
        try
        {
            return await WriteAsync(
                HttpMethod.Post, "v1/transactions", body,
                CoordinationJsonContext.Default.TransactionRequest, CoordinationJsonContext.Default.TransactionResult, cancellationToken).ConfigureAwait(false);
        }
        catch (CoordinationException e) when (e.Error == CoordinationError.ConditionFailed && e is not TransactionConditionFailedException)
        {
            throw new TransactionConditionFailedException(e.Message, e);
        }
    }

    private static TransactionConditionWire ToWire(TransactionCondition condition) => condition switch
    {
        ConfigVersionIs c => new TransactionConditionWire("config-version", c.Name, c.Version, null, null),
        ConfigAbsent c => new TransactionConditionWire("config-absent", c.Name, null, null, null),
        LockTokenIs c => new TransactionConditionWire("lock-token", null, null, c.LockName, c.Token),
        _ => throw new ArgumentException($"Unknown transaction condition {condition}.", nameof(condition)),
    };

    private static TransactionOperationWire ToWire(TransactionOperation operation) => operation switch
    {
        PutOperation o => new TransactionOperationWire("put", o.Name, o.Value, null),
        DeleteOperation o => new TransactionOperationWire("delete", o.Name, null, null),
        NextOperation o => new TransactionOperationWire("next", o.Name, null, o.Count),
        ReleaseLockOperation o => new TransactionOperationWire("release", o.LockName, null, null, o.SessionId, o.Token),
        _ => throw new ArgumentException($"Unknown transaction operation {operation}.", nameof(operation)),
    };
}
