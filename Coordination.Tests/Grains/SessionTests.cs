using Coordination.Grains;

namespace Coordination.Tests.Grains;

public class SessionTests
{
    private readonly GrainHarness _h = new();

    [Fact]
    public void A_session_id_is_the_log_index_and_its_deadline_is_entry_time_plus_ttl()
    {
        _h.Apply(new ReserveSequence("warm-up"));
        var created = _h.Expect<SessionCreated>(new CreateSession(5_000));
        Assert.Equal(2UL, created.SessionId);
        Assert.Equal(GrainHarness.StartMs + 5_000, created.DeadlineMs);
        Assert.Equal(created.DeadlineMs, _h.Machine.NextDeadlineMs);
        Assert.Contains(_h.EventsAt(2), e => e.Type == EventType.SessionCreated && e.SessionId == 2);
    }

    [Theory]
    [InlineData(Limits.SessionTtlMsMin - 1)]
    [InlineData(Limits.SessionTtlMsMax + 1)]
    [InlineData(0)]
    [InlineData(-5)]
    public void A_ttl_outside_the_limits_is_rejected(long ttlMs) =>
        _h.Reject(new CreateSession(ttlMs), ErrorCode.InvalidArgument);

    [Fact]
    public void Renewal_moves_the_deadline_to_now_plus_ttl()
    {
        var s = _h.Session(10_000);
        _h.NowMs += 4_000;
        var renewed = _h.Expect<SessionRenewed>(new RenewSession(s));
        Assert.Equal(_h.NowMs + 10_000, renewed.DeadlineMs);
        _h.Tick(9_999);
        Assert.NotNull(_h.Machine.GetSession(s));
    }

    [Fact]
    public void Renewing_an_unknown_session_is_rejected() =>
        _h.Reject(new RenewSession(42), ErrorCode.SessionNotFound);

    [Fact]
    public void Renewing_after_the_deadline_is_rejected_even_before_expiry_is_applied()
    {
        var s = _h.Session(10_000);
        _h.NowMs += 10_000;
        _h.Reject(new RenewSession(s), ErrorCode.SessionExpired);
    }

    [Fact]
    public void A_session_expires_when_time_passes_its_deadline_and_not_before()
    {
        var s = _h.Session(10_000);
        Assert.Equal(0, _h.Tick(9_999).SessionsExpired);
        Assert.NotNull(_h.Machine.GetSession(s));
        var advanced = _h.Tick(1);
        Assert.Equal(1, advanced.SessionsExpired);
        Assert.Null(_h.Machine.GetSession(s));
        Assert.Null(_h.Machine.NextDeadlineMs);
        Assert.Contains(_h.EventsAt(_h.Index), e => e.Type == EventType.SessionExpired && e.SessionId == s);
    }

    [Fact]
    public void Revoking_a_session_removes_it_and_revoking_again_is_rejected()
    {
        var s = _h.Session();
        _h.Expect<SessionRevoked>(new RevokeSession(s));
        Assert.Null(_h.Machine.GetSession(s));
        Assert.Null(_h.Machine.NextDeadlineMs);
        _h.Reject(new RevokeSession(s), ErrorCode.SessionNotFound);
    }

    [Fact]
    public void A_new_leader_extends_every_session_by_its_ttl_so_failover_expires_no_live_client()
    {
        var shortLived = _h.Session(2_000);
        var longLived = _h.Session(60_000);
        // The old leader died; the new one takes over 1.5 s later, close to the short session's deadline.
        _h.NowMs += 1_500;
        Assert.Equal(2, _h.Expect<SessionsExtended>(new ExtendAllSessions()).Count);
        Assert.Equal(_h.NowMs + 2_000, _h.Machine.GetSession(shortLived)!.DeadlineMs);
        Assert.Equal(_h.NowMs + 60_000, _h.Machine.GetSession(longLived)!.DeadlineMs);
        Assert.Equal(0, _h.Tick(1_999).SessionsExpired);
    }

    [Fact]
    public void A_new_leader_moves_deadlines_on_by_the_time_without_a_leader_and_at_most_to_a_whole_ttl()
    {
        var shortLived = _h.Session(2_000);
        var longLived = _h.Session(60_000);
        var created = _h.NowMs;
        // The old leader led for 1.2 s more, then died; the new one took over 300 ms later.
        _h.NowMs += 1_500;
        Assert.Equal(2, _h.Expect<SessionsExtended>(new ExtendSessionsBy(300)).Count);
        Assert.Equal(created + 2_300, _h.Machine.GetSession(shortLived)!.DeadlineMs);
        Assert.Equal(created + 60_300, _h.Machine.GetSession(longLived)!.DeadlineMs);
        Assert.Equal(0, _h.Tick(799).SessionsExpired);
        Assert.Equal(1, _h.Tick(1).SessionsExpired);

        // A gap longer than a TTL (a node that had not heard from a leader for long) gives a whole TTL, no more.
        _h.Expect<SessionsExtended>(new ExtendSessionsBy(long.MaxValue));
        Assert.Equal(_h.NowMs + 60_000, _h.Machine.GetSession(longLived)!.DeadlineMs);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Leadership_changing_more_often_than_a_ttl_no_longer_keeps_a_crashed_clients_session(bool byLeaderlessTime)
    {
        // The client crashed at once; leadership changes every second, each election taking 300 ms.
        var crashed = _h.Session(2_000);
        var expired = false;
        for (var change = 0; change < 10 && !expired; change++)
        {
            _h.NowMs += 1_000;
            _h.Apply(byLeaderlessTime ? new ExtendSessionsBy(300) : new ExtendAllSessions());
            expired = _h.Tick(0).SessionsExpired == 1;
        }

        // A whole TTL per new leader (the command of level 1 and 2) kept it forever; the time without
        // a leader (level 3) expires it once the time with one adds up to its TTL.
        Assert.Equal(byLeaderlessTime, expired);
        Assert.Equal(byLeaderlessTime, _h.Machine.GetSession(crashed) is null);
    }

    [Fact]
    public void Log_time_never_goes_back_when_a_new_leader_clock_is_behind()
    {
        var s = _h.Session(10_000);
        _h.NowMs += 20_000;
        _h.Apply(new ReserveSequence("x"));
        _h.NowMs -= 15_000;
        Assert.Equal(1, _h.Expect<TimeAdvanced>(new AdvanceTime()).SessionsExpired);
        Assert.Equal(GrainHarness.StartMs + 20_000, _h.Machine.LogTimeMs);
        Assert.Null(_h.Machine.GetSession(s));
    }

    [Fact]
    public void Sessions_are_listed_in_id_order_a_page_at_a_time()
    {
        var ids = Enumerable.Range(0, 5).Select(_ => _h.Session()).ToArray();
        var first = _h.Machine.ListSessions(0, 2);
        Assert.Equal(ids[..2], first.Select(s => s.SessionId));
        var next = _h.Machine.ListSessions(first[^1].SessionId, 10);
        Assert.Equal(ids[2..], next.Select(s => s.SessionId));
    }

    [Fact]
    public void Expiry_releases_every_lock_candidacy_and_membership_of_the_session_in_the_same_step()
    {
        var s = _h.Session(10_000);
        var other = _h.Session(60_000);
        _h.Lock("db", s);
        _h.Wait("db", other, waitMs: 30_000);
        _h.Expect<LeaderElected>(new Campaign("primary", s, [1]));
        _h.Expect<CandidateQueued>(new Campaign("primary", other, [2]));
        _h.Expect<MemberJoined>(new JoinGroup("workers", s, "w1", []));
        Assert.Equal(3, _h.Machine.GetSession(s)!.Attachments.Count);

        _h.Tick(10_000);

        var step = _h.Index;
        Assert.Equal([other], _h.Machine.GetLock("db").Holders.Select(x => x.SessionId));
        Assert.Equal(step, _h.Machine.GetLock("db").Holders[0].Token);
        Assert.Equal(other, _h.Machine.GetElection("primary").Leader!.SessionId);
        Assert.Equal(step, _h.Machine.GetElection("primary").LeaderToken);
        Assert.Empty(_h.Machine.ListMembers("workers"));
        Assert.Equal(
            [EventType.SessionExpired, EventType.LockReleased, EventType.LockGranted, EventType.CandidateLeft, EventType.LeaderElected, EventType.MemberExpired],
            _h.EventsAt(step).Select(e => e.Type));
    }

    [Fact]
    public void Revocation_reports_members_as_left_not_expired()
    {
        var s = _h.Session();
        _h.Expect<MemberJoined>(new JoinGroup("workers", s, "w1", []));
        _h.Expect<SessionRevoked>(new RevokeSession(s));
        Assert.Equal([EventType.SessionRevoked, EventType.MemberLeft], _h.EventsAt(_h.Index).Select(e => e.Type));
    }

    [Fact]
    public void A_session_cannot_attach_to_more_grains_than_the_limit()
    {
        var s = _h.Session();
        _h.CheckEveryStep = false;
        for (var i = 0; i < Limits.AttachmentsPerSessionMax; i++)
        {
            _h.Lock($"l{i}", s);
        }

        _h.CheckEveryStep = true;
        _h.Machine.CheckInvariants();
        _h.Reject(new AcquireLock("one-more", s, LockMode.Exclusive), ErrorCode.LimitExceeded);
    }
}
