namespace Coordination.Grains;

/// <summary>Sessions, log time and expiry.</summary>
public sealed partial class CoordinationStateMachine
{
    private CommandResult CreateSession(CreateSession c)
    {
        if (c.TtlMs is < Limits.SessionTtlMsMin or > Limits.SessionTtlMsMax)
        {
            return new Rejected(ErrorCode.InvalidArgument, $"A session TTL is {Limits.SessionTtlMsMin}..{Limits.SessionTtlMsMax} ms.");
        }

        if (_sessions.Count >= Limits.SessionsMax)
        {
            return new Rejected(ErrorCode.LimitExceeded, $"{Limits.SessionsMax} sessions are open (SessionsMax).");
        }

        // The session id is the entry's log index: unique and known to every replica without a counter.
        var session = new SessionState(_step.Index, c.TtlMs, _step.NowMs, _step.NowMs + c.TtlMs);
        _sessions.Add(session);
        _deadlines.Add(session.Expiry);
        _step.Emit(EventType.SessionCreated, GrainKind.Session, "", session.Id);
        return new SessionCreated(session.Id, session.TtlMs, session.DeadlineMs);
    }

    private CommandResult RenewSession(RenewSession c)
    {
        if (_sessions.Find(c.SessionId) is not { } session)
        {
            return SessionTable.NotFound(c.SessionId);
        }

        if (SessionTable.CheckLive(session, _step.NowMs) is { } expired)
        {
            // Too late: the lease ran out even if AdvanceTime has not removed it yet. Renewing it
            // now would let a client keep locks that others may already consider free.
            return expired;
        }

        // No event: keep-alives are frequent and would push real changes out of the history.
        MoveDeadline(session, _step.NowMs + session.TtlMs);
        return new SessionRenewed(session.Id, session.DeadlineMs);
    }

    private CommandResult RevokeSession(RevokeSession c)
    {
        if (_sessions.Find(c.SessionId) is not { } session)
        {
            return SessionTable.NotFound(c.SessionId);
        }

        _deadlines.Remove(session.Expiry);
        EndSessions([session], RemovalReason.SessionRevoked, []);
        return new SessionRevoked(session.Id);
    }

    private TimeAdvanced ExpireDue()
    {
        var now = _step.NowMs;
        var due = _deadlines.TakeAllDue(now);
        var ending = new List<SessionState>();
        var lockRemovals = new List<(Attachment Grain, Removal Removal)>();
        var endingIds = new HashSet<ulong>();
        foreach (var d in due)
        {
            if (d.Kind == DeadlineKind.SessionExpiry)
            {
                ending.Add(_sessions.Find(d.SessionId)!);
                endingIds.Add(d.SessionId);
            }
        }

        foreach (var d in due)
        {
            if (d.Kind == DeadlineKind.TransactionPrepare)
            {
                ExpirePrepare(d.Name);
                continue;
            }

            // A wait or hold of a session that ends in this step goes with the session.
            if (d.Kind != DeadlineKind.SessionExpiry && !endingIds.Contains(d.SessionId))
            {
                var reason = d.Kind == DeadlineKind.LockWait ? RemovalReason.WaitExpired : RemovalReason.HoldExpired;
                lockRemovals.Add((new Attachment(GrainKind.Lock, d.Name), new Removal(d.SessionId, reason)));
            }
        }

        var (waits, holds) = EndSessions(ending, RemovalReason.SessionExpired, lockRemovals);
        return new TimeAdvanced(now, ending.Count, waits, holds);
    }

    /// <param name="leaderlessMs">How far to move each deadline (at most to now + TTL); null: to now + TTL (<see cref="ExtendAllSessions"/>).</param>
    private SessionsExtended ExtendSessions(long? leaderlessMs)
    {
        foreach (var session in _sessions.InIdOrder)
        {
            var renewed = _step.NowMs + session.TtlMs;
            // (Compared, not added: a gap near long.MaxValue must not wrap around.)
            MoveDeadline(session, leaderlessMs is { } gap && gap < renewed - session.DeadlineMs ? session.DeadlineMs + gap : renewed);
        }

        return new SessionsExtended(_sessions.Count);
    }

    /// <summary>Deadlines only move later: a renewal or extension never shortens a lease.</summary>
    private void MoveDeadline(SessionState session, long deadlineMs)
    {
        if (deadlineMs > session.DeadlineMs)
        {
            _deadlines.Remove(session.Expiry);
            session.DeadlineMs = deadlineMs;
            _deadlines.Add(session.Expiry);
        }
    }

    /// <summary>
    /// Ends <paramref name="ending"/> sessions (their expiry deadlines already unscheduled) and
    /// applies <paramref name="lockRemovals"/>, all in this one step: everything attached is
    /// released grain by grain, in (kind, name) order, and each grain then grants its queue or
    /// promotes its next candidate once.
    /// </summary>
    private (int WaitsExpired, int HoldsRevoked) EndSessions(List<SessionState> ending, RemovalReason reason, List<(Attachment Grain, Removal Removal)> lockRemovals)
    {
        var work = new SortedDictionary<Attachment, List<Removal>>();
        foreach (var session in ending)
        {
            var type = reason == RemovalReason.SessionExpired ? EventType.SessionExpired : EventType.SessionRevoked;
            _step.Emit(type, GrainKind.Session, "", session.Id);
            foreach (var attachment in session.Attachments ?? [])
            {
                AddWork(work, attachment, new Removal(session.Id, reason));
            }
        }

        foreach (var (grain, removal) in lockRemovals)
        {
            AddWork(work, grain, removal);
        }

        int waits = 0, holds = 0;
        foreach (var (grain, removals) in work)
        {
            switch (grain.Kind)
            {
                case GrainKind.Lock:
                    var (w, h) = Change(_locks, grain.Name, state => LockGrain.Remove(state, grain.Name, removals, _step));
                    waits += w;
                    holds += h;
                    break;
                case GrainKind.Election:
                    Change(_elections, grain.Name, state => ElectionGrain.Remove(state, grain.Name, removals, _step));
                    break;
                case GrainKind.Membership:
                    Change(_groups, grain.Name, state => MembershipGrain.Remove(state, grain.Name, removals, _step));
                    break;
                default:
                    throw new GrainInvariantException($"Sessions do not attach to {grain.Kind} grains.");
            }
        }

        foreach (var session in ending)
        {
            _sessions.Remove(session.Id);
        }

        return (waits, holds);
    }

    /// <summary>Applies a change to an active grain that a session or deadline refers to, and settles it.</summary>
    private static TResult Change<TState, TResult>(GrainRegistry<TState> registry, string name, Func<TState, TResult> change)
        where TState : class, IGrainState<TState>, new()
    {
        var state = registry.Find(name);
        GrainInvariant.Require(state is not null, $"{registry.Kind} '{name}' is referred to but not active.");
        var result = change(state!);
        registry.Settle(name, state!);
        return result;
    }

    private static void Change<TState>(GrainRegistry<TState> registry, string name, Action<TState> change)
        where TState : class, IGrainState<TState>, new() =>
        Change(registry, name, state =>
        {
            change(state);
            return 0;
        });

    private static void AddWork(SortedDictionary<Attachment, List<Removal>> work, Attachment grain, Removal removal)
    {
        GrainInvariant.Require(grain.Kind is GrainKind.Lock or GrainKind.Election or GrainKind.Membership, $"Sessions do not attach to {grain.Kind} grains.");
        if (!work.TryGetValue(grain, out var list))
        {
            work[grain] = list = [];
        }

        list.Add(removal);
    }
}
