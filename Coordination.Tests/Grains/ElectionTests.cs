using Coordination.Grains;

namespace Coordination.Tests.Grains;

public class ElectionTests
{
    private readonly GrainHarness _h = new();

    [Fact]
    public void The_first_candidate_leads_with_the_log_index_as_term_token_and_others_queue()
    {
        var a = _h.Session();
        var b = _h.Session();
        var elected = _h.Expect<LeaderElected>(new Campaign("primary", a, [1]));
        Assert.Equal(_h.Index, elected.Token);
        Assert.Equal(1, _h.Expect<CandidateQueued>(new Campaign("primary", b, [2])).Position);
        var info = _h.Machine.GetElection("primary");
        Assert.Equal(a, info.Leader!.SessionId);
        Assert.Equal(elected.Token, info.LeaderToken);
        Assert.Equal([a, b], info.Candidates.Select(c => c.SessionId));
    }

    [Fact]
    public void The_leader_proclaims_a_new_value_with_its_token()
    {
        var a = _h.Session();
        var token = _h.Expect<LeaderElected>(new Campaign("primary", a, [1])).Token;
        _h.Expect<LeaderProclaimed>(new Proclaim("primary", token, [9, 9]));
        Assert.Equal([9, 9], _h.Machine.GetElection("primary").Leader!.Value);
    }

    [Fact]
    public void Proclaim_with_a_stale_token_or_without_a_leader_or_too_large_is_rejected()
    {
        _h.Reject(new Proclaim("primary", 1, [1]), ErrorCode.NotFound);
        var a = _h.Session();
        var token = _h.Expect<LeaderElected>(new Campaign("primary", a, [1])).Token;
        _h.Reject(new Proclaim("primary", token + 1, [1]), ErrorCode.WrongToken);
        _h.Reject(new Proclaim("primary", token, new byte[Limits.ElectionValueBytesMax + 1]), ErrorCode.LimitExceeded);
    }

    [Fact]
    public void Campaign_rejections_leave_the_election_unchanged()
    {
        var a = _h.Session();
        _h.Reject(new Campaign("primary", a, new byte[Limits.ElectionValueBytesMax + 1]), ErrorCode.LimitExceeded);
        _h.Reject(new Campaign("primary", 12345, [1]), ErrorCode.SessionNotFound);
        _h.Reject(new Campaign("bad name", a, [1]), ErrorCode.InvalidName);
        _h.Expect<LeaderElected>(new Campaign("primary", a, [1]));
        _h.Reject(new Campaign("primary", a, [1]), ErrorCode.AlreadyExists);
    }

    [Fact]
    public void An_election_accepts_at_most_the_candidate_limit()
    {
        _h.CheckEveryStep = false;
        for (var i = 0; i < Limits.CandidatesPerElectionMax; i++)
        {
            _h.Apply(new Campaign("primary", _h.Session(), []));
        }

        _h.CheckEveryStep = true;
        Assert.Equal(Limits.CandidatesPerElectionMax, _h.Machine.GetElection("primary").Candidates.Count);
        _h.Reject(new Campaign("primary", _h.Session(), []), ErrorCode.LimitExceeded);
    }

    [Fact]
    public void A_resigning_leader_is_replaced_by_the_next_candidate_with_a_higher_token()
    {
        var a = _h.Session();
        var b = _h.Session();
        var first = _h.Expect<LeaderElected>(new Campaign("primary", a, [1])).Token;
        _h.Expect<CandidateQueued>(new Campaign("primary", b, [2]));
        Assert.True(_h.Expect<CandidacyWithdrawn>(new Resign("primary", a)).WasLeader);
        var info = _h.Machine.GetElection("primary");
        Assert.Equal(b, info.Leader!.SessionId);
        Assert.True(info.LeaderToken > first);
        _h.Reject(new Proclaim("primary", first, [3]), ErrorCode.WrongToken);
    }

    [Fact]
    public void The_last_candidate_resigning_leaves_no_leader_and_says_so()
    {
        var a = _h.Session();
        _h.Expect<LeaderElected>(new Campaign("primary", a, [1]));
        _h.Expect<CandidacyWithdrawn>(new Resign("primary", a));
        Assert.Null(_h.Machine.GetElection("primary").Leader);
        Assert.Equal([EventType.CandidateLeft, EventType.NoLeader], _h.EventsAt(_h.Index).Select(e => e.Type));
        Assert.Equal(0, _h.Machine.Counts.Elections);
    }

    [Fact]
    public void Resigning_without_a_candidacy_is_rejected() =>
        _h.Reject(new Resign("primary", _h.Session()), ErrorCode.NotFound);

    [Fact]
    public void A_queued_candidate_resigning_does_not_change_the_leader()
    {
        var a = _h.Session();
        var b = _h.Session();
        var token = _h.Expect<LeaderElected>(new Campaign("primary", a, [1])).Token;
        _h.Expect<CandidateQueued>(new Campaign("primary", b, [2]));
        Assert.False(_h.Expect<CandidacyWithdrawn>(new Resign("primary", b)).WasLeader);
        Assert.Equal(token, _h.Machine.GetElection("primary").LeaderToken);
    }

    [Fact]
    public void When_leader_and_next_candidate_expire_together_only_the_survivor_is_elected_once()
    {
        var a = _h.Session(5_000);
        var b = _h.Session(5_000);
        var c = _h.Session(60_000);
        _h.Expect<LeaderElected>(new Campaign("primary", a, [1]));
        _h.Expect<CandidateQueued>(new Campaign("primary", b, [2]));
        _h.Expect<CandidateQueued>(new Campaign("primary", c, [3]));
        _h.Tick(5_000);
        Assert.Equal(c, _h.Machine.GetElection("primary").Leader!.SessionId);
        Assert.Single(_h.EventsAt(_h.Index), e => e.Type == EventType.LeaderElected);
    }
}
