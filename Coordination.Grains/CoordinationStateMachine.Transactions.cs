namespace Coordination.Grains;

public sealed partial class CoordinationStateMachine
{
    /// <summary>
    /// Two phases inside one step: first every condition and every operation's own refusal rule is
    /// checked against the current state (operations touch distinct grains, so they cannot affect
    /// each other's checks); only then are the operations applied. A refusal in the second phase
    /// would mean the checks and the handlers disagree, which is a bug, so it stops the replica.
    /// </summary>
    private CommandResult ApplyTransaction(ApplyTransaction t)
    {
        if (t.Operations.Count is < 1 or > Limits.TransactionOperationsMax || t.Conditions.Count > Limits.TransactionConditionsMax)
        {
            return new Rejected(ErrorCode.LimitExceeded, $"A transaction has 1..{Limits.TransactionOperationsMax} operations (TransactionOperationsMax) and at most {Limits.TransactionConditionsMax} conditions (TransactionConditionsMax).");
        }

        for (var i = 0; i < t.Conditions.Count; i++)
        {
            if (CheckCondition(t.Conditions[i]) is { } failed)
            {
                return failed with { Message = $"Condition {i}: {failed.Message}" };
            }
        }

        var touched = new SortedSet<(GrainKind, string)>();
        int newConfigs = 0, newSequences = 0;
        for (var i = 0; i < t.Operations.Count; i++)
        {
            var operation = t.Operations[i];
            var key = operation switch
            {
                ReserveSequenceOperation r => (GrainKind.Sequence, r.Name),
                PutConfigOperation p => (GrainKind.Config, p.Name),
                DeleteConfigOperation d => (GrainKind.Config, d.Name),
                ReleaseLockOperation l => (GrainKind.Lock, l.LockName),
                _ => throw new ArgumentException($"{operation.GetType().Name} is not a transaction operation.", nameof(t)),
            };
            if (!touched.Add(key))
            {
                return new Rejected(ErrorCode.InvalidArgument, $"Operation {i}: {key.Item1} '{key.Item2}' appears twice in the transaction.");
            }

            if (CheckOperation(operation, ref newConfigs, ref newSequences) is { } refused)
            {
                return refused with { Message = $"Operation {i}: {refused.Message}" };
            }
        }

        var results = new CommandResult[t.Operations.Count];
        for (var i = 0; i < results.Length; i++)
        {
            results[i] = t.Operations[i] switch
            {
                PutConfigOperation p => Route(_configs, p.Name, new PutConfig(p.Name, p.Value), static (s, c, step) => ConfigGrain.Put(s, c, step)),
                DeleteConfigOperation d => Route(_configs, d.Name, new DeleteConfig(d.Name), static (s, c, step) => ConfigGrain.Delete(s, c, step)),
                ReserveSequenceOperation r => Route(_sequences, r.Name, new ReserveSequence(r.Name, r.Count), static (s, c, step) => SequenceGrain.Reserve(s, c, step)),
                ReleaseLockOperation l => Route(_locks, l.LockName, new ReleaseLock(l.LockName, l.SessionId, l.Token), static (s, c, step) => LockGrain.Release(s, c, step)),
                _ => throw new ArgumentException("unreachable", nameof(t)),
            };
            GrainInvariant.Require(results[i] is not Rejected, $"Transaction operation {i} was refused after its checks passed: {results[i]}.");
        }

        return new TransactionApplied(results);
    }

    private Rejected? CheckCondition(TransactionCondition condition)
    {
        switch (condition)
        {
            case ConfigVersionIs c:
                if (!Names.IsValid(c.Name))
                {
                    return new Rejected(ErrorCode.InvalidName, $"'{c.Name}' is not a valid config name.");
                }

                var version = _configs.Find(c.Name) is { IsEmpty: false } config ? config.CurrentVersion : 0;
                return version == c.Version ? null : new Rejected(ErrorCode.ConditionFailed, $"Config '{c.Name}' is at version {version}, not {c.Version}.");
            case LockTokenIs l:
                if (!Names.IsValid(l.LockName))
                {
                    return new Rejected(ErrorCode.InvalidName, $"'{l.LockName}' is not a valid lock name.");
                }

                return _locks.Find(l.LockName) is { Holders: [{ Mode: LockMode.Exclusive } holder] } && holder.Token == l.Token
                    ? null
                    : new Rejected(ErrorCode.ConditionFailed, $"Token {l.Token} is not the current exclusive hold of lock '{l.LockName}'.");
            default:
                return new Rejected(ErrorCode.InvalidArgument, $"{condition.GetType().Name} is not a transaction condition.");
        }
    }

    private Rejected? CheckOperation(TransactionOperation operation, ref int newConfigs, ref int newSequences)
    {
        switch (operation)
        {
            case PutConfigOperation p:
                if (_configs.Activate(p.Name, out var putRefused) is null)
                {
                    return putRefused;
                }

                if (_configs.Find(p.Name) is null && _configs.Count + ++newConfigs > Limits.GrainsPerKindMax)
                {
                    return new Rejected(ErrorCode.LimitExceeded, $"{Limits.GrainsPerKindMax} config grains would be active (GrainsPerKindMax).");
                }

                return ConfigGrain.CheckValue(p.Value);
            case DeleteConfigOperation d:
                if (_configs.Activate(d.Name, out var deleteRefused) is null)
                {
                    return deleteRefused;
                }

                return _configs.Find(d.Name) is { IsEmpty: false } ? null : new Rejected(ErrorCode.NotFound, $"Config '{d.Name}' does not exist.");
            case ReserveSequenceOperation r:
                if (_sequences.Activate(r.Name, out var reserveRefused) is not { } sequence)
                {
                    return reserveRefused;
                }

                if (_sequences.Find(r.Name) is null && _sequences.Count + ++newSequences > Limits.GrainsPerKindMax)
                {
                    return new Rejected(ErrorCode.LimitExceeded, $"{Limits.GrainsPerKindMax} sequence grains would be active (GrainsPerKindMax).");
                }

                return SequenceGrain.Check(sequence, r.Name, r.Count, SequenceFloor);
            case ReleaseLockOperation l:
                if (!Names.IsValid(l.LockName))
                {
                    return new Rejected(ErrorCode.InvalidName, $"'{l.LockName}' is not a valid lock name.");
                }

                return LockGrain.CheckRelease(_locks.Find(l.LockName), l.LockName, l.SessionId, l.Token);
            default:
                return new Rejected(ErrorCode.InvalidArgument, $"{operation.GetType().Name} is not a transaction operation.");
        }
    }
}
