using System.Net;
using Coordination.Consensus;
using Coordination.Silo.Hosting;
using Coordination.Silo.Transport;
using Coordination.Tests.Cluster;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordination.Tests.Silo;

/// <summary>Three hosts in one process over real loopback TCP, in-memory logs, real time (bounded waits).</summary>
public sealed class RaftHostTests : IAsyncLifetime
{
    private static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(20);
    private readonly Dictionary<ulong, (RaftHost Host, PeerTransport Transport, CounterStateMachine State, MemoryLogStorage Log)> _silos = [];
    private readonly SteppableTimeProvider _time = new();

    public async Task InitializeAsync()
    {
        var members = new Membership([1, 2, 3], []);
        var transports = new Dictionary<ulong, PeerTransport>();
        foreach (var id in members.Voters)
        {
            var log = new MemoryLogStorage();
            RaftNode.Bootstrap(log, members);
            var state = new CounterStateMachine();
            RaftHost? host = null;
            var transport = new PeerTransport(id, m => host!.Receive(m), new PeerTransportOptions(), NullLogger.Instance);
            transport.Listen(new IPEndPoint(IPAddress.Loopback, 0));
            host = new RaftHost(new RaftHostOptions { NodeId = id, TickInterval = TimeSpan.FromMilliseconds(20), SnapshotEveryEntries = 50 }, log, state, transport.Send, _time, NullLogger.Instance);
            _silos[id] = (host, transport, state, log);
        }

        foreach (var (id, silo) in _silos)
        {
            foreach (var (peer, other) in _silos)
            {
                silo.Transport.SetPeer(peer, $"127.0.0.1:{other.Transport.ListenEndpoint!.Port}");
            }

            silo.Host.Start();
        }

        await LeaderAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var silo in _silos.Values)
        {
            await silo.Host.DisposeAsync();
            await silo.Transport.DisposeAsync();
        }
    }

    private async Task<RaftHost> LeaderAsync(ulong except = 0)
    {
        using var timeout = new CancellationTokenSource(WaitMax);
        while (true)
        {
            var leader = _silos.Values.Select(s => s.Host).FirstOrDefault(h => h.Status.Role == RaftRole.Leader && h.Status.NodeId != except);
            if (leader is not null)
            {
                return leader;
            }

            await Task.Delay(10, timeout.Token);
        }
    }

    [Fact]
    public async Task A_command_proposed_on_the_leader_is_applied_on_every_silo_in_order()
    {
        var leader = await LeaderAsync();
        var results = await Task.WhenAll(Enumerable.Range(1, 200).Select(i => leader.ProposeAsync(CounterStateMachine.Command(i))));
        Assert.Equal(Enumerable.Range(1, 200).ToHashSet(), results.Select(r => (int)r!).ToHashSet());

        foreach (var silo in _silos.Values)
        {
            var values = await silo.Host.QueryAsync(() => silo.State.Values.ToArray(), linearizable: true).WaitAsync(WaitMax);
            Assert.Equal(200, values.Length);
            Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i).Order(), values.Order());
        }

        var leaderValues = _silos[leader.Status.NodeId].State.Values;
        foreach (var silo in _silos.Values)
        {
            Assert.Equal(leaderValues, await silo.Host.QueryAsync(() => silo.State.Values.ToArray(), linearizable: true).WaitAsync(WaitMax));
        }

        Assert.True(_silos.Values.All(s => !s.Log.Snapshot.IsEmpty), "every silo compacted its log into a snapshot");
    }

    [Fact]
    public async Task A_follower_refuses_proposals_and_names_the_leader()
    {
        var leader = await LeaderAsync();
        var follower = _silos.Values.First(s => s.Host != leader).Host;
        using var timeout = new CancellationTokenSource(WaitMax);
        while (follower.Status.Leader != leader.Status.NodeId)
        {
            // A follower learns the new leader from its first append or heartbeat.
            await Task.Delay(10, timeout.Token);
        }

        var error = await Assert.ThrowsAsync<NotLeaderException>(() => follower.ProposeAsync(CounterStateMachine.Command(1)).WaitAsync(WaitMax));
        Assert.Equal(leader.Status.NodeId, error.LeaderId);
    }

    [Fact]
    public async Task A_linearizable_read_on_a_follower_sees_every_write_acknowledged_before_it()
    {
        var leader = await LeaderAsync();
        await leader.ProposeAsync(CounterStateMachine.Command(42)).WaitAsync(WaitMax);
        foreach (var silo in _silos.Values.Where(s => s.Host != leader))
        {
            Assert.Contains(42L, await silo.Host.QueryAsync(() => silo.State.Values.ToArray(), linearizable: true).WaitAsync(WaitMax));
        }
    }

    [Fact]
    public async Task A_wall_clock_stepped_back_an_hour_stops_neither_ticks_nor_elections()
    {
        var leader = await LeaderAsync();
        var oldId = leader.Status.NodeId;
        await leader.ProposeAsync(CounterStateMachine.Command(1)).WaitAsync(WaitMax);

        // Ticks used to wait for the wall clock to reach the next tick: an hour without elections.
        // The leader is cut off, not stopped (a stopping leader hands over without any election timeout).
        _time.StepWall(TimeSpan.FromHours(-1));
        await _silos[oldId].Transport.DisposeAsync();
        var next = await LeaderAsync(except: oldId);
        Assert.Equal(2, await next.ProposeAsync(CounterStateMachine.Command(2)).WaitAsync(WaitMax));

        // Log time moved on, not back an hour: the new leader's clock had taken the step out.
        var state = _silos[next.Status.NodeId].State;
        var stamps = await next.QueryAsync(() => state.Stamps.ToArray(), linearizable: true).WaitAsync(WaitMax);
        Assert.InRange(stamps[^1] - stamps[^2], 0, (long)WaitMax.TotalMilliseconds);
        Assert.True(next.Clock.Steps >= 1, "the step was seen");
    }

    [Fact]
    public async Task Entry_stamps_do_not_follow_a_wall_clock_that_jumps_an_hour_ahead()
    {
        var leader = await LeaderAsync();
        await leader.ProposeAsync(CounterStateMachine.Command(1)).WaitAsync(WaitMax);
        _time.StepWall(TimeSpan.FromHours(1));
        await leader.ProposeAsync(CounterStateMachine.Command(2)).WaitAsync(WaitMax);

        foreach (var silo in _silos.Values)
        {
            var stamps = await silo.Host.QueryAsync(() => silo.State.Stamps.ToArray(), linearizable: true).WaitAsync(WaitMax);
            Assert.InRange(stamps[^1] - stamps[^2], 0, (long)WaitMax.TotalMilliseconds);
        }

        Assert.InRange(leader.Clock.Offset, TimeSpan.FromMinutes(59), TimeSpan.FromMinutes(61));
    }

    [Fact]
    public async Task A_leader_that_stops_hands_over_leadership_and_writes_continue()
    {
        var leader = await LeaderAsync();
        var oldId = leader.Status.NodeId;
        await leader.ProposeAsync(CounterStateMachine.Command(1)).WaitAsync(WaitMax);
        await leader.StopAsync().WaitAsync(WaitMax);
        var next = await LeaderAsync(except: oldId);
        Assert.Equal(2, await next.ProposeAsync(CounterStateMachine.Command(2)).WaitAsync(WaitMax));
        Assert.True(_silos[next.Status.NodeId].State.LeaderTakeovers >= 1);

        // The time without a leader goes to the state machine (the grains extend sessions by it): the
        // first leader of a new cluster had never heard of one; the next one heard from it until it stopped.
        Assert.Null(Assert.Single(_silos[oldId].State.Leaderless));
        var leaderless = _silos[next.Status.NodeId].State.Leaderless.Last();
        Assert.NotNull(leaderless);
        Assert.InRange(leaderless.Value, TimeSpan.Zero, WaitMax);
    }

    [Fact]
    public async Task A_read_waiting_for_its_index_fails_as_soon_as_its_leader_is_lost_not_at_its_timeout()
    {
        var leader = await LeaderAsync();
        var leaderId = leader.Status.NodeId;
        var followerId = _silos.Keys.First(id => id != leaderId);
        var follower = _silos[followerId];

        // Cut the two apart (a refused port on loopback): the follower's read index request is lost,
        // and without heartbeats it soon stops following.
        follower.Transport.SetPeer(leaderId, "127.0.0.1:1");
        _silos[leaderId].Transport.SetPeer(followerId, "127.0.0.1:1");
        var read = follower.Host.QueryAsync(() => 1, linearizable: true);

        // Its timeout is 10 s (RequestTimeout); the loss of the leader comes within an election timeout.
        var error = await Record.ExceptionAsync(() => read.WaitAsync(TimeSpan.FromSeconds(8)));
        Assert.IsType<NotLeaderException>(error);
    }

    /// <summary>
    /// A new leader's duty (the grains' session extension) must come before every request it takes:
    /// requests that arrive in the same round as the vote that elects it were proposed first, so a
    /// keep-alive of a lease that ran out while there was no leader found its session expired.
    /// </summary>
    [Fact]
    public async Task A_new_leader_proposes_its_duties_before_the_requests_that_arrived_with_its_election()
    {
        foreach (var silo in _silos.Values)
        {
            silo.State.ProposeTakeoverMarkers = true;
        }

        var leader = await LeaderAsync();
        var targetId = _silos.Keys.First(id => id != leader.Status.NodeId);
        var (target, state) = (_silos[targetId].Host, _silos[targetId].State);
        var before = await target.QueryAsync(() => state.Applied.Count, linearizable: false);

        // Requests pour into the target while it is elected: whoever it refuses retries at once.
        using var stop = new CancellationTokenSource(WaitMax);
        var accepted = new System.Collections.Concurrent.ConcurrentBag<long>();
        long next = 1_000;
        var clients = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var attempt = 0; attempt < 1_000_000 && !stop.IsCancellationRequested && accepted.Count < 200; attempt++)
            {
                var value = Interlocked.Increment(ref next);
                try
                {
                    await target.ProposeAsync(CounterStateMachine.Command(value)).WaitAsync(WaitMax);
                    accepted.Add(value);
                }
                catch (NotLeaderException)
                {
                }
            }
        })).ToArray();
        Assert.Equal(ProposalResult.Accepted, await leader.TransferLeadershipAsync(targetId).WaitAsync(WaitMax));
        await Task.WhenAll(clients).WaitAsync(WaitMax);
        Assert.True(accepted.Count >= 200, $"{accepted.Count} requests accepted");

        var applied = await target.QueryAsync(() => state.Applied.ToList(), linearizable: false);
        var marker = applied.IndexOf(-1, before);
        Assert.True(marker >= 0, "the new leader proposed no duty");
        Assert.All(accepted, value => Assert.True(applied.IndexOf(value) > marker, $"request {value} applied before the new leader's duty"));
    }
}

/// <summary>A host that cannot reach its peers: no leader, ever.</summary>
public sealed class LeaderlessRaftHostTests : IAsyncLifetime
{
    private RaftHost _host = null!;

    public Task InitializeAsync()
    {
        var log = new MemoryLogStorage();
        RaftNode.Bootstrap(log, new Membership([1, 2, 3], []));
        _host = new RaftHost(new RaftHostOptions { NodeId = 1, TickInterval = TimeSpan.FromMilliseconds(5) }, log, new CounterStateMachine(), _ => { }, TimeProvider.System, NullLogger.Instance);
        _host.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_linearizable_read_without_a_leader_fails_with_not_leader_and_a_stale_read_is_served()
    {
        await Assert.ThrowsAsync<NotLeaderException>(() => _host.QueryAsync(() => 1, linearizable: true).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(7, await _host.QueryAsync(() => 7, linearizable: false).WaitAsync(TimeSpan.FromSeconds(10)));
        await Assert.ThrowsAsync<NotLeaderException>(() => _host.ProposeAsync(CounterStateMachine.Command(1)).WaitAsync(TimeSpan.FromSeconds(10)));
    }
}

/// <summary>The loop's inbox under a flood of requests.</summary>
public sealed class RaftHostInboxTests
{
    [Fact]
    public async Task Requests_leave_an_eighth_of_the_inbox_to_the_peers_messages()
    {
        // Not started: nothing drains the inbox. Before, requests took it all and every heartbeat, answer
        // and vote from the peers was dropped while clients kept it full.
        var log = new MemoryLogStorage();
        RaftNode.Bootstrap(log, new Membership([1, 2, 3], []));
        await using var host = new RaftHost(new RaftHostOptions { NodeId = 1, TickInterval = TimeSpan.FromMilliseconds(5), InboxItemsMax = 16 }, log, new CounterStateMachine(), _ => { }, TimeProvider.System, NullLogger.Instance);

        var queued = Enumerable.Range(0, 14).Select(i => host.ProposeAsync(CounterStateMachine.Command(i))).ToList();
        Assert.All(queued, q => Assert.False(q.IsCompleted));
        await Assert.ThrowsAsync<OverloadedException>(() => host.ProposeAsync(CounterStateMachine.Command(99)).WaitAsync(TimeSpan.FromSeconds(10)));
        await Assert.ThrowsAsync<OverloadedException>(() => host.QueryAsync(() => 0, linearizable: true).WaitAsync(TimeSpan.FromSeconds(10)));

        host.Receive(new Message { Kind = MessageKind.Heartbeat, From = 2, To = 1, Term = 1 });
        host.Receive(new Message { Kind = MessageKind.Heartbeat, From = 2, To = 1, Term = 1 });
        Assert.Equal(16, host.QueuedWork);
    }

    [Fact]
    public async Task A_followers_read_whose_index_it_never_applies_times_out()
    {
        // The leader confirmed a read index this follower has not applied, and then nothing more arrives
        // (a partition). The read used to wait for as long as that lasted; now RequestTimeout ends it.
        var time = new SteppableTimeProvider(manual: true);
        var log = new MemoryLogStorage();
        RaftNode.Bootstrap(log, new Membership([1, 2, 3], []));
        var sent = new System.Collections.Concurrent.ConcurrentQueue<Message>();
        await using var host = new RaftHost(new RaftHostOptions { NodeId = 1, TickInterval = TimeSpan.FromMilliseconds(5) }, log, new CounterStateMachine(), sent.Enqueue, time, NullLogger.Instance);
        host.Start();
        var patience = TimeSpan.FromSeconds(10);
        host.Receive(new Message { Kind = MessageKind.Heartbeat, From = 2, To = 1, Term = 1 });
        await ClusterCalls.Until(() => Task.FromResult(host.Status.Leader == 2), "the follower to hear of leader 2", patience);

        var read = host.QueryAsync(() => 1, linearizable: true);
        await ClusterCalls.Until(() => Task.FromResult(sent.Any(m => m.Kind == MessageKind.ReadIndex)), "the read index asked of the leader", patience);
        var asked = sent.First(m => m.Kind == MessageKind.ReadIndex);
        host.Receive(new Message { Kind = MessageKind.ReadIndexResponse, From = 2, To = 1, Term = 1, Index = 1_000, Context = asked.Context });
        await ClusterCalls.Until(() => Task.FromResult(host.ReadsAwaitingApply == 1), "the confirmed read to wait for its index", patience);
        time.Advance(TimeSpan.FromSeconds(11));

        var timedOut = await Assert.ThrowsAsync<TimeoutException>(() => read.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("did not apply it in time", timedOut.Message);
    }

    [Fact]
    public async Task A_write_that_waited_in_the_queue_past_the_request_timeout_is_refused_not_proposed()
    {
        // Its caller is told "outcome unknown" once RequestTimeout has passed; proposed after that, it
        // would be applied with nobody told. The loop starts only after the wait (a backlog, in effect).
        var time = new SteppableTimeProvider(manual: true);
        var log = new MemoryLogStorage();
        RaftNode.Bootstrap(log, new Membership([1, 2, 3], []));
        await using var host = new RaftHost(new RaftHostOptions { NodeId = 1, TickInterval = TimeSpan.FromMilliseconds(5) }, log, new CounterStateMachine(), _ => { }, time, NullLogger.Instance);

        var late = host.ProposeAsync(CounterStateMachine.Command(1));
        time.Advance(TimeSpan.FromSeconds(11));
        host.Start();

        // (Without the check it reached the node, which, leading nothing yet, refused it as not the leader.)
        await Assert.ThrowsAsync<OverloadedException>(() => late.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}

/// <summary>One voter: snapshots of a large state, and stale reads while the loop is busy.</summary>
public sealed class RaftHostSnapshotTests
{
    private const int PaddingBytes = 4096;
    private static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_large_state_is_snapshotted_again_only_once_the_entries_since_add_up_to_its_size()
    {
        var log = new MemoryLogStorage();
        RaftNode.Bootstrap(log, new Membership([1], []));
        await using var host = new RaftHost(
            new RaftHostOptions { NodeId = 1, TickInterval = TimeSpan.FromMilliseconds(5), SnapshotEveryEntries = 10 },
            log, new PaddedStateMachine(), _ => { }, TimeProvider.System, NullLogger.Instance);
        host.Start();
        var entryBytes = LogEntry.HeaderBytes + EntryEnvelope.HeaderBytes + 8;
        var proposed = 0L;
        async Task<ulong> ProposeThenSnapshotIndex(int count)
        {
            for (var i = 0; i < count; i++)
            {
                await Retry(() => host.ProposeAsync(CounterStateMachine.Command(++proposed)));
            }

            // A linearizable query runs on the loop, after the round that applied the last command (and maybe snapshotted) ended.
            return await host.QueryAsync(() => log.Snapshot.Metadata.Index, linearizable: true).WaitAsync(WaitMax);
        }

        var first = await ProposeThenSnapshotIndex(20);
        // At most a dozen entries followed the first snapshot; half the state's size more stays under it.
        var fewBytesLater = await ProposeThenSnapshotIndex(PaddingBytes / entryBytes / 2);
        var enoughBytesLater = await ProposeThenSnapshotIndex(PaddingBytes / entryBytes);

        Assert.True(first >= 10, $"the first snapshot comes after {nameof(RaftHostOptions.SnapshotEveryEntries)} entries (at {first})");
        Assert.Equal(first, fewBytesLater);
        Assert.True(enoughBytesLater > first, "a snapshot once the entries since add up to its size");
    }

    [Fact]
    public async Task A_stale_read_is_answered_while_the_loop_waits_for_a_sync_and_sees_only_applied_entries()
    {
        var log = new GatedLogStorage();
        var state = new CounterStateMachine();
        await using var host = await LeadingSingleVoterAsync(log, state);

        log.Close();
        var second = host.ProposeAsync(CounterStateMachine.Command(2));
        Assert.True(log.Blocked.Wait(WaitMax), "the loop reached the sync of the second command");
        var stale = host.QueryAsync(() => state.Values.ToArray(), linearizable: false);
        var linearizable = host.QueryAsync(() => state.Values.ToArray(), linearizable: true);

        // The loop is stuck in the sync: the stale read was answered without it, from the applied state.
        Assert.True(stale.IsCompletedSuccessfully, "a stale read does not wait for the loop");
        Assert.Equal(new long[] { 1 }, await stale);
        Assert.False(linearizable.IsCompleted, "a linearizable read waits for the loop");
        Assert.False(second.IsCompleted, "a command is not applied before its sync");

        log.Open();
        await second.WaitAsync(WaitMax);
        Assert.Equal(new long[] { 1, 2 }, await linearizable.WaitAsync(WaitMax));
        Assert.Equal(new long[] { 1, 2 }, await host.QueryAsync(() => state.Values.ToArray(), linearizable: false).WaitAsync(WaitMax));
    }

    [Fact]
    public async Task Stale_reads_on_other_threads_never_see_the_state_mid_change()
    {
        var state = new CounterStateMachine();
        await using var host = await LeadingSingleVoterAsync(new MemoryLogStorage(), state);

        // Writers append 1, 2, 3, ... in batches; readers copy the list meanwhile and must see a whole prefix.
        using var stop = new CancellationTokenSource(WaitMax);
        var reads = 0L;
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var values = await host.QueryAsync(() => state.Values.ToArray(), linearizable: false);
                Assert.Equal(Enumerable.Range(1, values.Length).Select(i => (long)i), values);
                Interlocked.Increment(ref reads);
            }
        })).ToArray();
        for (var next = 2L; next <= 2_000; next += 50)
        {
            await Task.WhenAll(Enumerable.Range(0, 50).Select(i => next + i).Select(v => host.ProposeAsync(CounterStateMachine.Command(v)))).WaitAsync(WaitMax);
        }

        await stop.CancelAsync();
        await Task.WhenAll(readers).WaitAsync(WaitMax);
        Assert.True(Interlocked.Read(ref reads) > 0);
    }

    [Fact]
    public async Task A_membership_change_answered_accepted_is_in_the_status_its_caller_reads_next()
    {
        // The operator's endpoint answers with the cluster view read from Status right after the change
        // completes. One voter appends, commits and applies a change in one round; the loop used to
        // publish Status at the round's end, after waking the caller, so anything slow in between (here
        // a snapshot held open) left the caller reading the view from before the change (seen once in CI).
        var state = new GatedSnapshotStateMachine();
        var log = new MemoryLogStorage();
        RaftNode.Bootstrap(log, new Membership([1], []));
        await using var host = new RaftHost(
            new RaftHostOptions { NodeId = 1, TickInterval = TimeSpan.FromMilliseconds(5), SnapshotEveryEntries = 1 },
            log, state, _ => { }, TimeProvider.System, NullLogger.Instance);
        host.Start();
        await Retry(() => host.ProposeAsync(CounterStateMachine.Command(1)));

        state.Hold();
        try
        {
            Assert.Equal(ProposalResult.Accepted, await host.ChangeMembershipAsync(MembershipChangeKind.AddLearner, 2).WaitAsync(WaitMax));
            Assert.Contains(2UL, host.Status.Membership.Learners);
        }
        finally
        {
            state.Release();
        }
    }

    /// <summary>A started single-voter host on <paramref name="log"/> that has applied command 1 (so it leads).</summary>
    private static async Task<RaftHost> LeadingSingleVoterAsync(ILogStorage log, IReplicatedStateMachine state)
    {
        RaftNode.Bootstrap(log, new Membership([1], []));
        var host = new RaftHost(new RaftHostOptions { NodeId = 1, TickInterval = TimeSpan.FromMilliseconds(5) }, log, state, _ => { }, TimeProvider.System, NullLogger.Instance);
        host.Start();
        try
        {
            await Retry(() => host.ProposeAsync(CounterStateMachine.Command(1)));
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    [Fact]
    public async Task A_leader_whose_clock_is_behind_the_logs_newest_stamp_stamps_on_from_it_not_back()
    {
        // The log holds a committed entry stamped an hour ahead of this silo's clock: an earlier
        // leader's, whose clock was right while this one's was not (started before time sync).
        var time = new SteppableTimeProvider();
        var ahead = time.GetUtcNow().AddHours(1).ToUnixTimeMilliseconds();
        var log = new MemoryLogStorage();
        RaftNode.Bootstrap(log, new Membership([1], []));
        log.Save(new HardState(1, 0, 2), [new LogEntry(2, 1, EntryKind.Normal, EntryEnvelope.Wrap(0, ahead, CounterStateMachine.Command(1)))]);
        var state = new CounterStateMachine();
        await using var host = new RaftHost(new RaftHostOptions { NodeId = 1, TickInterval = TimeSpan.FromMilliseconds(5) }, log, state, _ => { }, time, NullLogger.Instance);
        host.Start();

        await Retry(() => host.ProposeAsync(CounterStateMachine.Command(2)));
        var stamps = await host.QueryAsync(() => state.Stamps.ToArray(), linearizable: true).WaitAsync(WaitMax);

        Assert.Equal(ahead, stamps[0]);
        Assert.InRange(stamps[1] - ahead, 0, (long)WaitMax.TotalMilliseconds);
        Assert.True(host.ClockNowMs() >= ahead);
    }

    [Fact]
    public async Task A_leader_restored_from_a_snapshot_stamps_on_from_the_snapshots_log_time_not_back()
    {
        // Nothing follows the snapshot in the log: its log time is all this silo knows of time.
        var time = new SteppableTimeProvider();
        var ahead = time.GetUtcNow().AddHours(1).ToUnixTimeMilliseconds();
        var saved = new CounterStateMachine();
        saved.Apply(2, ahead, CounterStateMachine.Command(1));
        var log = new MemoryLogStorage();
        log.InstallSnapshot(new Snapshot(new SnapshotMetadata(2, 1, new Membership([1], [])), saved.WriteSnapshot()));
        log.Save(new HardState(1, 0, 2), []);
        var state = new CounterStateMachine();
        await using var host = new RaftHost(new RaftHostOptions { NodeId = 1, TickInterval = TimeSpan.FromMilliseconds(5) }, log, state, _ => { }, time, NullLogger.Instance);
        host.Start();

        await Retry(() => host.ProposeAsync(CounterStateMachine.Command(2)));
        var stamps = await host.QueryAsync(() => state.Stamps.ToArray(), linearizable: true).WaitAsync(WaitMax);

        Assert.InRange(Assert.Single(stamps) - ahead, 0, (long)WaitMax.TotalMilliseconds);
    }

    private static async Task Retry(Func<Task> propose)
    {
        // The single voter elects itself within a few ticks; until then proposals are refused.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await propose().WaitAsync(WaitMax);
                return;
            }
            catch (NotLeaderException) when (attempt < 200)
            {
                await Task.Delay(10);
            }
        }
    }

    /// <summary>An in-memory log whose writes can be held at a gate, as a slow disk holds the loop in its sync.</summary>
    private sealed class GatedLogStorage : ILogStorage
    {
        private readonly MemoryLogStorage _inner = new();
        private readonly ManualResetEventSlim _open = new(true);

        /// <summary>Set once a write waits at the closed gate.</summary>
        public ManualResetEventSlim Blocked { get; } = new(false);

        public void Close() => _open.Reset();

        public void Open() => _open.Set();

        public HardState HardState => _inner.HardState;

        public ulong FirstIndex => _inner.FirstIndex;

        public ulong LastIndex => _inner.LastIndex;

        public Snapshot Snapshot => _inner.Snapshot;

        public ulong Term(ulong index) => _inner.Term(index);

        public IReadOnlyList<LogEntry> Entries(ulong low, ulong high, long maxBytes) => _inner.Entries(low, high, maxBytes);

        public void Save(HardState? hardState, IReadOnlyList<LogEntry> entries)
        {
            if (!_open.IsSet)
            {
                Blocked.Set();
                _open.Wait(WaitMax);
            }

            _inner.Save(hardState, entries);
        }

        public void InstallSnapshot(Snapshot snapshot) => _inner.InstallSnapshot(snapshot);

        public void Compact(SnapshotMetadata metadata, byte[] data) => _inner.Compact(metadata, data);
    }

    /// <summary>The counter, its snapshot padded to <see cref="PaddingBytes"/> more.</summary>
    /// <summary>A counter whose snapshots wait, once <see cref="Hold"/> is called, until <see cref="Release"/>.</summary>
    private sealed class GatedSnapshotStateMachine : IReplicatedStateMachine
    {
        private readonly CounterStateMachine _inner = new();
        private readonly ManualResetEventSlim _open = new(initialState: true);

        public void Hold() => _open.Reset();

        public void Release() => _open.Set();

        public ulong AppliedIndex => _inner.AppliedIndex;

        public long LogTimeMs => _inner.LogTimeMs;

        public object? Apply(ulong index, long timestampMs, ReadOnlyMemory<byte> command) => _inner.Apply(index, timestampMs, command);

        public void Skip(ulong index) => _inner.Skip(index);

        public byte[] WriteSnapshot()
        {
            // Bounded: a test that never releases fails its own wait, and the loop moves on after this.
            _open.Wait(WaitMax);
            return _inner.WriteSnapshot();
        }

        public void RestoreSnapshot(ulong index, ReadOnlySpan<byte> snapshot) => throw new InvalidOperationException("one voter never receives a snapshot");

        public IEnumerable<byte[]> OnBecameLeader(TimeSpan? leaderless) => _inner.OnBecameLeader(leaderless);

        public IEnumerable<byte[]> DueCommands(long nowMs) => _inner.DueCommands(nowMs);
    }

    private sealed class PaddedStateMachine : IReplicatedStateMachine
    {
        private readonly CounterStateMachine _inner = new();

        public ulong AppliedIndex => _inner.AppliedIndex;

        public long LogTimeMs => _inner.LogTimeMs;

        public object? Apply(ulong index, long timestampMs, ReadOnlyMemory<byte> command) => _inner.Apply(index, timestampMs, command);

        public void Skip(ulong index) => _inner.Skip(index);

        public byte[] WriteSnapshot() => [.. _inner.WriteSnapshot(), .. new byte[PaddingBytes]];

        public void RestoreSnapshot(ulong index, ReadOnlySpan<byte> snapshot) => throw new InvalidOperationException("one voter never receives a snapshot");

        public IEnumerable<byte[]> OnBecameLeader(TimeSpan? leaderless) => _inner.OnBecameLeader(leaderless);

        public IEnumerable<byte[]> DueCommands(long nowMs) => _inner.DueCommands(nowMs);
    }
}
