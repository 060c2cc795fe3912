using Coordination.Consensus;

namespace Coordination.Tests.Consensus;

/// <summary>Snapshots and log compaction (Raft §7) and one-server membership changes (dissertation §4).</summary>
public class SnapshotAndMembershipTests
{
    private static void ProposeAndSettle(RaftGroup group, RaftHarness leader, int count)
    {
        for (var i = 0; i < count; i++)
        {
            Assert.Equal(ProposalResult.Accepted, leader.Node.Propose([(byte)i]));
        }

        group.Settle();
    }

    private static void Compact(RaftHarness node)
    {
        var index = node.Node.AppliedIndex;
        node.Storage.Compact(new SnapshotMetadata(index, node.Storage.Term(index), node.Node.MembershipAt(index)), [7, 7, 7]);
    }

    [Fact]
    public void Raft_7_a_leader_sends_its_snapshot_to_a_follower_that_needs_compacted_entries()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        group.Isolate(3);
        ProposeAndSettle(group, leader, 10);
        Compact(leader);
        var snapshotIndex = leader.Storage.Snapshot.Metadata.Index;

        group.HealAll();
        group.TickAll(5);
        Assert.Equal(snapshotIndex, group[3].Storage.Snapshot.Metadata.Index);
        Assert.Equal([7, 7, 7], group[3].Storage.Snapshot.Data);
        Assert.Equal((leader.Node.LastIndex, leader.Node.CommitIndex), (group[3].Node.LastIndex, group[3].Node.CommitIndex));
        Assert.Equal(leader.Node.Membership, group[3].Node.Membership);
    }

    [Fact]
    public void Raft_7_a_follower_that_already_holds_the_snapshots_last_entry_keeps_its_log()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        ProposeAndSettle(group, leader, 5);
        var follower = group[2];
        var last = follower.Node.LastIndex;
        var snapshot = new Snapshot(new SnapshotMetadata(last - 1, follower.Node.Term, leader.Node.Membership), [1]);
        var reply = follower.Receive(new Message { Kind = MessageKind.InstallSnapshot, From = 1, To = 2, Term = leader.Node.Term, Snapshot = snapshot }).Single();
        Assert.Equal(MessageKind.AppendResponse, reply.Kind);
        Assert.Equal(last, follower.Node.LastIndex);
        Assert.True(follower.Storage.Snapshot.IsEmpty);
    }

    [Fact]
    public void A_restarted_node_recovers_its_log_and_membership_from_storage()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        ProposeAndSettle(group, leader, 3);
        Assert.Equal(ProposalResult.Accepted, leader.Node.ChangeMembership(MembershipChangeKind.AddLearner, 4));
        group.Settle();
        var follower = group[2];
        var (last, commit, membership) = (follower.Node.LastIndex, follower.Node.CommitIndex, follower.Node.Membership);
        follower.Restart();
        Assert.Equal((last, membership), (follower.Node.LastIndex, follower.Node.Membership));

        // The commit index is written only along with entries, term or vote (never synced alone), so a
        // restarted node may know less of it; never more, and the leader's next heartbeat restores it.
        Assert.InRange(follower.Node.CommitIndex, 0UL, commit);
        group.TickAll(3);
        group.Settle();
        Assert.Equal(commit, follower.Node.CommitIndex);
    }

    [Fact]
    public void Only_one_membership_change_may_be_pending_at_a_time()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        Assert.Equal(ProposalResult.Accepted, leader.Node.ChangeMembership(MembershipChangeKind.AddLearner, 4));
        Assert.Equal(ProposalResult.MembershipChangePending, leader.Node.ChangeMembership(MembershipChangeKind.AddLearner, 5));
        group.Settle();
        Assert.Equal(ProposalResult.Accepted, leader.Node.ChangeMembership(MembershipChangeKind.AddLearner, 5));
    }

    [Fact]
    public void A_new_leader_changes_membership_only_after_committing_an_entry_of_its_term()
    {
        var node = new RaftHarness(1, RaftHarness.Voters(1, 2, 3), o => o with { PreVote = false });
        node.Node.Campaign();
        node.Drain();
        node.Receive(new Message { Kind = MessageKind.VoteResponse, From = 2, To = 1, Term = 2 });
        Assert.Equal(ProposalResult.MembershipChangePending, node.Node.ChangeMembership(MembershipChangeKind.AddLearner, 4));
        node.Receive(new Message { Kind = MessageKind.AppendResponse, From = 2, To = 1, Term = 2, Index = 2 });
        Assert.Equal(ProposalResult.Accepted, node.Node.ChangeMembership(MembershipChangeKind.AddLearner, 4));
    }

    [Fact]
    public void Invalid_membership_changes_are_refused()
    {
        var group = new RaftGroup(3, learners: 1);
        var leader = group.Elect(1);
        Assert.Equal(ProposalResult.InvalidMembershipChange, leader.Node.ChangeMembership(MembershipChangeKind.AddLearner, 2));
        Assert.Equal(ProposalResult.InvalidMembershipChange, leader.Node.ChangeMembership(MembershipChangeKind.PromoteLearner, 3));
        Assert.Equal(ProposalResult.InvalidMembershipChange, leader.Node.ChangeMembership(MembershipChangeKind.RemoveMember, 9));
        Assert.Equal(ProposalResult.NotLeader, group[2].Node.ChangeMembership(MembershipChangeKind.AddLearner, 9));
    }

    [Fact]
    public void A_learner_receives_the_log_but_does_not_count_towards_commitment_and_campaigns_only_after_voters_would()
    {
        var group = new RaftGroup(3, learners: 1);
        var leader = group.Elect(1);
        ProposeAndSettle(group, leader, 2);
        Assert.Equal(leader.Node.LastIndex, group[4].Node.LastIndex);

        group.Isolate(2);
        group.Isolate(3);
        group.Cut.Remove((1, 4));
        group.Cut.Remove((4, 1));
        var committed = leader.Node.CommitIndex;
        leader.Node.Propose([9]);
        group.Settle();
        Assert.Equal(leader.Node.LastIndex, group[4].Node.LastIndex);
        Assert.Equal(committed, leader.Node.CommitIndex);

        // Voters campaign within two election timeouts (10 ticks here); a learner waits four at least
        // (a last resort, LearnerLastResortTests), and alone it never wins.
        group.Isolate(4);
        for (var tick = 0; tick < 100; tick++)
        {
            group[4].Node.Tick();
            var sent = group[4].Drain();
            if (tick + 1 < 40)
            {
                Assert.DoesNotContain(sent, m => m.Kind is MessageKind.PreVote or MessageKind.Vote);
            }

            Assert.NotEqual(RaftRole.Leader, group[4].Node.Role);
        }
    }

    [Fact]
    public void A_learner_cut_off_from_the_leader_alone_does_not_disturb_the_voters()
    {
        // It campaigns as a last resort, but voters that hear their leader drop its pre-votes.
        var group = new RaftGroup(3, learners: 1);
        var leader = group.Elect(1);
        ProposeAndSettle(group, leader, 2);
        var term = leader.Node.Term;
        group.Cut.Add((1, 4));
        group.Cut.Add((4, 1));
        group.TickAll(100);

        Assert.Equal(RaftRole.Leader, leader.Node.Role);
        Assert.All(group.Nodes.Values, n => Assert.Equal(term, n.Node.Term));
    }

    [Fact]
    public void A_learner_is_promoted_only_once_its_log_holds_every_committed_entry()
    {
        var group = new RaftGroup(3, learners: 1);
        var leader = group.Elect(1);
        group.Isolate(4);
        ProposeAndSettle(group, leader, 3);
        Assert.Equal(ProposalResult.LearnerNotCaughtUp, leader.Node.ChangeMembership(MembershipChangeKind.PromoteLearner, 4));

        group.HealAll();
        group.TickAll(3);
        Assert.Equal(ProposalResult.Accepted, leader.Node.ChangeMembership(MembershipChangeKind.PromoteLearner, 4));
        group.Settle();
        Assert.True(group[4].Node.Membership.IsVoter(4));
        Assert.Equal(3, leader.Node.Membership.Quorum);
    }

    [Fact]
    public void A_leader_that_removes_itself_steps_down_once_the_change_commits_and_the_rest_elect_a_new_leader()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        Assert.Equal(ProposalResult.Accepted, leader.Node.ChangeMembership(MembershipChangeKind.RemoveMember, 1));
        group.Settle();
        Assert.Equal(RaftRole.Follower, leader.Node.Role);
        Assert.False(leader.Node.IsPromotable);

        group.TickAll(40);
        var newLeader = group.Nodes.Values.Single(n => n.Node.Role == RaftRole.Leader);
        Assert.NotEqual(1UL, newLeader.Id);
        Assert.Equal([2UL, 3UL], newLeader.Node.Membership.Voters);
    }

    [Fact]
    public void A_leader_that_removes_itself_hands_over_to_a_caught_up_voter_without_an_election_timeout()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        Assert.Equal(ProposalResult.Accepted, leader.Node.ChangeMembership(MembershipChangeKind.RemoveMember, 1));

        // No tick: the new leader is elected on the removed leader's word alone.
        group.Settle();
        var newLeader = group.Nodes.Values.Single(n => n.Node.Role == RaftRole.Leader);
        Assert.Equal(2UL, newLeader.Id);
        Assert.Equal(leader.Node.Term + 1, newLeader.Node.Term);
        Assert.Equal(RaftRole.Follower, leader.Node.Role);
    }

    [Fact]
    public void A_node_uses_the_latest_membership_in_its_log_and_reverts_when_that_entry_is_overwritten()
    {
        var follower = new RaftHarness(1, RaftHarness.Voters(1, 2, 3), o => o with { CheckQuorum = false });
        var added = new Membership([1, 2, 3], [4]);
        follower.Receive(new Message { Kind = MessageKind.Append, From = 2, To = 1, Term = 2, Index = 1, LogTerm = 1, Entries = [new LogEntry(2, 2, EntryKind.Membership, added.Encode())] });
        Assert.Equal(added, follower.Node.Membership);

        follower.Receive(new Message { Kind = MessageKind.Append, From = 3, To = 1, Term = 3, Index = 1, LogTerm = 1, Entries = [new LogEntry(2, 3, EntryKind.NoOp, [])] });
        Assert.Equal(RaftHarness.Voters(1, 2, 3), follower.Node.Membership);
    }
}

public class RemovedButUncommittedTests
{
    [Fact]
    public void Dissertation_4_2_2_a_server_removed_by_an_uncommitted_membership_still_campaigns_and_commits_its_removal()
    {
        // Node 4 appended "remove 4" as leader, then lost leadership before anyone else stored it.
        // Nodes 1 and 2 (3 is gone) need node 4's vote under {1,2,3,4}, but node 4's log is longer.
        var group = new RaftGroup(4);
        var leader = group.Elect(4);
        group.Isolate(4);
        Assert.Equal(ProposalResult.Accepted, leader.Node.ChangeMembership(MembershipChangeKind.RemoveMember, 4));
        group.Settle();
        Assert.Equal(new Membership([1, 2, 3], []), leader.Node.Membership);
        Assert.True(leader.Node.IsPromotable, "the removal is not committed, so node 4 may still be needed");

        group.Isolate(3);
        group.Cut.RemoveWhere(link => (link.From == 4 || link.To == 4) && link.From != 3 && link.To != 3);
        group.TickAll(60);

        // Node 4 won an election among 1, 2 (its own vote does not count), committed its removal
        // under {1,2,3}, and stepped down; 1 or 2 now leads.
        Assert.All(new[] { group[1], group[2], group[4] }, n => Assert.Equal(new Membership([1, 2, 3], []), n.Node.Membership));
        Assert.False(group[4].Node.IsPromotable);
        Assert.Contains(new[] { group[1], group[2] }, n => n.Node.Role == RaftRole.Leader);
    }
}

public class LearnerLastResortTests
{
    [Fact]
    public void A_learner_whose_log_the_voters_need_campaigns_as_a_last_resort_and_hands_leadership_back()
    {
        // Found by the simulator (seed 1166087876406729299; docs/consensus.md). Node 1 appends
        // "promote learner 4" and is cut off before anyone else stores it.
        var group = new RaftGroup(3, learners: 1);
        var first = group.Elect(1);
        Assert.Equal(ProposalResult.Accepted, first.Node.Propose([1]));
        group.Settle();
        group.Isolate(1);
        Assert.Equal(ProposalResult.Accepted, first.Node.ChangeMembership(MembershipChangeKind.PromoteLearner, 4));
        group.Settle();
        Assert.Equal(new Membership([1, 2, 3, 4], []), first.Node.Membership);

        // Node 2 stops trusting node 1's leadership (what it sends meanwhile is lost).
        for (var tick = 0; tick < 10; tick++)
        {
            group[2].Node.Tick();
            group[2].Drain();
        }

        // Node 3 wins with node 2's vote; its first entry reaches only learner 4.
        group[3].Node.Campaign();
        var network = new Queue<Message>(group[3].Drain());
        for (var delivered = 0; delivered < 1_000 && network.Count > 0; delivered++)
        {
            var message = network.Dequeue();
            var lost = message.To == 1 || message.From == 1 || (message.From == 3 && message.To == 2 && message.Kind is MessageKind.Append or MessageKind.Heartbeat);
            if (!lost)
            {
                group[message.To].Receive(message).ForEach(network.Enqueue);
            }
        }

        Assert.Equal(RaftRole.Leader, group[3].Node.Role);
        Assert.Equal(group[3].Node.LastIndex, group[4].Node.LastIndex);

        // Node 3's disk is lost for good. Node 1 needs 3 of {1,2,3,4} and node 4 refuses it (its log
        // holds a newer term); node 2 is behind node 1, which refuses it; node 4 is a learner.
        group.Isolate(3);
        group.Cut.RemoveWhere(link => link.From != 3 && link.To != 3);
        // Terms in which the learner was a candidate; it led one of them if an entry of that term is
        // in the log (only a term's leader writes entries of it).
        var learnerTerms = new HashSet<ulong>();
        var handedOver = false;
        group.Delivered = m =>
        {
            if (m.From == 4 && m.Kind == MessageKind.Vote)
            {
                learnerTerms.Add(m.Term);
            }

            handedOver |= m.From == 4 && m.Kind == MessageKind.TimeoutNow;
        };
        for (var tick = 0; tick < 200; tick++)
        {
            group.TickAll();
        }

        var log = group[1].Node;
        Assert.Contains(Enumerable.Range(1, (int)log.LastIndex).Select(i => log.TermAt((ulong)i)), term => term is { } t && learnerTerms.Contains(t));

        // Node 4 led until its first entry committed, which replaced node 1's uncommitted promotion,
        // then told a caught-up voter to campaign at once and stepped down; a voter leads and commits again.
        Assert.True(handedOver, "the learner handed leadership to a voter");
        var leader = Assert.Single(new[] { group[1], group[2] }, n => n.Node.Role == RaftRole.Leader);
        Assert.NotEqual(RaftRole.Leader, group[4].Node.Role);
        Assert.All(new[] { group[1], group[2], group[4] }, n => Assert.Equal(new Membership([1, 2, 3], [4]), n.Node.Membership));
        Assert.Equal(ProposalResult.Accepted, leader.Node.Propose([2]));
        group.Settle();
        Assert.All(new[] { group[1], group[2], group[4] }, n => Assert.Equal(leader.Node.LastIndex, n.Node.CommitIndex));
    }
}

public class LostProbeTests
{
    [Fact]
    public void A_lost_probe_to_a_new_learner_is_retried_on_the_next_heartbeat_answer_even_with_nothing_new_to_send()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        leader.Node.Propose([1]);
        group.Settle();
        group.Nodes[4] = new RaftHarness(4);

        // The learner's first (empty) probe is lost; afterwards no proposal arrives.
        group.Cut.Add((1, 4));
        Assert.Equal(ProposalResult.Accepted, leader.Node.ChangeMembership(MembershipChangeKind.AddLearner, 4));
        group.Settle();
        group.HealAll();
        group.TickAll(5);

        Assert.Equal(leader.Node.LastIndex, group[4].Node.LastIndex);
        Assert.Equal(leader.Node.CommitIndex, group[4].Node.CommitIndex);
    }
}
