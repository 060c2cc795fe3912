using Coordination.Grains;

namespace Coordination.Tests.Grains;

public class LockTests
{
    private readonly GrainHarness _h = new();

    [Fact]
    public void A_free_lock_is_granted_with_the_log_index_as_fencing_token()
    {
        var s = _h.Session();
        var token = _h.Lock("db", s);
        Assert.Equal(_h.Index, token);
        var info = _h.Machine.GetLock("db");
        Assert.Equal(new LockHolder(s, LockMode.Exclusive, token, _h.NowMs, 0), Assert.Single(info.Holders));
        Assert.Equal(EventType.LockGranted, Assert.Single(_h.EventsAt(_h.Index)).Type);
    }

    [Fact]
    public void Held_lock_is_denied_to_a_second_session_until_released()
    {
        var a = _h.Session();
        var b = _h.Session();
        var token = _h.Lock("db", a);
        _h.Reject(new AcquireLock("db", b, LockMode.Exclusive), ErrorCode.LockBusy);
        _h.Expect<LockReleased>(new ReleaseLock("db", a, token));
        Assert.True(_h.Lock("db", b) > token);
    }

    [Fact]
    public void Shared_holders_share_and_exclusive_waits_for_all_of_them()
    {
        var r1 = _h.Session();
        var r2 = _h.Session();
        var w = _h.Session();
        var t1 = _h.Lock("rw", r1, LockMode.Shared);
        var t2 = _h.Lock("rw", r2, LockMode.Shared);
        Assert.Equal(0, _h.Wait("rw", w).Position);
        _h.Expect<LockReleased>(new ReleaseLock("rw", r1, t1));
        Assert.DoesNotContain(_h.Machine.GetLock("rw").Holders, h => h.Mode == LockMode.Exclusive);
        var released = _h.Expect<LockReleased>(new ReleaseLock("rw", r2, t2));
        Assert.Equal(1, released.WaitersGranted);
        Assert.Equal(w, Assert.Single(_h.Machine.GetLock("rw").Holders).SessionId);
    }

    [Fact]
    public void A_shared_request_does_not_jump_ahead_of_a_queued_exclusive_one()
    {
        var r1 = _h.Session();
        var w = _h.Session();
        var r2 = _h.Session();
        _h.Lock("rw", r1, LockMode.Shared);
        _h.Wait("rw", w);
        _h.Reject(new AcquireLock("rw", r2, LockMode.Shared), ErrorCode.LockBusy);
        Assert.Equal(1, _h.Wait("rw", r2, mode: LockMode.Shared).Position);
    }

    [Fact]
    public void A_release_grants_every_consecutive_shared_waiter_in_one_step()
    {
        var w = _h.Session();
        var readers = Enumerable.Range(0, 3).Select(_ => _h.Session()).ToArray();
        var writer2 = _h.Session();
        var token = _h.Lock("rw", w);
        foreach (var r in readers)
        {
            _h.Wait("rw", r, mode: LockMode.Shared);
        }

        _h.Wait("rw", writer2);
        Assert.Equal(3, _h.Expect<LockReleased>(new ReleaseLock("rw", w, token)).WaitersGranted);
        var info = _h.Machine.GetLock("rw");
        Assert.Equal(readers, info.Holders.Select(h => h.SessionId));
        Assert.All(info.Holders, h => Assert.Equal(_h.Index, h.Token));
        Assert.Equal(writer2, Assert.Single(info.Waiters).SessionId);
    }

    [Fact]
    public void A_semaphore_grants_at_most_its_permits_and_then_queues()
    {
        var sessions = Enumerable.Range(0, 4).Select(_ => _h.Session()).ToArray();
        var t0 = _h.Lock("pool", sessions[0], LockMode.Semaphore, permits: 3);
        _h.Lock("pool", sessions[1], LockMode.Semaphore, permits: 3);
        _h.Lock("pool", sessions[2], LockMode.Semaphore, permits: 3);
        _h.Reject(new AcquireLock("pool", sessions[3], LockMode.Semaphore, 3), ErrorCode.LockBusy);
        _h.Wait("pool", sessions[3], mode: LockMode.Semaphore, permits: 3);
        _h.Expect<LockReleased>(new ReleaseLock("pool", sessions[0], t0));
        Assert.Equal(3, _h.Machine.GetLock("pool").Holders.Count);
        Assert.Contains(_h.Machine.GetLock("pool").Holders, h => h.SessionId == sessions[3]);
    }

    [Fact]
    public void A_semaphore_in_use_rejects_a_different_permit_count_or_a_read_write_request()
    {
        var a = _h.Session();
        var b = _h.Session();
        _h.Lock("pool", a, LockMode.Semaphore, permits: 3);
        _h.Reject(new AcquireLock("pool", b, LockMode.Semaphore, 4), ErrorCode.InvalidArgument);
        _h.Reject(new AcquireLock("pool", b, LockMode.Exclusive), ErrorCode.InvalidArgument);
    }

    [Theory]
    [InlineData(LockMode.Semaphore, 0, 0, 0)]
    [InlineData(LockMode.Semaphore, Limits.PermitsMax + 1, 0, 0)]
    [InlineData(LockMode.Exclusive, 2, 0, 0)]
    [InlineData(LockMode.Exclusive, 0, -1, 0)]
    [InlineData(LockMode.Exclusive, 0, Limits.LockWaitMsMax + 1, 0)]
    [InlineData(LockMode.Exclusive, 0, 0, -1)]
    [InlineData(LockMode.Exclusive, 0, 0, Limits.LockHoldMsMax + 1)]
    [InlineData((LockMode)9, 0, 0, 0)]
    public void Invalid_acquire_arguments_are_rejected(LockMode mode, int permits, long waitMs, long maxHoldMs) =>
        _h.Reject(new AcquireLock("db", _h.Session(), mode, permits, waitMs, maxHoldMs), ErrorCode.InvalidArgument);

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("slash/name")]
    [InlineData("ünïcode")]
    public void An_invalid_lock_name_is_rejected(string name) =>
        _h.Reject(new AcquireLock(name, _h.Session(), LockMode.Exclusive), ErrorCode.InvalidName);

    [Fact]
    public void A_name_longer_than_the_limit_is_rejected() =>
        _h.Reject(new AcquireLock(new string('a', Limits.NameLengthMax + 1), _h.Session(), LockMode.Exclusive), ErrorCode.InvalidName);

    [Fact]
    public void Acquire_by_an_unknown_or_expired_session_is_rejected()
    {
        _h.Reject(new AcquireLock("db", 999, LockMode.Exclusive), ErrorCode.SessionNotFound);
        var s = _h.Session(10_000);
        _h.NowMs += 10_000;
        _h.Reject(new AcquireLock("db", s, LockMode.Exclusive), ErrorCode.SessionExpired);
    }

    [Fact]
    public void A_session_that_holds_or_waits_cannot_acquire_the_same_lock_again()
    {
        var a = _h.Session();
        var b = _h.Session();
        _h.Lock("db", a);
        _h.Reject(new AcquireLock("db", a, LockMode.Exclusive, 0, 1_000), ErrorCode.AlreadyExists);
        _h.Wait("db", b);
        _h.Reject(new AcquireLock("db", b, LockMode.Exclusive, 0, 1_000), ErrorCode.AlreadyExists);
    }

    [Fact]
    public void The_queue_is_bounded_by_the_waiter_limit()
    {
        var holder = _h.Session();
        _h.Lock("db", holder);
        _h.CheckEveryStep = false;
        for (var i = 0; i < Limits.WaitersPerLockMax; i++)
        {
            _h.Wait("db", _h.Session());
        }

        _h.CheckEveryStep = true;
        _h.Reject(new AcquireLock("db", _h.Session(), LockMode.Exclusive, 0, 1_000), ErrorCode.LimitExceeded);
    }

    [Fact]
    public void Shared_holders_beyond_the_holder_limit_must_wait()
    {
        _h.CheckEveryStep = false;
        for (var i = 0; i < Limits.HoldersPerLockMax; i++)
        {
            _h.Lock("rw", _h.Session(), LockMode.Shared);
        }

        _h.CheckEveryStep = true;
        var late = _h.Session();
        _h.Reject(new AcquireLock("rw", late, LockMode.Shared), ErrorCode.LockBusy);
        Assert.Equal(0, _h.Wait("rw", late, mode: LockMode.Shared).Position);
    }

    [Fact]
    public void Release_needs_the_session_to_hold_the_lock_and_the_right_token()
    {
        var a = _h.Session();
        var b = _h.Session();
        _h.Reject(new ReleaseLock("db", a, 1), ErrorCode.LockNotHeld);
        var token = _h.Lock("db", a);
        _h.Reject(new ReleaseLock("db", b, token), ErrorCode.LockNotHeld);
        _h.Reject(new ReleaseLock("db", a, token + 1), ErrorCode.WrongToken);
    }

    [Fact]
    public void Waiters_are_granted_in_arrival_order()
    {
        var holder = _h.Session();
        var waiters = Enumerable.Range(0, 4).Select(_ => _h.Session()).ToArray();
        var token = _h.Lock("db", holder);
        foreach (var w in waiters)
        {
            _h.Wait("db", w);
        }

        var order = new List<ulong>();
        var current = (Session: holder, Token: token);
        for (var i = 0; i < waiters.Length; i++)
        {
            _h.Expect<LockReleased>(new ReleaseLock("db", current.Session, current.Token));
            var next = Assert.Single(_h.Machine.GetLock("db").Holders);
            order.Add(next.SessionId);
            current = (next.SessionId, next.Token);
        }

        Assert.Equal(waiters, order);
    }

    [Fact]
    public void A_waiter_gives_up_at_its_deadline_and_the_next_one_stays_queued()
    {
        var holder = _h.Session(60_000);
        var w1 = _h.Session(60_000);
        var w2 = _h.Session(60_000);
        _h.Lock("db", holder);
        _h.Wait("db", w1, waitMs: 1_000);
        _h.Wait("db", w2, waitMs: 5_000);
        Assert.Equal(1, _h.Tick(1_000).LockWaitsExpired);
        Assert.Equal([w2], _h.Machine.GetLock("db").Waiters.Select(w => w.SessionId));
        Assert.Empty(_h.Machine.GetSession(w1)!.Attachments);
        Assert.Contains(_h.EventsAt(_h.Index), e => e.Type == EventType.LockWaitEnded && e.SessionId == w1);
    }

    [Fact]
    public void An_expired_exclusive_waiter_unblocks_shared_waiters_behind_it()
    {
        var reader = _h.Session(60_000);
        var writer = _h.Session(60_000);
        var reader2 = _h.Session(60_000);
        _h.Lock("rw", reader, LockMode.Shared);
        _h.Wait("rw", writer, waitMs: 1_000);
        _h.Wait("rw", reader2, waitMs: 5_000, mode: LockMode.Shared);
        _h.Tick(1_000);
        Assert.Equal([reader, reader2], _h.Machine.GetLock("rw").Holders.Select(h => h.SessionId));
        Assert.Empty(_h.Machine.GetLock("rw").Waiters);
    }

    [Fact]
    public void A_hold_past_its_maximum_time_is_revoked_and_the_next_waiter_granted_in_that_step()
    {
        var a = _h.Session(60_000);
        var b = _h.Session(60_000);
        var token = _h.Lock("db", a, maxHoldMs: 3_000);
        _h.Wait("db", b, waitMs: 10_000);
        Assert.Equal(_h.NowMs + 3_000, _h.Machine.NextDeadlineMs);
        Assert.Equal(1, _h.Tick(3_000).LockHoldsRevoked);
        var holder = Assert.Single(_h.Machine.GetLock("db").Holders);
        Assert.Equal(b, holder.SessionId);
        Assert.Equal([EventType.LockHoldRevoked, EventType.LockGranted], _h.EventsAt(_h.Index).Select(e => e.Type));
        _h.Reject(new ReleaseLock("db", a, token), ErrorCode.LockNotHeld);
    }

    [Fact]
    public void A_waiter_keeps_its_maximum_hold_time_when_granted_later()
    {
        var a = _h.Session(60_000);
        var b = _h.Session(60_000);
        var token = _h.Lock("db", a);
        _h.Expect<LockQueued>(new AcquireLock("db", b, LockMode.Exclusive, 0, 10_000, 2_000));
        _h.NowMs += 500;
        _h.Expect<LockReleased>(new ReleaseLock("db", a, token));
        Assert.Equal(_h.NowMs + 2_000, Assert.Single(_h.Machine.GetLock("db").Holders).RevokeAtMs);
    }

    [Fact]
    public void An_idle_lock_holds_no_memory()
    {
        var s = _h.Session();
        var token = _h.Lock("db", s);
        Assert.Equal(1, _h.Machine.Counts.Locks);
        _h.Expect<LockReleased>(new ReleaseLock("db", s, token));
        Assert.Equal(0, _h.Machine.Counts.Locks);
        Assert.Empty(_h.Machine.GetLock("db").Holders);
    }

    [Fact]
    public void A_lock_used_as_a_semaphore_can_be_reused_as_a_read_write_lock_once_idle()
    {
        var s = _h.Session();
        var token = _h.Lock("x", s, LockMode.Semaphore, permits: 2);
        _h.Expect<LockReleased>(new ReleaseLock("x", s, token));
        _h.Lock("x", s, LockMode.Exclusive);
    }
}
