using Coordination.Grains;
using FsCheck;
using FsCheck.Fluent;

namespace Coordination.Tests.Grains;

public class TransactionTests
{
    private ulong _index;
    private readonly CoordinationStateMachine _machine = new();

    private CommandResult Apply(Command command) => _machine.Apply(++_index, 1_000, CodecRoundTrip(command));

    private static Command CodecRoundTrip(Command command) => CommandCodec.Decode(CommandCodec.Encode(command));

    private static byte[] Json(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    [Fact]
    public void A_transaction_applies_every_operation_at_one_revision()
    {
        Apply(new PutConfig("a", Json("1")));
        Apply(new PutConfig("b", Json("2")));
        var result = Assert.IsType<TransactionApplied>(Apply(new ApplyTransaction(
            [new ConfigVersionIs("a", 1), new ConfigVersionIs("c", 0)],
            [new PutConfigOperation("a", Json("10")), new DeleteConfigOperation("b"), new PutConfigOperation("c", Json("30")), new ReserveSequenceOperation("ids", 5)])));

        Assert.Equal(4, result.Results.Count);
        Assert.Equal((2L, _index), (_machine.GetConfig("a")!.Version, _machine.GetConfig("a")!.Revision));
        Assert.Null(_machine.GetConfig("b"));
        Assert.Equal(_index, _machine.GetConfig("c")!.Revision);
        Assert.Equal(5UL, _machine.GetSequence("ids"));
        var events = _machine.EventsSince(_index - 1, EventFilter.All).Events;
        Assert.Equal(4, events.Count);
        Assert.All(events, e => Assert.Equal(_index, e.Revision));
    }

    [Fact]
    public void A_failed_condition_changes_nothing()
    {
        Apply(new PutConfig("a", Json("1")));
        var before = _machine.WriteSnapshot();
        var refused = Assert.IsType<Rejected>(Apply(new ApplyTransaction([new ConfigVersionIs("a", 7)], [new PutConfigOperation("a", Json("2")), new ReserveSequenceOperation("ids", 1)])));
        Assert.Equal(ErrorCode.ConditionFailed, refused.Code);
        Assert.Equal(0UL, _machine.GetSequence("ids"));
        Assert.Equal(1L, _machine.GetConfig("a")!.Version);
    }

    [Fact]
    public void An_operation_that_would_be_refused_refuses_the_whole_transaction()
    {
        Apply(new PutConfig("a", Json("1")));
        var tooLarge = new byte[Limits.ConfigValueBytesMax + 1];
        Assert.Equal(ErrorCode.LimitExceeded, Assert.IsType<Rejected>(Apply(new ApplyTransaction([], [new PutConfigOperation("a", Json("2")), new PutConfigOperation("big", tooLarge)]))).Code);
        Assert.Equal(ErrorCode.NotFound, Assert.IsType<Rejected>(Apply(new ApplyTransaction([], [new PutConfigOperation("a", Json("3")), new DeleteConfigOperation("missing")]))).Code);
        Assert.Equal(ErrorCode.InvalidArgument, Assert.IsType<Rejected>(Apply(new ApplyTransaction([], [new PutConfigOperation("a", Json("4")), new PutConfigOperation("a", Json("5"))]))).Code);
        Assert.Equal(ErrorCode.InvalidName, Assert.IsType<Rejected>(Apply(new ApplyTransaction([], [new PutConfigOperation("a", Json("6")), new ReserveSequenceOperation("bad name", 1)]))).Code);
        Assert.Equal(ErrorCode.LimitExceeded, Assert.IsType<Rejected>(Apply(new ApplyTransaction([], []))).Code);
        Assert.Equal(1L, _machine.GetConfig("a")!.Version);
        Assert.Null(_machine.GetConfig("big"));
    }

    [Fact]
    public void A_lock_token_condition_admits_only_the_current_exclusive_holder()
    {
        var session = Assert.IsType<SessionCreated>(Apply(new CreateSession(10_000))).SessionId;
        var token = Assert.IsType<LockGranted>(Apply(new AcquireLock("db", session, LockMode.Exclusive))).Token;
        Assert.IsType<TransactionApplied>(Apply(new ApplyTransaction([new LockTokenIs("db", token)], [new PutConfigOperation("guarded", Json("1"))])));
        Apply(new ReleaseLock("db", session, token));
        Assert.Equal(ErrorCode.ConditionFailed, Assert.IsType<Rejected>(Apply(new ApplyTransaction([new LockTokenIs("db", token)], [new PutConfigOperation("guarded", Json("2"))]))).Code);
        Assert.Equal(1L, _machine.GetConfig("guarded")!.Version);
    }

    [Fact]
    public void A_release_in_a_transaction_lets_go_in_the_same_step_as_the_write_and_grants_the_next_waiter()
    {
        var first = Assert.IsType<SessionCreated>(Apply(new CreateSession(10_000))).SessionId;
        var second = Assert.IsType<SessionCreated>(Apply(new CreateSession(10_000))).SessionId;
        var token = Assert.IsType<LockGranted>(Apply(new AcquireLock("db", first, LockMode.Exclusive))).Token;
        Assert.IsType<LockQueued>(Apply(new AcquireLock("db", second, LockMode.Exclusive, WaitMs: 5_000)));

        var applied = Assert.IsType<TransactionApplied>(Apply(new ApplyTransaction([], [new PutConfigOperation("counter", Json("1")), new ReleaseLockOperation("db", first, token)])));
        var released = Assert.IsType<LockReleased>(applied.Results[1]);
        Assert.Equal((token, 1), (released.Token, released.WaitersGranted));
        var holder = Assert.Single(_machine.GetLock("db")!.Holders);
        // The next holder's token is the transaction's own entry: its write is visible to the new holder.
        Assert.Equal((second, _index), (holder.SessionId, holder.Token));
        Assert.Equal(_index, _machine.GetConfig("counter")!.Revision);
    }

    [Fact]
    public void A_release_that_is_not_the_current_hold_refuses_the_whole_transaction()
    {
        var session = Assert.IsType<SessionCreated>(Apply(new CreateSession(10_000))).SessionId;
        var token = Assert.IsType<LockGranted>(Apply(new AcquireLock("db", session, LockMode.Exclusive))).Token;

        Assert.Equal(ErrorCode.WrongToken, Assert.IsType<Rejected>(Apply(new ApplyTransaction([], [new PutConfigOperation("counter", Json("1")), new ReleaseLockOperation("db", session, token + 1)]))).Code);
        Assert.Equal(ErrorCode.LockNotHeld, Assert.IsType<Rejected>(Apply(new ApplyTransaction([], [new PutConfigOperation("counter", Json("1")), new ReleaseLockOperation("db", session + 7, token)]))).Code);
        Assert.Equal(ErrorCode.LockNotHeld, Assert.IsType<Rejected>(Apply(new ApplyTransaction([], [new ReleaseLockOperation("never-held", session, token)]))).Code);
        Assert.Equal(ErrorCode.InvalidArgument, Assert.IsType<Rejected>(Apply(new ApplyTransaction([], [new ReleaseLockOperation("db", session, token), new ReleaseLockOperation("db", session, token)]))).Code);

        Assert.Null(_machine.GetConfig("counter"));
        Assert.Equal(token, Assert.Single(_machine.GetLock("db")!.Holders).Token);
    }

    [Fact]
    public void Random_transactions_are_all_or_nothing()
    {
        // Property: after any transaction, either every operation took effect (versions moved, the
        // sequence advanced) or none did.
        Prop.ForAll(ArbMap.Default.ArbFor<int[]>(), (int[] plan) =>
        {
            var machine = new CoordinationStateMachine();
            var index = 0UL;
            foreach (var step in plan.Take(30))
            {
                var names = new[] { "a", "b", "c" };
                var put = names[Math.Abs(step % 3)];
                var other = names[Math.Abs((step / 3) % 3)];
                var expected = Math.Abs(step / 9) % 3;
                var before = (machine.GetConfig(put)?.Version ?? 0, machine.GetSequence("s"));
                var result = machine.Apply(++index, 1, new ApplyTransaction(
                    [new ConfigVersionIs(other, expected)],
                    [new PutConfigOperation(put, Json("1")), new ReserveSequenceOperation("s", 1)]));
                var after = (machine.GetConfig(put)?.Version ?? 0, machine.GetSequence("s"));
                var applied = result is TransactionApplied;
                if (applied ? after != (before.Item1 + 1, before.Item2 + 1) : after != before)
                {
                    return false;
                }
            }

            return true;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(200));
    }
}
