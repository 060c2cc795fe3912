namespace Coordination.Grains;

/// <summary>One participant's replicated state inside a distributed transaction.</summary>
internal sealed class ParticipantState(string name, string endpoint, byte[] work)
{
    public string Name { get; } = name;

    public string Endpoint { get; } = endpoint;

    public byte[] Work { get; } = work;

    public ParticipantVote Vote { get; set; }

    public bool Acknowledged { get; set; }

    public ParticipantView ToView() => new(Name, Endpoint, Work, Vote, Acknowledged);
}

/// <summary>One distributed transaction's replicated state.</summary>
internal sealed class DistributedTransaction(string id, long createdMs, long deadlineMs, ParticipantState[] participants)
{
    public string Id { get; } = id;

    public long CreatedMs { get; } = createdMs;

    public long DeadlineMs { get; } = deadlineMs;

    public ParticipantState[] Participants { get; } = participants;

    public DistributedTransactionState State { get; set; } = DistributedTransactionState.Preparing;

    public string Reason { get; set; } = "";

    public long DecidedMs { get; set; }

    public bool Finished => State is DistributedTransactionState.Committed or DistributedTransactionState.Aborted;

    public Deadline PrepareDeadline => new(DeadlineMs, DeadlineKind.TransactionPrepare, Id, 0);

    public ParticipantState? Find(string name) => Array.Find(Participants, p => p.Name == name);

    public DistributedTransactionView ToView() =>
        new(Id, State, Reason, CreatedMs, DeadlineMs, DecidedMs, [.. Participants.Select(p => p.ToView())]);

    /// <summary>Same content as a begin request, so a retried begin can be answered with this transaction.</summary>
    public bool SameAs(BeginDistributedTransaction begin) =>
        DeadlineMs - CreatedMs == begin.PrepareTimeoutMs
        && Participants.Length == begin.Participants.Count
        && Participants.Zip(begin.Participants).All(x => x.First.Name == x.Second.Name && x.First.Endpoint == x.Second.Endpoint && x.First.Work.AsSpan().SequenceEqual(x.Second.Work));
}

/// <summary>
/// Every distributed transaction the coordinator remembers, by id in ordinal order (the same on
/// every replica), plus the finished ones in finishing order so the oldest is forgotten first.
/// Forgetting a finished transaction is safe under presumed abort: a participant asks for an
/// outcome only while it has not acknowledged one, and a transaction finishes only after every
/// participant acknowledged.
/// </summary>
internal sealed class DistributedTransactionTable
{
    private readonly SortedDictionary<string, DistributedTransaction> _byId = new(StringComparer.Ordinal);
    private readonly Queue<string> _finishedOrder = new();

    public int Count => _byId.Count;

    public int ActiveCount => _byId.Count - _finishedOrder.Count;

    public IEnumerable<DistributedTransaction> InIdOrder => _byId.Values;

    public DistributedTransaction? Find(string id) => _byId.GetValueOrDefault(id);

    /// <summary>The vote deadline of every preparing transaction (derived state, rebuilt after a snapshot).</summary>
    public IEnumerable<Deadline> PrepareDeadlines =>
        _byId.Values.Where(t => t.State == DistributedTransactionState.Preparing).Select(t => t.PrepareDeadline);

    public void Add(DistributedTransaction transaction) =>
        GrainInvariant.Require(_byId.TryAdd(transaction.Id, transaction), $"Distributed transaction '{transaction.Id}' was added twice.");

    /// <summary>Call once when a transaction reaches Committed or Aborted.</summary>
    public void MarkFinished(DistributedTransaction transaction)
    {
        GrainInvariant.Require(transaction.Finished, $"Distributed transaction '{transaction.Id}' is not finished.");
        _finishedOrder.Enqueue(transaction.Id);
        while (_finishedOrder.Count > Limits.DistributedTransactionsFinishedRetained)
        {
            _byId.Remove(_finishedOrder.Dequeue());
        }
    }

    public void Write(BinaryEncoder e)
    {
        e.WriteCount(_byId.Count);
        foreach (var t in _byId.Values)
        {
            e.WriteString(t.Id);
            e.WriteInt64(t.CreatedMs);
            e.WriteInt64(t.DeadlineMs);
            e.WriteByte((byte)t.State);
            e.WriteString(t.Reason);
            e.WriteInt64(t.DecidedMs);
            e.WriteCount(t.Participants.Length);
            foreach (var p in t.Participants)
            {
                e.WriteString(p.Name);
                e.WriteString(p.Endpoint);
                e.WriteBytes(p.Work);
                e.WriteByte((byte)p.Vote);
                e.WriteBool(p.Acknowledged);
            }
        }

        e.WriteCount(_finishedOrder.Count);
        foreach (var id in _finishedOrder)
        {
            e.WriteString(id);
        }
    }

    public void Read(ref BinaryDecoder d)
    {
        const int NameBytesMax = Limits.NameLengthMax * 4;
        var count = d.ReadCount(Limits.DistributedTransactionsActiveMax + Limits.DistributedTransactionsFinishedRetained);
        for (var i = 0; i < count; i++)
        {
            var id = d.ReadString(NameBytesMax);
            var created = d.ReadInt64();
            var deadline = d.ReadInt64();
            var state = d.ReadEnum<DistributedTransactionState>();
            var reason = d.ReadString(Limits.TransactionReasonLengthMax * 4);
            var decided = d.ReadInt64();
            var participants = new ParticipantState[d.ReadCount(Limits.ParticipantsPerTransactionMax)];
            for (var j = 0; j < participants.Length; j++)
            {
                participants[j] = new ParticipantState(d.ReadString(NameBytesMax), d.ReadString(Limits.ParticipantEndpointLengthMax * 4), d.ReadBytes(Limits.ParticipantWorkBytesMax))
                {
                    Vote = d.ReadEnum<ParticipantVote>(),
                    Acknowledged = d.ReadBool(),
                };
            }

            if (_byId.ContainsKey(id))
            {
                throw new CorruptDataException($"Snapshot distributed transaction '{id}' is duplicated.");
            }

            _byId[id] = new DistributedTransaction(id, created, deadline, participants) { State = state, Reason = reason, DecidedMs = decided };
        }

        var finished = d.ReadCount(Limits.DistributedTransactionsFinishedRetained);
        for (var i = 0; i < finished; i++)
        {
            var id = d.ReadString(NameBytesMax);
            if (_byId.GetValueOrDefault(id) is not { Finished: true })
            {
                throw new CorruptDataException($"Snapshot lists '{id}' as a finished distributed transaction, but it is not one.");
            }

            _finishedOrder.Enqueue(id);
        }
    }

    /// <summary>Structural invariants; schedules each preparing transaction's vote deadline into <paramref name="deadlines"/>.</summary>
    public void CheckInvariants(DeadlineIndex deadlines)
    {
        var finished = 0;
        foreach (var t in _byId.Values)
        {
            GrainInvariant.Require(Names.IsValid(t.Id), $"Distributed transaction id '{t.Id}' is not a valid name.");
            GrainInvariant.Require(t.Participants.Length is >= 1 and <= Limits.ParticipantsPerTransactionMax, $"Distributed transaction '{t.Id}' has {t.Participants.Length} participants.");
            GrainInvariant.Require(t.Participants.Select(p => p.Name).Distinct(StringComparer.Ordinal).Count() == t.Participants.Length, $"Distributed transaction '{t.Id}' names a participant twice.");
            var votes = t.Participants.Select(p => p.Vote).ToArray();
            switch (t.State)
            {
                case DistributedTransactionState.Preparing:
                    GrainInvariant.Require(t.DecidedMs == 0 && !votes.Contains(ParticipantVote.Abort) && votes.Contains(ParticipantVote.None), $"Preparing transaction '{t.Id}' should have decided.");
                    GrainInvariant.Require(t.Participants.All(p => !p.Acknowledged), $"Preparing transaction '{t.Id}' has an acknowledgement.");
                    deadlines.Add(t.PrepareDeadline);
                    break;
                case DistributedTransactionState.Committing or DistributedTransactionState.Committed:
                    // The safety property of two-phase commit: commit only with every participant's yes.
                    GrainInvariant.Require(votes.All(v => v == ParticipantVote.Commit), $"Transaction '{t.Id}' commits without every participant's commit vote.");
                    break;
            }

            if (t.Finished)
            {
                finished++;
                GrainInvariant.Require(t.Participants.All(p => p.Acknowledged), $"Finished transaction '{t.Id}' has an unacknowledged participant.");
            }
        }

        GrainInvariant.Require(finished == _finishedOrder.Count && _finishedOrder.All(id => _byId[id].Finished), "The finished-transaction order does not match the transactions.");
        GrainInvariant.Require(ActiveCount <= Limits.DistributedTransactionsActiveMax, "Too many active distributed transactions.");
    }
}
