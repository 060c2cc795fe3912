using Coordination.Consensus;
using static Coordination.Tests.Consensus.RaftHarness;

namespace Coordination.Tests.Consensus;

/// <summary>Log replication and commitment: Raft §5.3, §5.4.2 (Figure 8), flow control.</summary>
public class ReplicationTests
{
    private static LogEntry Entry(ulong index, ulong term) => new(index, term, EntryKind.Normal, [(byte)index]);

    private static Message Append(ulong from, ulong to, ulong term, ulong index, ulong logTerm, ulong commit, params LogEntry[] entries) =>
        new() { Kind = MessageKind.Append, From = from, To = to, Term = term, Index = index, LogTerm = logTerm, Commit = commit, Entries = entries };

    private static Message Ack(ulong from, ulong to, ulong term, ulong index) =>
        new() { Kind = MessageKind.AppendResponse, From = from, To = to, Term = term, Index = index };

    /// <summary>A node whose stored log is given, made leader of <paramref name="term"/> by votes the test hands it.</summary>
    private static (RaftHarness Leader, List<Message> Sent) LeaderWithLog(ulong term, LogEntry[] log, Func<RaftOptions, RaftOptions>? configure = null)
    {
        var storage = new MemoryLogStorage();
        RaftNode.Bootstrap(storage, Voters(1, 2, 3));
        storage.Save(new HardState(term - 1, 0, 1), log);
        var harness = new RaftHarness(1, null, o => (configure?.Invoke(o) ?? o) with { PreVote = false, CheckQuorum = false });
        harness.Storage.Save(storage.HardState, storage.Entries(1, storage.LastIndex + 1, long.MaxValue));
        harness.Restart();
        harness.Node.Campaign();
        harness.Drain();
        var sent = harness.Receive(new Message { Kind = MessageKind.VoteResponse, From = 2, To = 1, Term = term });
        Assert.Equal((RaftRole.Leader, term), (harness.Node.Role, harness.Node.Term));
        return (harness, sent);
    }

    [Fact]
    public void A_leader_sends_before_persisting_only_once_its_term_and_vote_are_on_disk()
    {
        // A single voter with a learner wins its election within one step: the Ready that makes it
        // leader also carries its new term and vote, and an append to the learner. Sent before that
        // hard state is synced, a crash could let it win the same term again with different entries.
        var node = new RaftHarness(1, new Membership([1], [2]), o => o with { PreVote = false });
        node.Node.Campaign();
        var first = node.Node.GetReady();
        Assert.Equal(RaftRole.Leader, first.Role);
        Assert.NotNull(first.HardState);
        Assert.Contains(first.Messages, m => m.Kind == MessageKind.Append && m.To == 2);
        Assert.False(first.MaySendBeforePersist);
        node.Storage.Save(first.HardState, first.Entries);
        node.Node.Advance(first);
        node.Drain();

        Assert.Equal(ProposalResult.Accepted, node.Node.Propose(new byte[] { 1, 2, 3 }));
        var next = node.Node.GetReady();
        Assert.Equal(RaftRole.Leader, next.Role);
        Assert.True(next.MaySendBeforePersist);
        node.Storage.Save(next.HardState, next.Entries);
        node.Node.Advance(next);
    }

    [Fact]
    public void A_commit_that_moves_only_the_commit_index_is_handed_out_once_and_leaves_nothing_to_do()
    {
        var (leader, _) = LeaderWithLog(2, []);
        Assert.Equal(ProposalResult.Accepted, leader.Node.Propose(new byte[] { 7 }));
        leader.Drain();
        var last = leader.Node.LastIndex;

        // The followers' acknowledgements commit the entry: one Ready applies it, with no hard state to
        // sync (the commit index alone is not written), and afterwards the node has nothing to do.
        leader.Node.Step(Ack(2, 1, 2, last));
        var ready = leader.Node.GetReady();
        Assert.Equal(last, Assert.Single(ready.CommittedEntries, e => e.Kind == EntryKind.Normal).Index);
        Assert.Null(ready.HardState);
        Assert.False(ready.MustSync);
        leader.Node.Advance(ready);
        leader.Drain();
        Assert.False(leader.Node.HasReady);
        Assert.Equal(last, leader.Node.CommitIndex);
    }

    [Fact]
    public void Raft_5_3_a_follower_rejects_an_append_whose_previous_entry_does_not_match_and_hints_where_to_retry()
    {
        var follower = new RaftHarness(1, Voters(1, 2, 3));
        var reply = follower.Receive(Append(2, 1, 3, 5, 3, 0, Entry(6, 3))).Single();
        Assert.True(reply.Reject);
        Assert.Equal((5UL, 1UL, 1UL), (reply.Index, reply.RejectHint, reply.LogTerm));
        Assert.Equal(1UL, follower.Node.LastIndex);
    }

    [Fact]
    public void Raft_5_3_a_follower_deletes_a_conflicting_suffix_and_takes_the_leaders_entries()
    {
        var follower = new RaftHarness(1, Voters(1, 2, 3));
        follower.Receive(Append(2, 1, 2, 1, 1, 1, Entry(2, 2), Entry(3, 2)));
        Assert.Equal(3UL, follower.Storage.LastIndex);

        var reply = follower.Receive(Append(3, 1, 3, 1, 1, 1, Entry(2, 3))).Single();
        Assert.Equal((false, 2UL), (reply.Reject, reply.Index));
        Assert.Equal((2UL, 3UL), (follower.Storage.LastIndex, follower.Storage.Term(2)));
    }

    [Fact]
    public void Raft_5_3_an_append_of_entries_the_follower_already_holds_truncates_nothing()
    {
        var follower = new RaftHarness(1, Voters(1, 2, 3));
        follower.Receive(Append(2, 1, 2, 1, 1, 1, Entry(2, 2), Entry(3, 2)));
        var reply = follower.Receive(Append(2, 1, 2, 1, 1, 1, Entry(2, 2))).Single();
        Assert.Equal(2UL, reply.Index);
        Assert.Equal(3UL, follower.Storage.LastIndex);
    }

    [Fact]
    public void Fast_backtracking_skips_a_whole_conflicting_term_per_round_trip()
    {
        // Leader: 1@1, 2..6@2, 7@4, then its no-op 8@5. Follower: 1@1, 2..10@3.
        var log = new[] { Entry(2, 2), Entry(3, 2), Entry(4, 2), Entry(5, 2), Entry(6, 2), Entry(7, 4) };
        var (leader, sent) = LeaderWithLog(5, log);
        var follower = new RaftHarness(3, Voters(1, 2, 3), o => o with { CheckQuorum = false });
        follower.Receive(Append(2, 3, 3, 1, 1, 1, Enumerable.Range(2, 9).Select(i => Entry((ulong)i, 3)).ToArray()));

        var probes = new List<ulong>();
        var toFollower = sent.Where(m => m.To == 3).ToList();
        for (var round = 0; round < 10 && toFollower.Count > 0; round++)
        {
            var probe = toFollower.Single(m => m.Kind == MessageKind.Append);
            probes.Add(probe.Index);
            var reply = follower.Receive(probe).Single();
            toFollower = leader.Receive(reply).Where(m => m.To == 3 && m.Kind == MessageKind.Append).ToList();
            if (!reply.Reject)
            {
                break;
            }
        }

        Assert.Equal([7UL, 6UL, 1UL], probes);
        Assert.Equal((8UL, 5UL), (follower.Node.LastIndex, follower.Node.TermAt(8)!.Value));
    }

    [Fact]
    public void Raft_5_4_2_a_leader_never_commits_an_entry_of_an_earlier_term_by_counting_replicas()
    {
        // Figure 8: the entry 2@2 reaches a majority, but only the leader's own 3@4 may commit it.
        var (leader, _) = LeaderWithLog(4, [Entry(2, 2)]);
        Assert.Equal(3UL, leader.Node.LastIndex);
        leader.Receive(Ack(2, 1, 4, 2));
        Assert.Equal(1UL, leader.Node.CommitIndex);

        leader.Receive(Ack(2, 1, 4, 3));
        Assert.Equal(3UL, leader.Node.CommitIndex);
        Assert.Equal([1UL, 2UL, 3UL], leader.Applied.Select(e => e.Index));
    }

    [Fact]
    public void A_leader_counts_its_own_copy_only_after_the_host_has_persisted_it()
    {
        var node = new RaftHarness(1, Voters(1));
        node.Node.Campaign();
        node.Drain();
        var committed = node.Node.CommitIndex;

        Assert.Equal(ProposalResult.Accepted, node.Node.Propose([42]));
        var ready = node.Node.GetReady();
        Assert.Equal(committed, node.Node.CommitIndex);
        Assert.Empty(ready.CommittedEntries);

        node.Storage.Save(ready.HardState, ready.Entries);
        node.Node.Advance(ready);
        Assert.Equal(ready.Entries[^1].Index, node.Node.CommitIndex);
        node.Drain();
        Assert.Equal(42, node.Applied[^1].Data[0]);
    }

    [Fact]
    public void A_replicating_leader_pipelines_appends_up_to_the_in_flight_limit_then_waits_for_acknowledgements()
    {
        var (leader, _) = LeaderWithLog(2, [], o => o with { InflightAppendsMax = 2 });
        leader.Drain();
        leader.Receive(Ack(2, 1, 2, 2)); // the no-op: follower 2 now replicates

        var appends = new List<Message>();
        for (var i = 0; i < 5; i++)
        {
            leader.Node.Propose([(byte)i]);
            appends.AddRange(leader.Drain().Where(m => m.To == 2 && m.Kind == MessageKind.Append));
        }

        Assert.Equal([2UL, 3UL], appends.Select(m => m.Index));
        var next = leader.Receive(Ack(2, 1, 2, 3)).Where(m => m.To == 2 && m.Kind == MessageKind.Append).ToArray();
        Assert.Equal([5UL, 6UL, 7UL], next.SelectMany(m => m.Entries).Select(e => e.Index));
    }

    [Fact]
    public void An_append_carries_at_most_AppendBytesMax_of_entries_and_the_rest_follows_in_the_pipeline()
    {
        var (leader, _) = LeaderWithLog(2, [], o => o with { AppendBytesMax = 100 });
        leader.Drain();
        leader.Receive(Ack(2, 1, 2, 2));
        leader.Node.Propose(Enumerable.Range(0, 10).Select(_ => new byte[40]).ToArray());
        var appends = leader.Drain().Where(m => m.To == 2 && m.Kind == MessageKind.Append).ToArray();
        Assert.All(appends, m => Assert.True(m.Entries.Sum(e => e.SizeBytes) <= 100 || m.Entries.Count == 1));
        Assert.Equal(Enumerable.Range(3, 10).Select(i => (ulong)i), appends.SelectMany(m => m.Entries).Select(e => e.Index));
    }

    [Fact]
    public void A_leader_refuses_proposals_beyond_the_uncommitted_limit()
    {
        var (leader, _) = LeaderWithLog(2, [], o => o with { UncommittedEntriesMax = 4 });
        Assert.Equal(ProposalResult.Accepted, leader.Node.Propose([[1], [2], [3]]));
        Assert.Equal(ProposalResult.LimitExceeded, leader.Node.Propose([4]));
        Assert.Equal(ProposalResult.LimitExceeded, leader.Node.Propose(new byte[leader.Options.EntryBytesMax + 1]));
    }

    [Fact]
    public void Raft_5_3_a_follower_commits_only_what_it_holds_from_the_leader()
    {
        var follower = new RaftHarness(1, Voters(1, 2, 3));
        follower.Receive(Append(2, 1, 2, 1, 1, 5, Entry(2, 2)));
        Assert.Equal(2UL, follower.Node.CommitIndex);
    }

    [Fact]
    public void A_follower_with_stale_entries_converges_to_the_leaders_log_through_the_group()
    {
        var group = new RaftGroup(3);
        var leader = group.Elect(1);
        group.Isolate(3);
        for (var i = 0; i < 20; i++)
        {
            leader.Node.Propose([(byte)i]);
        }

        group.Settle();
        group.HealAll();
        group.TickAll(5);
        Assert.Equal(leader.Node.LastIndex, group[3].Node.LastIndex);
        Assert.Equal(leader.Node.CommitIndex, group[3].Node.CommitIndex);
        Assert.Equal(leader.Applied.Select(e => e.Index), group[3].Applied.Select(e => e.Index));
    }
}
