using Coordination.Grains;
using FsCheck;
using FsCheck.Fluent;

namespace Coordination.Tests.Grains;

/// <summary>
/// Random command sequences against the properties the issue names. Each sequence mixes every
/// command kind over a few names and sessions with short TTLs, so expiry, queueing, revocation and
/// rejections all happen often. A failure prints the sequence of operations that broke it.
/// </summary>
public class GrainPropertyTests
{
    /// <summary>One random step: <see cref="Kind"/> picks the command, the others pick session, name and numbers.</summary>
    public sealed record Op(int Kind, int Session, int Name, int X);

    private static readonly string[] LockNames = ["l0", "l1", "l2"];

    // Kinds as in Scenario.ToCommand, repeated by weight: lock traffic dominates, and there are
    // enough sessions, renewals and time steps for queues to build up and leases to run out.
    private static readonly int[] KindWeights = [0, 0, 0, 0, 1, 1, 1, 2, 3, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 7, 7, 7, 8, 8, 9, 10, 11, 11, 12, 13, 14, 14];

    private static readonly Gen<Op> OpGen =
        from kind in Gen.Elements(KindWeights)
        from session in Gen.Choose(0, 7)
        from name in Gen.Choose(0, 2)
        from x in Gen.Choose(0, 9)
        select new Op(kind, session, name, x);

    private static readonly Arbitrary<Op[]> Sequences = Arb.ToArbitrary(Gen.ListOf(OpGen).Select(ops => ops.ToArray()), Shrink);

    private static IEnumerable<Op[]> Shrink(Op[] ops)
    {
        if (ops.Length > 1)
        {
            yield return ops[..(ops.Length / 2)];
        }

        for (var i = ops.Length - 1; i >= 0; i--)
        {
            yield return [.. ops[..i], .. ops[(i + 1)..]];
        }
    }

    private static void Check(Action<Op[]> property) =>
        Prop.ForAll(Sequences, property).Check(Config.QuickThrowOnFailure.WithMaxTest(200).WithEndSize(120));

    [Fact]
    public void Locks_never_have_two_exclusive_holders_mixed_modes_or_more_holders_than_permits() =>
        Check(ops => new Scenario().Run(ops, (s, _, _) =>
        {
            foreach (var name in LockNames)
            {
                var info = s.Machine.GetLock(name);
                var exclusive = info.Holders.Count(h => h.Mode == LockMode.Exclusive);
                Assert.True(exclusive <= 1, $"{name} has {exclusive} exclusive holders");
                Assert.True(exclusive == 0 || info.Holders.Count == 1, $"{name} mixes exclusive and other holders");
                Assert.True(info.Holders.Select(h => h.Mode).Distinct().Count() <= 1, $"{name} mixes modes");
                Assert.True(info.Permits == 0 || info.Holders.Count <= info.Permits, $"{name} exceeds its {info.Permits} permits");
            }
        }));

    [Fact]
    public void Fencing_tokens_are_grant_indexes_and_strictly_increase_across_grants_of_a_lock() =>
        Check(ops =>
        {
            var lastGrant = LockNames.ToDictionary(n => n, _ => 0UL);
            new Scenario().Run(ops, (s, before, _) =>
            {
                foreach (var name in LockNames)
                {
                    var previous = before.Locks[name].Holders.Select(h => (h.SessionId, h.Token)).ToHashSet();
                    var granted = s.Machine.GetLock(name).Holders.Where(h => !previous.Contains((h.SessionId, h.Token))).ToList();
                    if (granted.Count == 0)
                    {
                        continue;
                    }

                    Assert.All(granted, h => Assert.Equal(s.Index, h.Token));
                    Assert.True(s.Index > lastGrant[name], $"{name}: token {s.Index} after {lastGrant[name]}");
                    Assert.True(granted.Count(h => h.Mode == LockMode.Exclusive) <= 1);
                    lastGrant[name] = s.Index;
                }
            });
        });

    [Fact]
    public void Waiters_are_granted_in_fifo_order_and_never_reordered() =>
        Check(ops => new Scenario().Run(ops, (s, before, _) =>
        {
            foreach (var name in LockNames)
            {
                var queueBefore = before.Locks[name].Waiters.Select(w => w.SessionId).ToList();
                var after = s.Machine.GetLock(name);
                var holdersNow = after.Holders.Select(h => h.SessionId).ToHashSet();
                var waitingNow = after.Waiters.Select(w => w.SessionId).ToList();
                // Those still waiting keep their relative order, ahead of anyone who arrived later.
                Assert.Equal(queueBefore.Where(waitingNow.Contains), waitingNow.Take(queueBefore.Count(waitingNow.Contains)));
                // Anyone granted from the queue had nobody still waiting ahead of them.
                for (var i = 0; i < queueBefore.Count; i++)
                {
                    if (holdersNow.Contains(queueBefore[i]))
                    {
                        Assert.DoesNotContain(queueBefore.Take(i), waitingNow.Contains);
                    }
                }
            }
        }));

    [Fact]
    public void Expiry_and_revocation_release_everything_attached_in_the_same_step() =>
        Check(ops => new Scenario().Run(ops, (s, _, command) =>
        {
            var live = s.Machine.ListSessions().Select(x => x.SessionId).ToHashSet();
            foreach (var name in LockNames)
            {
                var info = s.Machine.GetLock(name);
                Assert.All(info.Holders, h => Assert.Contains(h.SessionId, live));
                Assert.All(info.Waiters, w => Assert.Contains(w.SessionId, live));
                if (command is AdvanceTime)
                {
                    Assert.All(info.Waiters, w => Assert.True(w.DeadlineMs > s.NowMs));
                    Assert.All(info.Holders, h => Assert.True(h.RevokeAtMs == 0 || h.RevokeAtMs > s.NowMs));
                }
            }

            foreach (var e in Scenario.Elections)
            {
                Assert.All(s.Machine.GetElection(e).Candidates, c => Assert.Contains(c.SessionId, live));
            }

            foreach (var g in Scenario.Groups)
            {
                Assert.All(s.Machine.ListMembers(g), m => Assert.Contains(m.SessionId, live));
            }

            if (command is AdvanceTime)
            {
                Assert.All(s.Machine.ListSessions(), x => Assert.True(x.DeadlineMs > s.NowMs));
                Assert.True(s.Machine.NextDeadlineMs is null || s.Machine.NextDeadlineMs > s.NowMs);
            }
        }));

    [Fact]
    public void Election_terms_strictly_increase_and_a_leader_always_heads_the_candidates() =>
        Check(ops => new Scenario().Run(ops, (s, before, _) =>
        {
            foreach (var e in Scenario.Elections)
            {
                var now = s.Machine.GetElection(e);
                var was = before.Elections[e];
                Assert.Equal(now.Candidates.Count > 0, now.Leader is not null);
                if (now.Leader is not null && now.LeaderToken != was.LeaderToken)
                {
                    Assert.Equal(s.Index, now.LeaderToken);
                    Assert.True(now.LeaderToken > was.LeaderToken);
                }
            }
        }));

    [Fact]
    public void Snapshot_then_restore_gives_the_same_state_and_the_same_future_results() =>
        Prop.ForAll(Sequences, Arb.From(Gen.Choose(0, 100)), (ops, cut) =>
        {
            var split = ops.Length == 0 ? 0 : cut % (ops.Length + 1);
            var straight = new Scenario();
            var straightResults = ops.Select(straight.Step).ToList();

            var restored = new Scenario();
            var restoredResults = ops[..split].Select(restored.Step).ToList();
            var snapshot = restored.Harness.Machine.WriteSnapshot();
            restored.Harness.Restore();
            Assert.Equal(snapshot, restored.Harness.Machine.WriteSnapshot());
            restoredResults.AddRange(ops[split..].Select(restored.Step));

            Assert.Equal(straightResults, restoredResults);
            Assert.Equal(straight.Harness.Machine.WriteSnapshot(), restored.Harness.Machine.WriteSnapshot());
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(200).WithEndSize(120));

    [Fact]
    public void The_random_sequences_reach_queueing_expiry_revocation_promotion_and_fencing()
    {
        var seen = new HashSet<EventType>();
        foreach (var ops in Gen.Sample(Gen.ListOf(OpGen).Select(l => l.ToArray()), 100, 200))
        {
            var scenario = new Scenario();
            foreach (var op in ops)
            {
                scenario.Step(op);
            }

            seen.UnionWith(scenario.Machine.EventsSince(0, EventFilter.All).Events.Select(e => e.Type));
        }

        EventType[] wanted =
        [
            EventType.LockQueued, EventType.LockWaitEnded, EventType.LockHoldRevoked, EventType.SessionExpired,
            EventType.SessionRevoked, EventType.CandidateQueued, EventType.NoLeader, EventType.LeaderProclaimed,
            EventType.MemberExpired, EventType.MemberLeft, EventType.ConfigPut,
        ];
        Assert.Empty(wanted.Except(seen));
    }

    /// <summary>What the previous step left, for properties that compare before and after.</summary>
    private sealed record View(IReadOnlyDictionary<string, LockInfo> Locks, IReadOnlyDictionary<string, ElectionInfo> Elections);

    /// <summary>Turns random operations into commands that mostly make sense (live sessions, current tokens) and sometimes do not.</summary>
    private sealed class Scenario
    {
        public static readonly string[] Elections = ["e0", "e1"];
        public static readonly string[] Groups = ["g0", "g1"];

        private readonly List<ulong> _sessions = [];

        public GrainHarness Harness { get; } = new();

        public CoordinationStateMachine Machine => Harness.Machine;

        public ulong Index => Harness.Index;

        public long NowMs => Harness.NowMs;

        public void Run(Op[] ops, Action<Scenario, View, Command> check)
        {
            foreach (var op in ops)
            {
                var before = Capture();
                var command = ToCommand(op);
                Apply(command);
                check(this, before, command);
            }
        }

        public string Step(Op op) => Apply(ToCommand(op)).ToString();

        private CommandResult Apply(Command command)
        {
            var state = Machine.EncodeState();
            var result = Harness.Apply(command);
            switch (result)
            {
                case Rejected:
                    Assert.Equal(state, Machine.EncodeState());
                    break;
                case SessionCreated created:
                    _sessions.Add(created.SessionId);
                    break;
            }

            return result;
        }

        private View Capture() => new(
            LockNames.ToDictionary(n => n, Machine.GetLock),
            Elections.ToDictionary(n => n, Machine.GetElection));

        private Command ToCommand(Op op)
        {
            Harness.NowMs += op.X * 40;
            // Mostly live sessions, sometimes any session ever created (possibly ended), to exercise rejections.
            var live = Machine.ListSessions().Select(x => x.SessionId).ToList();
            var pool = op.Session < 6 && live.Count > 0 ? live : _sessions;
            var session = pool.Count == 0 ? 999_999UL : pool[op.Session % pool.Count];
            var lockName = LockNames[op.Name];
            var election = Elections[op.Name % 2];
            var group = Groups[op.Name % 2];
            // Releases come mostly from a current holder (any of them), so queues move.
            var holders = Machine.GetLock(lockName).Holders;
            var held = op.Session < 6 && holders.Count > 0 ? holders[op.Session % holders.Count] : holders.FirstOrDefault(h => h.SessionId == session);
            return op.Kind switch
            {
                0 => new CreateSession(3_000 + (op.X * 1_000)),
                1 => new RenewSession(session),
                2 => op.X < 3 ? new RevokeSession(session) : new RenewSession(session),
                3 => new AdvanceTime(),
                4 => op.X < 2 ? new ExtendAllSessions() : op.X < 4 ? new ExtendSessionsBy(op.X * 250) : new AdvanceTime(),
                5 or 6 => new AcquireLock(
                    lockName,
                    session,
                    op.Name == 2 ? LockMode.Semaphore : op.X % 2 == 0 ? LockMode.Exclusive : LockMode.Shared,
                    op.Name == 2 ? 2 : 0,
                    op.X < 7 ? 2_000 + (op.X * 1_000) : 0,
                    op.X == 9 || op.X == 4 ? 1_500 : 0),
                7 => new ReleaseLock(lockName, held?.SessionId ?? session, held is null ? (ulong)op.X : held.Token + (op.X == 0 ? 1UL : 0)),
                8 => new Campaign(election, session, [(byte)op.X]),
                9 => new Resign(election, session),
                10 => new Proclaim(election, Machine.GetElection(election).LeaderToken + (op.X == 0 ? 1UL : 0), [(byte)op.X]),
                11 => new JoinGroup(group, session, op.X % 3 == 0 ? "" : $"m{op.X % 4}", []),
                12 => new LeaveGroup(group, Machine.ListMembers(group).FirstOrDefault()?.MemberId ?? "m1"),
                // Abandons come mostly from a waiter (the head or not), else from a holder or anyone.
                14 => new AbandonLock(lockName, op.X < 5 && Machine.GetLock(lockName).Waiters is { Count: > 0 } waiters ? waiters[op.Session % waiters.Count].SessionId : held?.SessionId ?? session),
                _ => new FencedPutConfig("c", "1"u8.ToArray(), lockName, Machine.GetLock(lockName).Holders.FirstOrDefault()?.Token ?? (ulong)op.X),
            };
        }
    }
}
