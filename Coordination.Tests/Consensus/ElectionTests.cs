using Coordination.Consensus;
using static Coordination.Tests.Consensus.RaftHarness;

namespace Coordination.Tests.Consensus;

/// <summary>Leader election: Raft §5.1-§5.2, §5.4.1, PreVote and CheckQuorum (dissertation §9.6).</summary>
public class ElectionTests
{
    private static Message Msg(MessageKind kind, ulong from, ulong to, ulong term, ulong index = 0, ulong logTerm = 0, bool reject = false) =>
        new() { Kind = kind, From = from, To = to, Term = term, Index = index, LogTerm = logTerm, Reject = reject };

    [Fact]
    public void Raft_5_2_a_follower_that_hears_nothing_for_a_randomized_election_timeout_asks_for_pre_votes_without_changing_its_term()
    {
        var node = new RaftHarness(1, Voters(1, 2, 3));
        var ticks = 0;
        List<Message> sent = [];
        while (sent.Count == 0 && ticks < 100)
        {
            node.Node.Tick();
            ticks++;
            sent = node.Drain();
        }

        Assert.InRange(ticks, node.Options.ElectionTicks, (2 * node.Options.ElectionTicks) - 1);
        Assert.Equal([2UL, 3UL], sent.Select(m => m.To).Order());
        Assert.All(sent, m => Assert.Equal((MessageKind.PreVote, 2UL, 1UL, 1UL), (m.Kind, m.Term, m.Index, m.LogTerm)));
        Assert.Equal(RaftRole.PreCandidate, node.Node.Role);
        Assert.Equal(1UL, node.Node.Term);
        Assert.Equal(1UL, node.Storage.HardState.Term);
    }

    [Fact]
    public void Raft_5_2_a_pre_candidate_with_a_majority_of_pre_votes_becomes_candidate_and_votes_for_itself()
    {
        var node = new RaftHarness(1, Voters(1, 2, 3));
        node.TickUntil(MessageKind.PreVote);
        var sent = node.Receive(Msg(MessageKind.PreVoteResponse, 2, 1, 2));
        Assert.Equal(RaftRole.Candidate, node.Node.Role);
        Assert.Equal((2UL, 1UL), (node.Storage.HardState.Term, node.Storage.HardState.Vote));
        Assert.Equal([2UL, 3UL], sent.Where(m => m.Kind == MessageKind.Vote && m.Term == 2).Select(m => m.To).Order());
    }

    [Fact]
    public void Raft_5_2_a_candidate_with_votes_from_a_majority_becomes_leader_and_starts_its_term_with_a_no_op()
    {
        var node = new RaftHarness(1, Voters(1, 2, 3));
        node.TickUntil(MessageKind.PreVote);
        node.Receive(Msg(MessageKind.PreVoteResponse, 2, 1, 2));
        var sent = node.Receive(Msg(MessageKind.VoteResponse, 3, 1, 2));
        Assert.Equal(RaftRole.Leader, node.Node.Role);
        var appends = sent.Where(m => m.Kind == MessageKind.Append).ToArray();
        Assert.Equal([2UL, 3UL], appends.Select(m => m.To).Order());
        Assert.All(appends, m => Assert.Equal((1UL, 1UL, EntryKind.NoOp, 2UL, 2UL), (m.Index, m.LogTerm, m.Entries.Single().Kind, m.Entries.Single().Index, m.Entries.Single().Term)));
    }

    [Fact]
    public void Raft_5_2_a_candidate_rejected_by_a_majority_returns_to_follower()
    {
        var node = new RaftHarness(1, Voters(1, 2, 3), o => o with { PreVote = false, CheckQuorum = false });
        node.Node.Campaign();
        node.Drain();
        Assert.Equal(RaftRole.Candidate, node.Node.Role);
        node.Receive(Msg(MessageKind.VoteResponse, 2, 1, 2, reject: true));
        Assert.Equal(RaftRole.Candidate, node.Node.Role);
        node.Receive(Msg(MessageKind.VoteResponse, 3, 1, 2, reject: true));
        Assert.Equal(RaftRole.Follower, node.Node.Role);
    }

    [Fact]
    public void Raft_5_4_1_a_voter_denies_a_candidate_whose_log_is_behind_and_grants_one_as_up_to_date()
    {
        var voter = new RaftHarness(1, Voters(1, 2, 3), o => o with { CheckQuorum = false });
        voter.Receive(new Message { Kind = MessageKind.Append, From = 2, To = 1, Term = 2, Index = 1, LogTerm = 1, Entries = [new LogEntry(2, 2, EntryKind.NoOp, [])] });

        var denied = voter.Receive(Msg(MessageKind.Vote, 3, 1, 3, index: 1, logTerm: 1)).Single();
        Assert.True(denied.Reject);
        Assert.Equal(0UL, voter.Node.Vote);

        var granted = voter.Receive(Msg(MessageKind.Vote, 2, 1, 3, index: 2, logTerm: 2)).Single();
        Assert.False(granted.Reject);
        Assert.Equal(2UL, voter.Storage.HardState.Vote);
    }

    [Fact]
    public void Raft_5_2_a_voter_grants_at_most_one_vote_per_term()
    {
        var voter = new RaftHarness(1, Voters(1, 2, 3));
        Assert.False(voter.Receive(Msg(MessageKind.Vote, 2, 1, 2, 1, 1)).Single().Reject);
        Assert.True(voter.Receive(Msg(MessageKind.Vote, 3, 1, 2, 1, 1)).Single().Reject);
        Assert.False(voter.Receive(Msg(MessageKind.Vote, 2, 1, 2, 1, 1)).Single().Reject);
    }

    [Fact]
    public void Raft_5_1_term_and_vote_are_persisted_before_the_vote_is_sent_and_survive_a_restart()
    {
        var voter = new RaftHarness(1, Voters(1, 2, 3));
        voter.Node.Step(Msg(MessageKind.Vote, 2, 1, 2, 1, 1));
        var ready = voter.Node.GetReady();
        Assert.Equal(new HardState(2, 2, 1), ready.HardState);
        Assert.Contains(ready.Messages, m => m.Kind == MessageKind.VoteResponse && !m.Reject);
        Assert.True(ready.MustSync);
        voter.Storage.Save(ready.HardState, ready.Entries);
        voter.Node.Advance(ready);

        voter.Restart();
        Assert.True(voter.Receive(Msg(MessageKind.Vote, 3, 1, 2, 1, 1)).Single().Reject);
    }

    [Fact]
    public void Raft_5_1_a_leader_that_sees_a_higher_term_steps_down()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        leader.Receive(new Message { Kind = MessageKind.Heartbeat, From = 2, To = 1, Term = leader.Node.Term + 3 });
        Assert.Equal(RaftRole.Follower, leader.Node.Role);
        Assert.Equal(2UL, leader.Node.Leader);
    }

    [Fact]
    public void Raft_5_1_an_append_from_an_older_term_is_refused_and_tells_the_sender_the_newer_term()
    {
        var group = new RaftGroup(3);
        group.Elect(1);
        var follower = group[2];
        var term = follower.Node.Term;
        var last = follower.Node.LastIndex;
        var reply = follower.Receive(new Message { Kind = MessageKind.Append, From = 3, To = 2, Term = term - 1, Index = last, LogTerm = 1, Entries = [new LogEntry(last + 1, term - 1, EntryKind.Normal, [1])] }).Single();
        Assert.Equal((MessageKind.AppendResponse, term), (reply.Kind, reply.Term));
        Assert.Equal(last, follower.Node.LastIndex);
    }

    [Fact]
    public void CheckQuorum_a_follower_that_hears_from_its_leader_ignores_vote_requests()
    {
        var group = new RaftGroup(3);
        group.Elect(1);
        var follower = group[2];
        var term = follower.Node.Term;
        var replies = follower.Receive(Msg(MessageKind.Vote, 3, 2, term + 1, follower.Node.LastIndex, term));
        Assert.Empty(replies);
        Assert.Equal(term, follower.Node.Term);
        Assert.Equal(1UL, follower.Node.Leader);
    }

    [Fact]
    public void CheckQuorum_a_leader_cut_off_from_a_quorum_steps_down_within_two_election_timeouts()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        group.Isolate(1);
        for (var tick = 0; tick < 2 * leader.Options.ElectionTicks && leader.Node.Role == RaftRole.Leader; tick++)
        {
            group.TickAll();
        }

        Assert.NotEqual(RaftRole.Leader, leader.Node.Role);
    }

    [Fact]
    public void PreVote_a_partitioned_node_neither_raises_its_term_nor_disrupts_the_leader_when_it_returns()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        var term = leader.Node.Term;
        group.Isolate(3);
        group.TickAll(100);
        Assert.Equal(term, group[3].Node.Term);

        group.HealAll();
        group.TickAll(30);
        Assert.Equal((RaftRole.Leader, term), (leader.Node.Role, leader.Node.Term));
        Assert.Equal(1UL, group[3].Node.Leader);
    }

    [Fact]
    public void A_malformed_append_is_dropped_without_changing_anything()
    {
        var follower = new RaftHarness(1, Voters(1, 2, 3));
        var gap = new Message { Kind = MessageKind.Append, From = 2, To = 1, Term = 2, Index = 1, LogTerm = 1, Entries = [new LogEntry(3, 2, EntryKind.Normal, [1])] };
        Assert.Empty(follower.Receive(gap));
        Assert.Equal((1UL, 1UL), (follower.Node.LastIndex, follower.Node.Term));
    }

    [Theory]
    [InlineData(0UL, 10, 1)]
    [InlineData(1UL, 1, 1)]
    [InlineData(1UL, 5, 5)]
    [InlineData(1UL, 10, 0)]
    public void Options_are_validated_before_the_node_starts(ulong id, int electionTicks, int heartbeatTicks)
    {
        var options = new RaftOptions { NodeId = id, ElectionTicks = electionTicks, HeartbeatTicks = heartbeatTicks };
        Assert.Throws<ArgumentException>(() => new RaftNode(options, new MemoryLogStorage(), new SplitMixRandom(1)));
    }
}
