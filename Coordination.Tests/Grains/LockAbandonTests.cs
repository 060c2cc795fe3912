using Coordination.Grains;

namespace Coordination.Tests.Grains;

/// <summary>
/// <see cref="AbandonLock"/>: a caller that gave up on an acquire withdraws its wait, or its hold when
/// the grant raced the give-up, so no grant goes to a session nobody waits on.
/// </summary>
public class LockAbandonTests
{
    private readonly GrainHarness _h = new();

    [Fact]
    public void A_queued_waiter_that_abandons_leaves_the_queue_and_is_never_granted()
    {
        var holder = _h.Session(60_000);
        var gaveUp = _h.Session(60_000);
        var other = _h.Session(60_000);
        var token = _h.Lock("db", holder);
        _h.Wait("db", gaveUp, waitMs: 30_000);

        var abandoned = _h.Expect<LockAbandoned>(new AbandonLock("db", gaveUp));

        Assert.Equal(new LockAbandoned("db", LockAbandonOutcome.WaitWithdrawn, 0, 0), abandoned);
        Assert.Empty(_h.Machine.GetLock("db").Waiters);
        Assert.Empty(_h.Machine.GetSession(gaveUp)!.Attachments);
        var ended = Assert.Single(_h.EventsAt(_h.Index));
        Assert.Equal((EventType.LockWaitEnded, gaveUp), (ended.Type, ended.SessionId));
        // Its wait deadline went with it: only the sessions' expiries are left.
        Assert.Equal(_h.Machine.ListSessions().Min(s => s.DeadlineMs), _h.Machine.NextDeadlineMs);

        // Before the fix the waiter stayed queued until its deadline and took this release's grant.
        Assert.Equal(0, _h.Expect<LockReleased>(new ReleaseLock("db", holder, token)).WaitersGranted);
        Assert.Equal(0, _h.Machine.Counts.Locks);
        _h.Lock("db", other);
        Assert.Equal(other, Assert.Single(_h.Machine.GetLock("db").Holders).SessionId);
    }

    [Fact]
    public void Abandoning_as_the_holder_releases_exactly_as_release_would_and_grants_the_next_waiter()
    {
        var released = new GrainHarness();
        var abandoned = _h;
        ulong holder = 0, next = 0, token = 0;
        foreach (var h in new[] { released, abandoned })
        {
            holder = h.Session(60_000);
            next = h.Session(60_000);
            token = h.Lock("db", holder);
            h.Wait("db", next, waitMs: 30_000);
        }

        var release = released.Expect<LockReleased>(new ReleaseLock("db", holder, token));
        var abandon = abandoned.Expect<LockAbandoned>(new AbandonLock("db", holder));

        Assert.Equal(new LockAbandoned("db", LockAbandonOutcome.HoldReleased, token, 1), abandon);
        Assert.Equal((release.Token, release.WaitersGranted), (abandon.Token, abandon.WaitersGranted));
        Assert.Equal(released.Machine.EncodeState(), abandoned.Machine.EncodeState());
        Assert.Equal(released.EventsAt(released.Index), abandoned.EventsAt(abandoned.Index));
        Assert.Equal(
            [(EventType.LockReleased, holder, token), (EventType.LockGranted, next, abandoned.Index)],
            abandoned.EventsAt(abandoned.Index).Select(e => (e.Type, e.SessionId, e.Token)));
        Assert.Equal(next, Assert.Single(abandoned.Machine.GetLock("db").Holders).SessionId);
    }

    [Fact]
    public void Abandoning_an_exclusive_head_waiter_grants_the_shared_waiters_behind_it()
    {
        var reader = _h.Session(60_000);
        var writer = _h.Session(60_000);
        var reader2 = _h.Session(60_000);
        var writer2 = _h.Session(60_000);
        _h.Lock("rw", reader, LockMode.Shared);
        _h.Wait("rw", writer, waitMs: 30_000);
        _h.Wait("rw", reader2, waitMs: 30_000, mode: LockMode.Shared);
        _h.Wait("rw", writer2, waitMs: 30_000);

        var abandoned = _h.Expect<LockAbandoned>(new AbandonLock("rw", writer));

        Assert.Equal(new LockAbandoned("rw", LockAbandonOutcome.WaitWithdrawn, 0, 1), abandoned);
        var info = _h.Machine.GetLock("rw");
        Assert.Equal([reader, reader2], info.Holders.Select(h => h.SessionId));
        Assert.Equal(_h.Index, info.Holders[1].Token);
        Assert.Equal([writer2], info.Waiters.Select(w => w.SessionId));
        Assert.Equal(
            [(EventType.LockWaitEnded, writer), (EventType.LockGranted, reader2)],
            _h.EventsAt(_h.Index).Select(e => (e.Type, e.SessionId)));
    }

    [Fact]
    public void Abandoning_a_waiter_behind_the_head_keeps_the_others_in_order()
    {
        var holder = _h.Session(60_000);
        var waiters = Enumerable.Range(0, 3).Select(_ => _h.Session(60_000)).ToArray();
        _h.Lock("db", holder);
        foreach (var w in waiters)
        {
            _h.Wait("db", w, waitMs: 30_000);
        }

        Assert.Equal(0, _h.Expect<LockAbandoned>(new AbandonLock("db", waiters[1])).WaitersGranted);
        Assert.Equal([waiters[0], waiters[2]], _h.Machine.GetLock("db").Waiters.Select(w => w.SessionId));
        Assert.Equal(holder, Assert.Single(_h.Machine.GetLock("db").Holders).SessionId);
    }

    [Fact]
    public void Abandon_when_neither_holding_nor_waiting_is_a_success_that_changes_nothing()
    {
        var holder = _h.Session(60_000);
        var stranger = _h.Session(60_000);
        var waiter = _h.Session(60_000);
        _h.Lock("db", holder);
        _h.Wait("db", waiter, waitMs: 30_000);
        _h.Expect<LockAbandoned>(new AbandonLock("db", waiter));

        var cases = new AbandonLock[]
        {
            new("db", waiter), // a second abandon of the same wait
            new("db", stranger),
            new("db", 999_999), // no such session
            new("never-used", holder), // an idle lock: not even activated
        };
        foreach (var command in cases)
        {
            var state = _h.Machine.EncodeState();
            var events = _h.Machine.EventsSince(0, EventFilter.All).Events.Count;
            Assert.Equal(new LockAbandoned(command.Name, LockAbandonOutcome.Nothing, 0, 0), _h.Expect<LockAbandoned>(command));
            Assert.Equal(events, _h.Machine.EventsSince(0, EventFilter.All).Events.Count);
            Assert.Equal(state, _h.Machine.EncodeState());
        }

        Assert.Equal(1, _h.Machine.Counts.Locks);
        Assert.Equal(holder, Assert.Single(_h.Machine.GetLock("db").Holders).SessionId);
        Assert.Empty(_h.Machine.GetLock("db").Waiters);
    }

    [Fact]
    public void An_abandon_with_an_invalid_name_is_rejected() =>
        _h.Reject(new AbandonLock("has space", _h.Session()), ErrorCode.InvalidName);

    [Fact]
    public void A_restored_machine_answers_an_abandon_the_same_way()
    {
        var holder = _h.Session(60_000);
        var waiter = _h.Session(60_000);
        _h.Lock("db", holder, maxHoldMs: 20_000);
        _h.Wait("db", waiter, waitMs: 30_000);
        var snapshot = _h.Machine.WriteSnapshot();

        var original = _h.Expect<LockAbandoned>(new AbandonLock("db", holder));
        var restored = CoordinationStateMachine.ReadSnapshot(snapshot);
        Assert.Equal(original, restored.Apply(_h.Index, _h.NowMs, CommandCodec.Encode(new AbandonLock("db", holder))));
        restored.CheckInvariants();
        Assert.Equal(_h.Machine.WriteSnapshot(), restored.WriteSnapshot());
    }
}
