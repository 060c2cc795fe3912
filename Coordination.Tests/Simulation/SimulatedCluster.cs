using System.Buffers.Binary;
using Coordination.Consensus;
using Coordination.Silo.Storage;
using Coordination.Tests.Storage;

namespace Coordination.Tests.Simulation;

/// <summary>Where in the processing of a Ready a node crashes: each point loses different state.</summary>
public enum CrashPoint
{
    /// <summary>Nothing of the Ready was persisted: unstable entries and the new hard state are lost (a leader's messages were sent already, its committed entries applied and answered).</summary>
    BeforePersist,

    /// <summary>Persisted, but a follower sent no message (committed entries were applied, unless a snapshot came).</summary>
    AfterPersist,

    /// <summary>Persisted and sent; only a snapshot's Ready is not applied yet.</summary>
    AfterSend,
}

/// <summary>One simulated silo: durable storage that survives crashes, and the volatile rest.</summary>
public sealed class SimulatedNode(ulong id)
{
    public ulong Id { get; } = id;

    /// <summary>The node's log; null while a node with a simulated disk is down.</summary>
    public ILogStorage? Storage { get; set; } = new MemoryLogStorage();

    /// <summary>With disk faults: the node's disk, which outlives crashes.</summary>
    public SimulatedFileSystem? Disk { get; set; }

    /// <summary>Its disk was found corrupt at start: it refuses to start, for good.</summary>
    public bool Corrupted { get; set; }

    public RaftNode? Raft { get; set; }

    public ChainState State { get; set; } = new();

    /// <summary>Started at least once (founding member or added learner).</summary>
    public bool Started { get; set; }

    /// <summary>Removed from the cluster and shut down for good.</summary>
    public bool Decommissioned { get; set; }

    public long RestartAt { get; set; } = long.MaxValue;

    public long PausedUntil { get; set; }

    public CrashPoint? PendingCrash { get; set; }

    /// <summary>Bits flipped in this node's synced files while it was down.</summary>
    public int BitsFlipped { get; set; }

    /// <summary>A crash scheduled at a tick (used to kill new leaders mid-replication).</summary>
    public long CrashAt { get; set; } = long.MaxValue;

    /// <summary>The last term in which this node was seen as leader.</summary>
    public ulong LeaderTermSeen { get; set; }

    public bool IsUp => Raft is not null;
}

/// <summary>
/// A deterministic cluster of <see cref="RaftNode"/>s in virtual time. One seed decides every
/// message drop, delay, crash, partition, membership change and client request; the
/// <see cref="SafetyChecker"/> watches every step. <see cref="Run"/> throws
/// <see cref="SimulationViolation"/> naming the property and the tick.
/// </summary>
public sealed class SimulatedCluster
{
    private const int ReadyRoundsPerTickMax = 16;
    private const int PendingRequestTicksMax = 200;
    private const int ConvergenceTicksMax = 20_000;

    /// <summary>Delivery delay left once faults heal.</summary>
    private const int HealedDelayTicksMax = 1;

    /// <summary>However long the backlog, the liveness check ends within this many ticks after healing.</summary>
    private const int LivenessTicksCeiling = 30_000;

    private readonly SimulationOptions _options;
    private readonly SplitMixRandom _random;
    private readonly SortedDictionary<ulong, SimulatedNode> _nodes = [];
    private readonly SafetyChecker _checker = new();

    // Clients: writes wait for their node to apply them; reads for a read index and then its application.
    private readonly SortedDictionary<ulong, (ulong Node, long Invoked)> _pendingWrites = [];
    private readonly SortedDictionary<ulong, PendingRead> _pendingReads = [];
    private ulong _nextRequest = 1;

    // The liveness check's proposals, and whether any node has applied one of them.
    private readonly HashSet<ulong> _livenessMarkers = [];
    private bool _livenessMarkerApplied;
    private ulong _ackedWriteIndexMax;
    private ulong _observedReadIndexMax;

    // Partitions in force, healed at a tick; flapping partitions toggle.
    private long _healAt = long.MaxValue;
    private Action? _flapShape;
    private int _flapPeriod;
    private bool _flapApplied;
    private bool _faultsActive;

    private sealed class PendingRead(ulong node, long invoked, ulong lowerBound)
    {
        public ulong Node { get; } = node;
        public long Invoked { get; } = invoked;
        public ulong LowerBound { get; } = lowerBound;
        public ulong? ReadIndex { get; set; }
    }

    public SimulatedCluster(SimulationOptions options)
    {
        _options = options;
        _random = new SplitMixRandom(options.Seed);
        Network = new SimulatedNetwork(_random)
        {
            DropRate = options.DropRate,
            DuplicateRate = options.DuplicateRate,
            DelayTicksMax = options.DelayTicksMax,
        };
        var founders = new Membership(Enumerable.Range(1, options.Voters).Select(i => (ulong)i), []);
        for (var id = 1UL; id <= (ulong)(options.Voters + options.Spares); id++)
        {
            var node = new SimulatedNode(id);
            _nodes[id] = node;
            if (options.DiskFaults)
            {
                node.Disk = new SimulatedFileSystem((int)(_random.NextUInt64() & int.MaxValue));
                node.Storage = OpenWal(node.Disk);
            }

            if (founders.IsVoter(id))
            {
                RaftNode.Bootstrap(node.Storage!, founders);
                Start(node);
            }
        }
    }

    public SimulatedNetwork Network { get; }


    public long Now { get; private set; }

    public SafetyChecker Checker => _checker;

    public IReadOnlyDictionary<ulong, SimulatedNode> Nodes => _nodes;

    public long WritesAcknowledged { get; private set; }

    public long ReadsCompleted { get; private set; }

    public int Crashes { get; private set; }

    public int MembershipChanges { get; private set; }

    /// <summary>Ticks the final liveness check needed to elect a leader and commit a proposal.</summary>
    public long LivenessTicks { get; private set; }

    /// <summary>Runs faults for the configured ticks, heals everything, and checks liveness and final agreement.</summary>
    public void Run()
    {
        for (var tick = 0; tick < _options.FaultTicks; tick++)
        {
            Step(faults: true);
        }

        HealEverything();
        CheckLiveness();
        CheckConvergence();
        CheckFinalAgreement();
    }

    /// <summary>Advances virtual time by one tick.</summary>
    public void Step(bool faults)
    {
        Now++;
        _faultsActive = faults;
        if (faults)
        {
            InjectFaults();
        }

        foreach (var node in _nodes.Values)
        {
            if (!node.IsUp && node.Started && !node.Decommissioned && node.RestartAt <= Now)
            {
                Start(node);
            }
        }

        foreach (var node in _nodes.Values)
        {
            if (node.IsUp && node.CrashAt <= Now)
            {
                Crash(node);
            }

            if (node.Raft is { } raft && node.PausedUntil <= Now)
            {
                raft.Tick();
                Observe(node);
            }
        }

        DeliverMessages();
        if (faults)
        {
            IssueClientRequests();
        }

        foreach (var node in _nodes.Values)
        {
            ProcessReady(node);
        }

        ExpireClientRequests();
        if (Now % 50 == 0)
        {
            CheckLogMatching();
        }
    }

    private static readonly WriteAheadLogOptions SimulatedWalOptions = new()
    {
        SegmentBytes = 8 << 20,
        RecordBytesMax = 4 << 20,
        PreallocateBytes = 0,
        SnapshotsKeptMax = 2,
    };

    private static WriteAheadLog OpenWal(SimulatedFileSystem disk) => WriteAheadLog.Open(disk, "/silo", SimulatedWalOptions);

    /// <summary>Disk-fault runs: recovery found corruption, and the node refuses to start for good.</summary>
    public int CorruptedNodes => _nodes.Values.Count(n => n.Corrupted);

    public int BitFlips { get; private set; }

    private void Start(SimulatedNode node)
    {
        node.Started = true;
        node.RestartAt = long.MaxValue;
        node.PendingCrash = null;
        if (node.Disk is not null && node.Storage is null)
        {
            try
            {
                node.Storage = OpenWal(node.Disk);
            }
            catch (StorageCorruptionException)
            {
                // The node refuses to start with data it cannot trust; it never votes or serves again.
                node.Corrupted = true;
                node.Decommissioned = true;
                return;
            }
        }

        var options = new RaftOptions { NodeId = node.Id, ElectionTicks = _options.ElectionTicks, HeartbeatTicks = 1, InflightAppendsMax = _options.InflightAppendsMax, AppendBytesMax = _options.AppendBytesMax };
        node.Raft = new RaftNode(options, node.Storage!, new SplitMixRandom(_random.NextUInt64()));
        node.State = ChainState.Decode(node.Storage!.Snapshot.Data);
        _checker.ObserveSnapshotLoaded(node.Id, node.State);
    }

    private void Crash(SimulatedNode node)
    {
        // Everything not in storage is gone: the node's unstable log, its state machine, its requests;
        // on a simulated disk, also whatever was written but not synced (and the last write may tear).
        node.Raft = null;
        if (node.Disk is not null && node.Storage is WriteAheadLog wal)
        {
            wal.Dispose();
            node.Storage = null;
            node.Disk.Crash(tear: _random.Chance(0.5));
        }

        node.PendingCrash = null;
        node.CrashAt = long.MaxValue;
        node.RestartAt = Now + _random.Next(1, 8 * _options.ElectionTicks);
        Crashes++;
        foreach (var (id, _) in _pendingWrites.Where(w => w.Value.Node == node.Id).ToArray())
        {
            _pendingWrites.Remove(id);
        }

        foreach (var (id, _) in _pendingReads.Where(r => r.Value.Node == node.Id).ToArray())
        {
            _pendingReads.Remove(id);
        }
    }

    private void Observe(SimulatedNode node)
    {
        if (node.Raft is { Role: RaftRole.Leader } raft)
        {
            _checker.ObserveLeader(raft);
            if (node.LeaderTermSeen != raft.Term)
            {
                node.LeaderTermSeen = raft.Term;
                if (_faultsActive && _random.Chance(_options.NewLeaderCrashRate))
                {
                    node.CrashAt = Now + _random.Next(1, 4);
                }
            }
        }
    }

    private void DeliverMessages()
    {
        while (Network.TryTakeDue(Now, out var message))
        {
            if (!_nodes.TryGetValue(message.To, out var node) || node.Raft is not { } raft)
            {
                continue;
            }

            if (node.PausedUntil > Now)
            {
                // A paused process does not read its socket; the message waits.
                Network.Enqueue(message, node.PausedUntil);
                continue;
            }

            raft.Step(message);
            Observe(node);
        }
    }

    private void ProcessReady(SimulatedNode node)
    {
        for (var round = 0; round < ReadyRoundsPerTickMax && node.Raft is { HasReady: true } raft && node.PausedUntil <= Now; round++)
        {
            var ready = raft.GetReady();
            if (ready.MaySendBeforePersist)
            {
                // As the silo does: a leader replicates while it writes, so a crash before its
                // write completes leaves followers holding entries the leader lost.
                SendAll(ready);
            }

            // As the silo does: committed entries are applied (clients answered, reads served) before
            // the Ready's new entries are written; a crash before the write must lose none of them.
            var applyBeforePersist = ready.Snapshot is null;
            if (applyBeforePersist)
            {
                Apply(node, ready);
            }

            if (node.PendingCrash == CrashPoint.BeforePersist)
            {
                Crash(node);
                return;
            }

            if (ready.Snapshot is { } snapshot)
            {
                node.Storage!.InstallSnapshot(snapshot);
            }

            node.Storage!.Save(ready.HardState, ready.Entries);
            if (node.PendingCrash == CrashPoint.AfterPersist)
            {
                Crash(node);
                return;
            }

            if (!ready.MaySendBeforePersist)
            {
                SendAll(ready);
            }

            if (node.PendingCrash == CrashPoint.AfterSend)
            {
                Crash(node);
                return;
            }

            if (!applyBeforePersist)
            {
                Apply(node, ready);
            }

            raft.Advance(ready);
            Observe(node);
            MaybeCompact(node);
        }
    }

    private void SendAll(Ready ready)
    {
        foreach (var message in ready.Messages)
        {
            Network.Send(message, Now);
        }
    }

    private void Apply(SimulatedNode node, Ready ready)
    {
        if (ready.Snapshot is { } snapshot)
        {
            node.State = ChainState.Decode(snapshot.Data);
            _checker.ObserveSnapshotLoaded(node.Id, node.State);
        }

        foreach (var entry in ready.CommittedEntries)
        {
            node.State.Apply(entry);
            _checker.ObserveApplied(node.Id, entry, node.State.Chain);
            if (entry.Kind == EntryKind.Normal && entry.Data.Length >= 8)
            {
                var request = BinaryPrimitives.ReadUInt64LittleEndian(entry.Data);
                _livenessMarkerApplied |= _livenessMarkers.Contains(request);

                if (_pendingWrites.TryGetValue(request, out var write) && write.Node == node.Id)
                {
                    // The node that took the write applied it: the client is answered.
                    _pendingWrites.Remove(request);
                    _ackedWriteIndexMax = Math.Max(_ackedWriteIndexMax, entry.Index);
                    WritesAcknowledged++;
                }
            }
        }

        foreach (var read in ready.ReadStates)
        {
            if (_pendingReads.TryGetValue(read.RequestId, out var pending) && pending.Node == node.Id)
            {
                pending.ReadIndex = read.Index;
            }
        }

        CompleteReads(node);
    }

    private void CompleteReads(SimulatedNode node)
    {
        foreach (var (id, read) in _pendingReads.Where(r => r.Value.Node == node.Id && r.Value.ReadIndex <= node.State.Index).ToArray())
        {
            _pendingReads.Remove(id);
            CheckRead(node, read.LowerBound);
        }
    }

    /// <summary>
    /// Linearizability of reads against a log-prefix state: a read must observe every write
    /// acknowledged, and everything any read observed, before it was invoked.
    /// </summary>
    private void CheckRead(SimulatedNode node, ulong lowerBound)
    {
        var observed = node.State.Index;
        if (observed < lowerBound)
        {
            _checker.Fail($"linearizability: a read on node {node.Id} observed index {observed}, but index {lowerBound} was acknowledged or observed before the read began");
        }

        _observedReadIndexMax = Math.Max(_observedReadIndexMax, observed);
        ReadsCompleted++;
    }

    private void MaybeCompact(SimulatedNode node)
    {
        if (node.Storage is not { } storage || node.Raft is not { } raft || node.State.Index < storage.FirstIndex || node.State.Index - storage.FirstIndex + 1 < (ulong)_options.CompactionThreshold)
        {
            return;
        }

        var index = node.State.Index;
        storage.Compact(new SnapshotMetadata(index, storage.Term(index), raft.MembershipAt(index)), node.State.Encode());
    }

    private void IssueClientRequests()
    {
        if (_random.Chance(_options.ProposalRatePerTick))
        {
            var node = RandomUpNode();
            if (node?.Raft is { Role: RaftRole.Leader } raft)
            {
                var batch = new byte[_random.Next(1, 4)][];
                var ids = new ulong[batch.Length];
                for (var i = 0; i < batch.Length; i++)
                {
                    ids[i] = _nextRequest++;
                    batch[i] = new byte[8 + _random.Next(0, 24)];
                    BinaryPrimitives.WriteUInt64LittleEndian(batch[i], ids[i]);
                }

                if (raft.Propose(batch) == ProposalResult.Accepted)
                {
                    foreach (var id in ids)
                    {
                        _pendingWrites[id] = (node.Id, Now);
                    }
                }
            }
        }

        if (_random.Chance(_options.ReadRatePerTick) && RandomUpNode() is { Raft: { } reader } readerNode)
        {
            var lowerBound = Math.Max(_ackedWriteIndexMax, _observedReadIndexMax);
            if (_options.UnsafeLocalReads)
            {
                // The control: answer from local state, as a node that skipped ReadIndex would.
                CheckRead(readerNode, lowerBound);
                return;
            }

            var id = _nextRequest++;
            if (reader.ReadIndex(id) == ProposalResult.Accepted)
            {
                _pendingReads[id] = new PendingRead(readerNode.Id, Now, lowerBound);
            }
        }
    }

    private void ExpireClientRequests()
    {
        // A request whose node lost leadership is never answered; its client gives up (outcome unknown).
        foreach (var (id, _) in _pendingWrites.Where(w => Now - w.Value.Invoked > PendingRequestTicksMax).ToArray())
        {
            _pendingWrites.Remove(id);
        }

        foreach (var (id, _) in _pendingReads.Where(r => Now - r.Value.Invoked > PendingRequestTicksMax).ToArray())
        {
            _pendingReads.Remove(id);
        }
    }

    private SimulatedNode? RandomUpNode()
    {
        var up = _nodes.Values.Where(n => n.IsUp).ToArray();
        return up.Length == 0 ? null : up[_random.Next(0, up.Length)];
    }

    private SimulatedNode? Leader() =>
        _nodes.Values.Where(n => n.Raft is { Role: RaftRole.Leader }).OrderByDescending(n => n.Raft!.Term).FirstOrDefault();

    private void InjectFaults()
    {
        if (_random.Chance(_options.CrashRatePerTick))
        {
            var victim = _random.Chance(0.3) ? Leader() : RandomUpNode();
            if (victim is not null)
            {
                if (_random.Chance(0.5))
                {
                    Crash(victim);
                }
                else
                {
                    victim.PendingCrash = (CrashPoint)_random.Next(0, 3);
                }
            }
        }

        if (_random.Chance(_options.BitFlipRatePerTick))
        {
            FlipBitOnAStoppedDisk();
        }

        if (_random.Chance(_options.PauseRatePerTick) && RandomUpNode() is { } paused)
        {
            // Pauses up to three election timeouts: long enough for a paused leader to be deposed.
            paused.PausedUntil = Now + _random.Next(1, 3 * _options.ElectionTicks);
        }

        if (_healAt <= Now)
        {
            Network.HealAll();
            _healAt = long.MaxValue;
            _flapShape = null;
        }
        else if (_flapShape is not null && Now % _flapPeriod == 0)
        {
            if (_flapApplied)
            {
                Network.HealAll();
            }
            else
            {
                _flapShape();
            }

            _flapApplied = !_flapApplied;
        }

        if (_healAt == long.MaxValue && _random.Chance(_options.PartitionRatePerTick))
        {
            Partition();
        }

        if (_random.Chance(_options.MembershipChangeRatePerTick))
        {
            ChangeMembership();
        }

        if (_random.Chance(_options.TransferRatePerTick) && Leader()?.Raft is { } leader)
        {
            var voters = leader.Membership.Voters.Where(v => v != leader.Id).ToArray();
            if (voters.Length > 0)
            {
                leader.TransferLeadership(voters[_random.Next(0, voters.Length)]);
            }
        }
    }

    /// <summary>
    /// Flips one bit in the synced first half of a file of a stopped node, so it lands in data, not in
    /// a torn tail. Only one node per run is hit, so a quorum always survives.
    /// </summary>
    private void FlipBitOnAStoppedDisk()
    {
        var victims = _nodes.Values.Where(n => n.Disk is not null && !n.IsUp && n.Started && !n.Decommissioned).ToArray();
        var alreadyHit = _nodes.Values.FirstOrDefault(n => n.BitsFlipped > 0 || n.Corrupted);
        if (alreadyHit is not null)
        {
            victims = victims.Where(v => v == alreadyHit).ToArray();
        }

        if (victims.Length == 0)
        {
            return;
        }

        var victim = victims[_random.Next(0, victims.Length)];
        var files = new[] { "/silo/wal", "/silo/snapshots" }
            .SelectMany(d => victim.Disk!.ListFiles(d).Select(f => d + "/" + f))
            .Where(f => victim.Disk!.Exists(f) && victim.Disk.LengthOf(f) >= 64)
            .ToArray();
        if (files.Length == 0)
        {
            return;
        }

        var file = files[_random.Next(0, files.Length)];
        victim.Disk!.FlipBit(file, _random.Next(0, (int)(victim.Disk.LengthOf(file) / 2)), _random.Next(0, 8));
        victim.BitsFlipped++;
        BitFlips++;
    }

    private void Partition()
    {
        var ids = _nodes.Values.Where(n => n.Started).Select(n => n.Id).ToArray();
        _healAt = Now + _random.Next(_options.ElectionTicks, 20 * _options.ElectionTicks);
        Action shape;
        switch (_random.Next(0, 6))
        {
            case 0:
            {
                // Isolate one node.
                var lone = ids[_random.Next(0, ids.Length)];
                shape = () => Network.Split([lone], ids);
                break;
            }

            case 1:
            {
                // Majority / minority at random.
                var shuffled = ids.OrderBy(_ => _random.NextUInt64()).ToArray();
                var minority = shuffled.Take(_random.Next(1, (ids.Length / 2) + 1)).ToArray();
                shape = () => Network.Split(minority, ids);
                break;
            }

            case 2:
            {
                // Isolate the leader.
                var leader = Leader()?.Id ?? ids[0];
                shape = () => Network.Split([leader], ids);
                break;
            }

            case 3:
            {
                // One-way: a node can send but not receive (or the reverse).
                var node = ids[_random.Next(0, ids.Length)];
                var inbound = _random.Chance(0.5);
                shape = () =>
                {
                    foreach (var other in ids.Where(o => o != node))
                    {
                        if (inbound)
                        {
                            Network.Block(other, node);
                        }
                        else
                        {
                            Network.Block(node, other);
                        }
                    }
                };
                break;
            }

            case 4:
            {
                // A ring: each node reaches only its two neighbours, so each sees a different majority.
                shape = () =>
                {
                    for (var i = 0; i < ids.Length; i++)
                    {
                        for (var j = 0; j < ids.Length; j++)
                        {
                            var distance = Math.Abs(i - j);
                            if (i != j && distance != 1 && distance != ids.Length - 1)
                            {
                                Network.Block(ids[i], ids[j]);
                            }
                        }
                    }
                };
                break;
            }

            default:
            {
                // Flapping: a random split that comes and goes every few ticks.
                var side = ids.Where(_ => _random.Chance(0.5)).ToArray();
                _flapShape = () => Network.Split(side, ids);
                _flapApplied = false;
                _flapPeriod = _random.Next(2, 2 * _options.ElectionTicks);
                return;
            }
        }

        shape();
    }

    private void ChangeMembership()
    {
        if (Leader() is not { Raft: { } leader } leaderNode)
        {
            return;
        }

        var membership = leader.Membership;
        switch (_random.Next(0, 3))
        {
            case 0:
            {
                var spare = _nodes.Values.FirstOrDefault(n => !n.Started && !membership.Contains(n.Id));
                if (spare is not null && leader.ChangeMembership(MembershipChangeKind.AddLearner, spare.Id) == ProposalResult.Accepted)
                {
                    MembershipChanges++;
                    Start(spare);
                }

                break;
            }

            case 1:
            {
                var learners = membership.Learners.ToArray();
                if (learners.Length > 0 && leader.ChangeMembership(MembershipChangeKind.PromoteLearner, learners[_random.Next(0, learners.Length)]) == ProposalResult.Accepted)
                {
                    MembershipChanges++;
                }

                break;
            }

            default:
            {
                // Keep at least three voters so faults still leave something to test; sometimes remove the leader.
                var members = membership.All.ToArray();
                var target = _random.Chance(0.2) ? leaderNode.Id : members[_random.Next(0, members.Length)];
                if ((membership.IsLearner(target) || membership.Voters.Count > 3)
                    && leader.ChangeMembership(MembershipChangeKind.RemoveMember, target) == ProposalResult.Accepted)
                {
                    MembershipChanges++;
                    _removalsPending.Add(target);
                }

                break;
            }
        }
    }

    // Nodes whose removal was proposed: decommissioned once a committed membership excludes them.
    private readonly SortedSet<ulong> _removalsPending = [];

    private void HealEverything()
    {
        Network.HealAll();
        Network.DropRate = 0;
        Network.DuplicateRate = 0;
        Network.DelayTicksMax = Math.Min(Network.DelayTicksMax, HealedDelayTicksMax);
        _healAt = long.MaxValue;
        _flapShape = null;
        foreach (var node in _nodes.Values)
        {
            node.PausedUntil = 0;
            node.PendingCrash = null;
            node.CrashAt = long.MaxValue;
            if (node.Started && !node.IsUp && !node.Decommissioned)
            {
                Start(node);
            }
        }
    }

    /// <summary>
    /// Liveness: with faults healed, a leader emerges and commits a new proposal. It may first have to
    /// bring a lagging majority through a long backlog (in the worst draws one entry per round trip:
    /// appends of 40 bytes, one in flight), so the bound is on progress: the check fails once
    /// <c>LivenessTicksMax</c> ticks pass in which no commit index rose and no voter's log grew
    /// towards the longest log at healing, or after <see cref="LivenessTicksCeiling"/> ticks in all.
    /// </summary>
    private void CheckLiveness()
    {
        var start = Now;
        var lastProgress = Now;

        // Catching up counts as progress only up to the longest log at healing: the check's own
        // proposals would otherwise look like progress forever.
        var voters = LiveVoters().ToArray();
        var backlogEnd = voters.Length == 0 ? 0 : voters.Max(r => r.LastIndex);
        var best = Progress(backlogEnd);
        ulong? marker = null;
        ulong markerLeader = 0;
        while (Now - lastProgress < _options.LivenessTicksMax && Now - start < LivenessTicksCeiling)
        {
            Step(faults: false);
            if (_livenessMarkerApplied)
            {
                // Applied, so committed. (Gone from the pending writes is not enough: a client request
                // also leaves them when its client gives up waiting, committed or not.)
                LivenessTicks = Now - start;
                return;
            }

            var now = Progress(backlogEnd);
            if (now.Committed > best.Committed || now.CaughtUp > best.CaughtUp)
            {
                best = (Math.Max(now.Committed, best.Committed), Math.Max(now.CaughtUp, best.CaughtUp));
                lastProgress = Now;
            }

            if (Leader() is not { Raft: { } raft } leader)
            {
                continue;
            }

            if (marker is null || markerLeader != leader.Id)
            {
                var id = _nextRequest++;
                var data = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(data, id);
                if (raft.Propose(data) == ProposalResult.Accepted)
                {
                    (marker, markerLeader) = (id, leader.Id);
                    _livenessMarkers.Add(id);
                    _pendingWrites[id] = (leader.Id, Now);
                }
            }
            else if (!_pendingWrites.ContainsKey(marker.Value))
            {
                // Its client gave up: propose again (the first may still commit; either will do).
                marker = null;
            }
        }

        _checker.Fail($"liveness: no leader committed a proposal after healing: {Now - lastProgress} ticks without progress, {Now - start} in all ({DescribeNodes()})");
    }

    /// <summary>
    /// The highest commit index among live voters, and how much of the backlog their logs hold in all
    /// (each counted up to <paramref name="backlogEnd"/>). A sum, not the shortest log: a node removed
    /// from the cluster that never learned it still counts itself a voter, and its log never grows.
    /// </summary>
    private (ulong Committed, ulong CaughtUp) Progress(ulong backlogEnd)
    {
        var voters = LiveVoters().ToArray();
        return voters.Length == 0 ? (0, 0) : (voters.Max(r => r.CommitIndex), voters.Aggregate(0UL, (sum, r) => sum + Math.Min(r.LastIndex, backlogEnd)));
    }

    private IEnumerable<RaftNode> LiveVoters() =>
        _nodes.Values.Where(n => n.Raft is { } raft && raft.Membership.IsVoter(n.Id)).Select(n => n.Raft!);

    /// <summary>After a commit, the leader commits its whole log and every member catches up, within a bound that allows for a long lag.</summary>
    private void CheckConvergence()
    {
        for (var tick = 0; tick < ConvergenceTicksMax; tick++)
        {
            // The leader's whole log is committed (nothing it holds is left hanging), and every live
            // member has applied all of it.
            if (Leader()?.Raft is { } raft && raft.CommitIndex == raft.LastIndex
                && LiveMembers(raft).All(n => n.Raft is { } r && r.CommitIndex == raft.CommitIndex && n.State.Index == raft.CommitIndex))
            {
                return;
            }

            Step(faults: false);
        }

        _checker.Fail($"convergence: members did not catch up with the leader within {ConvergenceTicksMax} ticks after healing ({DescribeNodes()})");
    }

    /// <summary>The members a healed cluster must bring up to date: all but those that refused to start.</summary>
    private IEnumerable<SimulatedNode> LiveMembers(RaftNode leader) => leader.Membership.All.Select(id => _nodes[id]).Where(n => !n.Corrupted);

    private string DescribeNodes() => "nodes: " + string.Join("; ", _nodes.Values.Where(n => n.Started).Select(Describe));

    private void CheckFinalAgreement()
    {
        var leader = Leader()!.Raft!;
        var members = LiveMembers(leader).ToArray();
        foreach (var node in members)
        {
            if (node.State.Index != members[0].State.Index || node.State.Chain != members[0].State.Chain)
            {
                _checker.Fail($"agreement: node {node.Id} applied {node.State.Index}/{node.State.Chain:x}, node {members[0].Id} {members[0].State.Index}/{members[0].State.Chain:x}");
            }
        }

        if (members[0].State.Index < _checker.CommittedMax)
        {
            _checker.Fail($"durability: members applied {members[0].State.Index} but index {_checker.CommittedMax} was committed");
        }

        CheckLogMatching();
    }

    private void CheckLogMatching()
    {
        var logs = _nodes.Values.Where(n => n.Started && n.Storage is not null).Select(n => (n.Id, (ILogStorageReader)n.Storage!)).ToArray();
        SafetyChecker.CheckLogMatching(logs);
        foreach (var id in _removalsPending.ToArray())
        {
            var leader = Leader()?.Raft;
            if (leader is not null && !leader.Membership.Contains(id) && leader.CommitIndex >= leader.LastIndex)
            {
                _removalsPending.Remove(id);
                if (_random.Chance(0.5) && _nodes[id].Raft is not null)
                {
                    // An operator shuts a removed silo down; the other half keep running, stale.
                    _nodes[id].Raft = null;
                    _nodes[id].Decommissioned = true;
                }
            }
        }
    }

    private static string Describe(SimulatedNode n) =>
        n.Raft is { } r
            ? $"{n.Id}:{r.Role} t{r.Term} lead{r.Leader} commit{r.CommitIndex} last{r.LastIndex} first{r.FirstIndex} applied{n.State.Index} {r.Membership}" +
              (r.Role == RaftRole.Leader ? " progress " + string.Join(",", r.Membership.All.Select(id => $"{id}={r.ProgressOf(id)}")) : "")
            : $"{n.Id}:{(n.Corrupted ? "corrupt" : "down")}";

    /// <summary>A one-line summary of the run, for the test log.</summary>
    public string Summary() =>
        $"ticks={Now} leaders={_checker.LeadersElected} committed={_checker.CommittedMax} writes={WritesAcknowledged} reads={ReadsCompleted} " +
        $"crashes={Crashes} membership={MembershipChanges} flips={BitFlips} corrupt={CorruptedNodes} sent={Network.MessagesSent} delivered={Network.MessagesDelivered} liveness={LivenessTicks}";
}
