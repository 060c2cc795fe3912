using Coordination.Consensus;

namespace Coordination.Tests.Consensus;

/// <summary>Linearizable reads (dissertation §6.4) and leadership transfer (dissertation §3.10).</summary>
public class ReadIndexAndTransferTests
{
    [Fact]
    public void ReadIndex_is_answered_only_after_a_quorum_confirms_leadership_in_a_fresh_heartbeat_round()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        Assert.Equal(ProposalResult.Accepted, leader.Node.ReadIndex(77));
        var heartbeats = leader.Drain().Where(m => m.Kind == MessageKind.Heartbeat).ToArray();
        Assert.Equal(2, heartbeats.Length);
        Assert.All(heartbeats, m => Assert.True(m.Context > 0));
        Assert.Empty(leader.Reads);

        var confirmation = group[2].Receive(heartbeats.Single(m => m.To == 2)).Single();
        leader.Receive(confirmation);
        Assert.Equal([new ReadState(leader.Node.CommitIndex, 77)], leader.Reads);
    }

    [Fact]
    public void A_heartbeat_answer_from_an_earlier_round_does_not_confirm_a_later_read()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        leader.Node.Tick();
        var oldRound = leader.Drain().First(m => m.Kind == MessageKind.Heartbeat && m.To == 2);
        leader.Node.ReadIndex(5);
        leader.Drain();
        leader.Receive(group[2].Receive(oldRound).Single());
        Assert.Empty(leader.Reads);
    }

    [Fact]
    public void A_new_leader_answers_reads_only_after_committing_an_entry_of_its_term()
    {
        var node = new RaftHarness(1, RaftHarness.Voters(1, 2, 3), o => o with { PreVote = false });
        node.Node.Campaign();
        node.Drain();
        node.Receive(new Message { Kind = MessageKind.VoteResponse, From = 2, To = 1, Term = 2 });
        Assert.Equal(ProposalResult.Accepted, node.Node.ReadIndex(9));
        Assert.DoesNotContain(node.Drain(), m => m.Kind == MessageKind.Heartbeat && m.Context > 0);

        // Follower 2 acknowledges the no-op: the leader commits in its term and starts the read round.
        var sent = node.Receive(new Message { Kind = MessageKind.AppendResponse, From = 2, To = 1, Term = 2, Index = 2 });
        var round = sent.First(m => m.Kind == MessageKind.Heartbeat && m.To == 2 && m.Context > 0);
        node.Receive(new Message { Kind = MessageKind.HeartbeatResponse, From = 2, To = 1, Term = 2, Context = round.Context });
        Assert.Equal([new ReadState(2, 9)], node.Reads);
    }

    [Fact]
    public void Pending_reads_are_never_answered_after_leadership_is_lost()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        leader.Node.ReadIndex(3);
        var heartbeat = leader.Drain().First(m => m.Kind == MessageKind.Heartbeat && m.To == 2);
        var answer = group[2].Receive(heartbeat).Single();

        leader.Receive(new Message { Kind = MessageKind.Heartbeat, From = 3, To = 1, Term = leader.Node.Term + 1 });
        leader.Receive(answer);
        Assert.Empty(leader.Reads);
        Assert.Equal(RaftRole.Follower, leader.Node.Role);
    }

    [Fact]
    public void A_follower_forwards_a_read_to_the_leader_and_receives_the_confirmed_index()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        Assert.Equal(ProposalResult.Accepted, group[2].Node.ReadIndex(11));
        group.Settle();
        Assert.Equal([new ReadState(leader.Node.CommitIndex, 11)], group[2].Reads);
    }

    [Fact]
    public void A_node_that_knows_no_leader_refuses_a_read()
    {
        var node = new RaftHarness(1, RaftHarness.Voters(1, 2, 3));
        Assert.Equal(ProposalResult.NotLeader, node.Node.ReadIndex(1));
    }

    [Fact]
    public void Leadership_transfer_hands_over_to_a_caught_up_voter_even_while_voters_hear_from_the_leader()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        var term = leader.Node.Term;
        Assert.Equal(ProposalResult.Accepted, leader.Node.TransferLeadership(2));
        group.Settle();
        Assert.Equal((RaftRole.Leader, term + 1), (group[2].Node.Role, group[2].Node.Term));
        Assert.Equal((RaftRole.Follower, 2UL), (leader.Node.Role, leader.Node.Leader));
    }

    [Fact]
    public void Proposals_are_refused_during_a_transfer_that_is_abandoned_after_an_election_timeout()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        group.Isolate(2);
        leader.Node.Propose([1]);
        group.Settle();
        Assert.Equal(ProposalResult.Accepted, leader.Node.TransferLeadership(2));
        Assert.Equal(ProposalResult.Transferring, leader.Node.Propose([2]));

        // Node 2 never answers, so the transfer cannot complete; node 3 keeps the quorum active.
        for (var tick = 0; tick < leader.Options.ElectionTicks; tick++)
        {
            leader.Node.Tick();
            leader.Drain();
        }

        Assert.Equal(0UL, leader.Node.LeadTransferee);
        Assert.Equal(ProposalResult.Accepted, leader.Node.Propose([3]));
    }

    [Fact]
    public void Leadership_can_be_transferred_only_to_another_voter()
    {
        var group = new RaftGroup(3, learners: 1);
        var leader = group.Elect(1);
        Assert.Equal(ProposalResult.InvalidTarget, leader.Node.TransferLeadership(1));
        Assert.Equal(ProposalResult.InvalidTarget, leader.Node.TransferLeadership(4));
        Assert.Equal(ProposalResult.NotLeader, group[2].Node.TransferLeadership(3));
    }
}
