namespace Coordination.Grains;

/// <summary>
/// Every grain of one replica, driven by committed log entries. The host (the silo) calls
/// <see cref="Apply(ulong, long, ReadOnlySpan{byte})"/> for each committed entry in log order,
/// from one thread; queries, <see cref="EventsSince"/> and <see cref="WriteSnapshot"/> must not run
/// concurrently with it. Given the same entries, every replica returns the same results, emits the
/// same events and writes the same snapshot bytes: nothing here reads a clock, randomness or
/// hash order.
/// </summary>
public sealed partial class CoordinationStateMachine
{
    private readonly SessionTable _sessions;
    private readonly DeadlineIndex _deadlines = new();
    private readonly EventHistory _events;
    private readonly StepContext _step;
    private readonly GrainRegistry<LockState> _locks = new(GrainKind.Lock);
    private readonly GrainRegistry<ElectionState> _elections = new(GrainKind.Election);
    private readonly GrainRegistry<MembershipState> _groups = new(GrainKind.Membership);
    private readonly GrainRegistry<ConfigState> _configs = new(GrainKind.Config);
    private readonly GrainRegistry<SequenceState> _sequences = new(GrainKind.Sequence);

    public CoordinationStateMachine()
        : this(new SessionTable(), new EventHistory())
    {
    }

    private CoordinationStateMachine(SessionTable sessions, EventHistory events)
    {
        _sessions = sessions;
        _events = events;
        _step = new StepContext(_sessions, _deadlines, _events);
    }

    /// <summary>The log index of the last applied entry (the revision of the current state); 0 before any.</summary>
    public ulong AppliedIndex { get; private set; }

    /// <summary>
    /// Log time: the largest entry timestamp applied so far. Entry timestamps come from successive
    /// leaders' clocks and may step back at a failover; log time never does.
    /// </summary>
    public long LogTimeMs { get; private set; }

    /// <summary>
    /// The earliest log time at which something falls due (a session, a lock wait or a maximum
    /// hold), or null. The leader proposes <see cref="AdvanceTime"/> once its clock reaches it.
    /// </summary>
    public long? NextDeadlineMs => _deadlines.NextMs;

    /// <summary>Decodes and applies one committed entry. Throws <see cref="CorruptDataException"/> for undecodable bytes (stop the replica).</summary>
    public CommandResult Apply(ulong index, long timestampMs, ReadOnlySpan<byte> encodedCommand) =>
        Apply(index, timestampMs, CommandCodec.Decode(encodedCommand));

    /// <summary>
    /// Applies <paramref name="command"/> as the entry at <paramref name="index"/> with the leader's
    /// <paramref name="timestampMs"/> (Unix ms). Indexes must strictly increase (entries that carry
    /// no command, such as Raft no-ops, may be skipped). A <see cref="Rejected"/> result changed no
    /// grain and emitted no event. A timestamp outside 0..<see cref="Limits.TimestampMsMax"/> is a
    /// leader bug and throws <see cref="GrainInvariantException"/> before anything changes.
    /// </summary>
    public CommandResult Apply(ulong index, long timestampMs, Command command)
    {
        GrainInvariant.Require(index > AppliedIndex, $"Entry {index} applied after entry {AppliedIndex}.");
        GrainInvariant.Require(timestampMs is >= 0 and <= Limits.TimestampMsMax, $"Entry {index} has timestamp {timestampMs}, outside 0..{Limits.TimestampMsMax}.");
        AppliedIndex = index;
        LogTimeMs = Math.Max(LogTimeMs, timestampMs);
        _step.Stamp(index, LogTimeMs);
        return command switch
        {
            CreateSession c => CreateSession(c),
            RenewSession c => RenewSession(c),
            RevokeSession c => RevokeSession(c),
            AdvanceTime => ExpireDue(),
            ExtendAllSessions => ExtendSessions(leaderlessMs: null),
            ExtendSessionsBy c => ExtendSessions(Math.Max(0, c.LeaderlessMs)),
            AcquireLock c => Route(_locks, c.Name, c, static (s, c, step) => LockGrain.Acquire(s, c, step)),
            ReleaseLock c => Route(_locks, c.Name, c, static (s, c, step) => LockGrain.Release(s, c, step)),
            // An idle lock has nothing to abandon: answered without activating it, so even a full registry says yes.
            AbandonLock c when Names.IsValid(c.Name) && _locks.Find(c.Name) is null => new LockAbandoned(c.Name, LockAbandonOutcome.Nothing, 0, 0),
            AbandonLock c => Route(_locks, c.Name, c, static (s, c, step) => LockGrain.Abandon(s, c, step)),
            Campaign c => Route(_elections, c.Name, c, static (s, c, step) => ElectionGrain.Campaign(s, c, step)),
            Proclaim c => Route(_elections, c.Name, c, static (s, c, step) => ElectionGrain.Proclaim(s, c, step)),
            Resign c => Route(_elections, c.Name, c, static (s, c, step) => ElectionGrain.Resign(s, c, step)),
            JoinGroup c => Route(_groups, c.Group, c, static (s, c, step) => MembershipGrain.Join(s, c, step)),
            UpdateMember c => Route(_groups, c.Group, c, static (s, c, step) => MembershipGrain.Update(s, c, step)),
            LeaveGroup c => Route(_groups, c.Group, c, static (s, c, step) => MembershipGrain.Leave(s, c, step)),
            PutConfig c => Route(_configs, c.Name, c, static (s, c, step) => ConfigGrain.Put(s, c, step)),
            DeleteConfig c => Route(_configs, c.Name, c, static (s, c, step) => ConfigGrain.Delete(s, c, step)),
            RollbackConfig c => Route(_configs, c.Name, c, static (s, c, step) => ConfigGrain.Rollback(s, c, step)),
            FencedPutConfig c => Route(_configs, c.Name, (c, Fence: Names.IsValid(c.LockName) ? _locks.Find(c.LockName) : null), static (s, x, step) => ConfigGrain.FencedPut(s, x.c, x.Fence, step)),
            ReserveSequence c => Route(_sequences, c.Name, c, static (s, c, step) => SequenceGrain.Reserve(s, c, step)),
            ApplyTransaction c => ApplyTransaction(c),
            BeginDistributedTransaction c => BeginDistributedTransaction(c),
            RecordParticipantVote c => RecordParticipantVote(c),
            AbortDistributedTransaction c => AbortDistributedTransaction(c),
            AcknowledgeDecision c => AcknowledgeDecision(c),
            _ => throw new ArgumentException($"{command.GetType().Name} is not a command this state machine knows.", nameof(command)),
        };
    }

    /// <summary>
    /// Virtual activation around one grain command: find or create, handle, keep only if non-empty.
    /// Handlers are static lambdas given the command explicitly, so routing allocates no closure.
    /// </summary>
    private CommandResult Route<TState, TCommand>(GrainRegistry<TState> registry, string name, TCommand command, Func<TState, TCommand, StepContext, CommandResult> handle)
        where TState : class, IGrainState<TState>, new()
    {
        var state = registry.Activate(name, out var rejected);
        if (state is null)
        {
            return rejected!;
        }

        var result = handle(state, command, _step);
        registry.Settle(name, state);
        return result;
    }

    /// <summary>
    /// Every event after <paramref name="afterRevision"/> that matches <paramref name="filter"/>, up
    /// to about <paramref name="maxEvents"/> (whole revisions), or an explicit "compacted" answer
    /// when the history no longer reaches back that far. See <see cref="EventsPage"/>.
    /// </summary>
    public EventsPage EventsSince(ulong afterRevision, EventFilter filter, int maxEvents = Limits.EventsPerPageMax)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxEvents, 1);
        return _events.Since(afterRevision, filter, Math.Min(maxEvents, Limits.EventsPerPageMax), AppliedIndex);
    }

    /// <summary>Calls <paramref name="action"/> for each event the entry at <see cref="AppliedIndex"/> emitted (none if it emitted none).</summary>
    public void ForEachEventOfLastEntry(Action<GrainEvent> action) => _events.ForEachOfNewest(AppliedIndex, action);

    /// <summary>True when the last entry made more events than the history holds: none of them is kept, the revision reads as compacted.</summary>
    public bool EventsOfLastEntryDropped => AppliedIndex > 0 && _events.CompactedThrough >= AppliedIndex;

    /// <summary>
    /// Checks every invariant across all grains and sessions: each attachment matches a hold, wait,
    /// candidacy or membership and the reverse, and every deadline is scheduled. Costs a full scan;
    /// tests call it after each step, the host may call it after restoring a snapshot.
    /// </summary>
    public void CheckInvariants()
    {
        _locks.CheckInvariants();
        _elections.CheckInvariants();
        _groups.CheckInvariants();
        _configs.CheckInvariants();
        _sequences.CheckInvariants();
        var expected = new SortedDictionary<ulong, SortedSet<Attachment>>();
        var deadlines = new DeadlineIndex();
        ForEachAttachment((sessionId, attachment) =>
        {
            GrainInvariant.Require(_sessions.Find(sessionId) is not null, $"{attachment} refers to missing session {sessionId}.");
            if (!expected.TryGetValue(sessionId, out var set))
            {
                expected[sessionId] = set = [];
            }

            GrainInvariant.Require(set.Add(attachment), $"Session {sessionId} is attached twice to {attachment}.");
        }, deadlines);
        foreach (var session in _sessions.InIdOrder)
        {
            var actual = session.Attachments ?? [];
            var wanted = expected.GetValueOrDefault(session.Id) ?? [];
            GrainInvariant.Require(actual.SetEquals(wanted), $"Session {session.Id}'s attachments do not match the grains.");
            GrainInvariant.Require(session.Attachments is null || session.Attachments.Count > 0, $"Session {session.Id} keeps an empty attachment set.");
            GrainInvariant.Require(session.AttachmentCount <= Limits.AttachmentsPerSessionMax, $"Session {session.Id} has too many attachments.");
            deadlines.Add(session.Expiry);
        }

        _transactions.CheckInvariants(deadlines);
        GrainInvariant.Require(deadlines.SameAs(_deadlines), "The deadline index does not match the grains.");
    }

    /// <summary>Calls <paramref name="attach"/> for every (session, grain) pair the grains record, and schedules the grains' deadlines into <paramref name="deadlines"/>.</summary>
    private void ForEachAttachment(Action<ulong, Attachment> attach, DeadlineIndex deadlines)
    {
        foreach (var (name, state) in _locks.InNameOrder)
        {
            foreach (var h in state.Holders)
            {
                attach(h.SessionId, new Attachment(GrainKind.Lock, name));
                if (h.RevokeAtMs != 0)
                {
                    deadlines.Add(LockGrain.HoldDeadline(name, h));
                }
            }

            foreach (var w in state.Waiters ?? [])
            {
                attach(w.SessionId, new Attachment(GrainKind.Lock, name));
                deadlines.Add(LockGrain.WaitDeadline(name, w));
            }
        }

        foreach (var (name, state) in _elections.InNameOrder)
        {
            foreach (var c in state.Candidates)
            {
                attach(c.SessionId, new Attachment(GrainKind.Election, name));
            }
        }

        foreach (var (name, state) in _groups.InNameOrder)
        {
            foreach (var m in state.Members.Values)
            {
                attach(m.SessionId, new Attachment(GrainKind.Membership, name));
            }
        }
    }
}
