using System.Collections.Immutable;
using System.Threading.Channels;
using Coordination.Consensus;
using Coordination.Silo.Transport;
using Microsoft.Extensions.Logging;

namespace Coordination.Silo.Hosting;

/// <summary>Timings and limits of the loop that drives one Raft node.</summary>
public sealed record RaftHostOptions
{
    public required ulong NodeId { get; init; }

    /// <summary>Length of one Raft tick. Election timeout = ElectionTicks ticks (randomized up to twice that).</summary>
    public TimeSpan TickInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    public int ElectionTicks { get; init; } = 10;

    public int HeartbeatTicks { get; init; } = 1;

    /// <summary>Requests waiting for the loop; beyond it callers get <see cref="OverloadedException"/>.</summary>
    public int InboxItemsMax { get; init; } = 65_536;

    /// <summary>Requests handled in one round of the loop (and so batched into one proposal and one sync).</summary>
    public int InboxItemsPerRoundMax { get; init; } = 4_096;

    /// <summary>
    /// Bytes of entries (appends from the leader, or proposals) taken in one round, and so written in
    /// one log record; must stay well under the write-ahead log's record limit.
    /// </summary>
    public long EntryBytesPerRoundMax { get; init; } = 4 << 20;

    /// <summary>
    /// Applied entries kept in the log, at least, before the state is snapshotted and the log compacted.
    /// A snapshot also waits until the entries applied since the last one add up to that snapshot's size
    /// (or <see cref="SnapshotLogBytesMax"/>): a snapshot writes the whole state, so writing snapshots then
    /// costs no more than writing the log, however large the state grows.
    /// </summary>
    public ulong SnapshotEveryEntries { get; init; } = 10_000;

    /// <summary>Bytes of entries applied since the last snapshot after which one is taken even if the state is larger.</summary>
    public long SnapshotLogBytesMax { get; init; } = 64 << 20;

    /// <summary>A proposal or read not answered within this time fails with <see cref="TimeoutException"/>.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A jump of the wall clock this large or larger is not followed by entry stamps (<see cref="SteadyWallClock"/>).</summary>
    public TimeSpan ClockStepThreshold { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How fast entry stamps converge on a wall clock that stepped, as a fraction of elapsed time.</summary>
    public double ClockSlewRate { get; init; } = 0.05;

    public RaftOptions ToRaftOptions() => new() { NodeId = NodeId, ElectionTicks = ElectionTicks, HeartbeatTicks = HeartbeatTicks };
}

/// <summary>What a silo knows of the cluster, published by the loop after every round.</summary>
public sealed record ClusterStatus(
    ulong NodeId,
    RaftRole Role,
    ulong Term,
    ulong Leader,
    ulong CommitIndex,
    ulong AppliedIndex,
    ulong FirstIndex,
    ulong LastIndex,
    Membership Membership,
    long LeaderChanges,
    long LastLeaderContact,
    IReadOnlyList<FollowerProgress>? Replication = null);

/// <summary>How far the leader has replicated to one member (rendered as text only when someone asks).</summary>
public readonly record struct FollowerProgress(ulong Id, ReplicationState State, ulong Match, ulong Next)
{
    public override string ToString() => $"{State} match {Match} next {Next}";
}

/// <summary>
/// Drives one <see cref="RaftNode"/>: the only thread that touches the node and the state machine.
/// Each round it takes requests from its inbox (messages from peers, proposals, reads), ticks on
/// time from the <see cref="TimeProvider"/>, and carries out every <see cref="Ready"/>: persist to
/// the log storage (one sync covers the whole round: group commit), send, apply, advance.
/// Public methods are thread-safe and complete when the work is done on the loop.
/// </summary>
public sealed partial class RaftHost : IAsyncDisposable
{
    private readonly RaftHostOptions _options;
    private readonly ILogStorage _storage;
    private readonly IReplicatedStateMachine _stateMachine;
    private readonly Action<Message> _send;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<Work> _inbox;
    private readonly CancellationTokenSource _stopping = new();

    // The loop holds it for writing while it changes the state machine (applying entries, restoring
    // a snapshot); stale queries hold it for reading on their caller's thread. So a stale read never
    // queues behind the loop's log sync or other work, and the state is never read mid-change.
    private readonly ReaderWriterLockSlim _stateLock = new(LockRecursionPolicy.NoRecursion);
    private readonly RaftNode _node;
    private readonly HostMetrics _metrics;
    private Task? _loop;
    private int _disposed;

    // Loop-thread state.
    private readonly Dictionary<ulong, ProposalWaiter> _proposals = [];
    private readonly Dictionary<ulong, ulong> _proposalAtIndex = [];
    private readonly Dictionary<ulong, ReadBatch> _readsAwaitingIndex = [];
    private readonly List<(ulong Index, ReadBatch Batch)> _readsAwaitingApply = [];
    private readonly List<(ProposalWaiter Waiter, object? Result)> _answers = [];
    // Membership changes awaiting their entry (index, and the term it was appended in): done with
    // true once that entry is applied, false once another entry is applied at that index instead.
    private readonly List<(ulong Index, ulong Term, TaskCompletionSource<bool> Done)> _appliedWaiters = [];
    private ulong _nextRequestId;
    private RaftRole _lastRole;
    private ulong _lastLeader;
    private ulong _dutyIndex;
    private bool _leaderDutiesPending;
    private long _leaderChanges;
    private long _lastLeaderContact; // a TimeProvider timestamp; 0 before any contact
    private long _appliedStampMax; // the newest entry stamp applied here (log time as far as this silo knows)
    private readonly SteadyWallClock _clock;
    private volatile ClusterStatus _status;
    private TaskCompletionSource _applied = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // The size of the last snapshot, and the bytes of entries applied since: see SnapshotEveryEntries.
    private long _lastSnapshotBytes;
    private long _appliedBytesSinceSnapshot;

    public RaftHost(RaftHostOptions options, ILogStorage storage, IReplicatedStateMachine stateMachine, Action<Message> send, TimeProvider time, ILogger logger, HostMetrics? metrics = null)
    {
        _options = options;
        _storage = storage;
        _stateMachine = stateMachine;
        _send = send;
        _time = time;
        _logger = logger;
        _metrics = metrics ?? new HostMetrics();
        _clock = new SteadyWallClock(time, options.ClockStepThreshold, options.ClockSlewRate);
        _clock.Stepped += step =>
        {
            _metrics.ClockSteps.Add(1);
            _logger.LogWarning("Silo {Node}: the wall clock jumped by {Step}; entry stamps keep to the monotonic clock and converge on it at {Rate:P0} of elapsed time", options.NodeId, step, options.ClockSlewRate);
        };
        _ = _clock.NowMs(); // the baseline its first step is measured against
        _inbox = Channel.CreateBounded<Work>(new BoundedChannelOptions(options.InboxItemsMax) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

        // Request ids start at a random point so entries proposed before a restart never match
        // a waiter of this incarnation.
        _nextRequestId = (ulong)Random.Shared.NextInt64(1, long.MaxValue / 2);
        if (!storage.Snapshot.IsEmpty)
        {
            stateMachine.RestoreSnapshot(storage.Snapshot.Metadata.Index, storage.Snapshot.Data);
            _lastSnapshotBytes = storage.Snapshot.Data.Length;
            _appliedStampMax = stateMachine.LogTimeMs;
        }

        _node = new RaftNode(options.ToRaftOptions(), storage, new SplitMixRandom((ulong)Random.Shared.NextInt64()));
        _status = Snapshot();
    }

    /// <summary>The latest published view of the cluster (never blocks).</summary>
    public ClusterStatus Status => _status;

    public HostMetrics Metrics => _metrics;

    /// <summary>Log time as this silo would stamp an entry now (Unix ms): the wall clock without its steps.</summary>
    public long ClockNowMs() => _clock.NotBeforeMs(Volatile.Read(ref _appliedStampMax));

    /// <summary>The clock behind <see cref="ClockNowMs"/>, for diagnostics.</summary>
    public SteadyWallClock Clock => _clock;

    /// <summary>Completes when the next batch of entries has been applied (for watchers).</summary>
    public Task NextApplied => _applied.Task;

    public void Start() => _loop = Task.Factory.StartNew(LoopAsync, TaskCreationOptions.LongRunning).Unwrap();

    /// <summary>Completes when the loop ends; faulted if applying or persisting failed (the silo must stop).</summary>
    public Task Completion => _loop ?? Task.CompletedTask;

    /// <summary>Requests queued at most (the rest of <see cref="RaftHostOptions.InboxItemsMax"/> is kept for peers' messages).</summary>
    private int RequestItemsMax => _options.InboxItemsMax - (_options.InboxItemsMax / 8);

    /// <summary>Work queued for the loop now (tests).</summary>
    internal int QueuedWork => _inbox.Reader.Count;

    /// <summary>Read batches whose index is confirmed and not yet applied (tests; a racy count, read for polling).</summary>
    internal int ReadsAwaitingApply => _readsAwaitingApply.Count;

    /// <summary>Hands a message from a peer to the loop (drops it when the inbox is full: Raft tolerates loss).</summary>
    public void Receive(Message message) => _inbox.Writer.TryWrite(new StepWork(message));

    /// <summary>Replicates <paramref name="command"/> and returns the state machine's result once applied here.</summary>
    public Task<object?> ProposeAsync(byte[] command, CancellationToken cancellation = default)
    {
        var waiter = new ProposalWaiter(command, _time.GetTimestamp());
        Enqueue(waiter, waiter.Completion, cancellation);
        return waiter.Completion.Task;
    }

    /// <summary>
    /// Runs <paramref name="query"/>, which must only read, against the state machine. Linearizable
    /// queries first confirm a read index (dissertation §6.4) and run on the loop once it is applied;
    /// others run at once on whatever this silo has applied: on the caller's thread, between the
    /// loop's changes to the state, or on the loop when it is changing it right now.
    /// </summary>
    public Task<T> QueryAsync<T>(Func<T> query, bool linearizable, CancellationToken cancellation = default)
    {
        if (!linearizable && TryQueryNow(query) is { } now)
        {
            return now;
        }

        var read = new ReadWork(() => query(), linearizable, _time.GetTimestamp());
        Enqueue(read, read.Completion, cancellation);
        return Typed(read.Completion.Task);

        // Awaiting (not .Result) keeps the original exception type for the caller.
        static async Task<T> Typed(Task<object?> task) => (T)(await task)!;
    }

    /// <summary>A stale query on the caller's thread, unless the loop is changing the state (then null: it queues).</summary>
    private Task<T>? TryQueryNow<T>(Func<T> query)
    {
        if (_stateLock.IsWriteLockHeld || _stateLock.IsReadLockHeld)
        {
            // Called from code the loop or a query runs: this thread already owns the state.
            return Run(query);
        }

        if (!_stateLock.TryEnterReadLock(0))
        {
            return null;
        }

        try
        {
            return Run(query);
        }
        finally
        {
            _stateLock.ExitReadLock();
        }

        static Task<T> Run(Func<T> query)
        {
            try
            {
                return Task.FromResult(query());
            }
            catch (Exception e)
            {
                return Task.FromException<T>(e);
            }
        }
    }

    /// <summary>Proposes a one-server membership change and completes when it is applied here.</summary>
    public Task<ProposalResult> ChangeMembershipAsync(MembershipChangeKind kind, ulong node, CancellationToken cancellation = default)
    {
        var work = new MembershipWork(kind, node);
        Enqueue(work, work.Completion, cancellation);
        return work.Completion.Task;
    }

    /// <summary>Asks the leader to hand over to <paramref name="target"/> (0: the most up-to-date other voter).</summary>
    public Task<ProposalResult> TransferLeadershipAsync(ulong target, CancellationToken cancellation = default)
    {
        var work = new TransferWork(target);
        Enqueue(work, work.Completion, cancellation);
        return work.Completion.Task;
    }

    private void Enqueue<T>(Work work, TaskCompletionSource<T> completion, CancellationToken cancellation)
    {
        if (cancellation.CanBeCanceled)
        {
            var registration = cancellation.Register(() => completion.TrySetCanceled(cancellation));
            completion.Task.ContinueWith(_ => registration.Dispose(), TaskScheduler.Default);
        }

        // Requests leave the last eighth of the inbox to the peers' messages: a queue kept full by clients
        // would otherwise drop heartbeats, answers and votes, and overload would cost the cluster its leader.
        if (_inbox.Reader.Count >= RequestItemsMax || !_inbox.Writer.TryWrite(work))
        {
            completion.TrySetException(new OverloadedException($"the silo's request queue holds {RequestItemsMax} requests (InboxItemsMax less the peers' eighth)"));
        }
    }

    /// <summary>
    /// Graceful stop: a leader first hands leadership to the most up-to-date voter (dissertation §3.10),
    /// waiting at most two election timeouts, so clients see a quick failover instead of a timeout.
    /// </summary>
    public async Task StopAsync()
    {
        if (_loop is null || _stopping.IsCancellationRequested)
        {
            return;
        }

        if (_status.Role == RaftRole.Leader && _status.Membership.Voters.Count > 1)
        {
            var deadline = _options.TickInterval * _options.ElectionTicks * 2;
            try
            {
                var result = await TransferLeadershipAsync(0).WaitAsync(deadline, _time);
                for (var waited = TimeSpan.Zero; result == ProposalResult.Accepted && _status.Role == RaftRole.Leader && waited < deadline; waited += _options.TickInterval)
                {
                    await Task.Delay(_options.TickInterval, _time);
                }
            }
            catch (TimeoutException)
            {
                _logger.LogWarning("Leadership transfer did not finish before shutdown");
            }
        }

        await _stopping.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await StopAsync();
        }
    }

    private ClusterStatus Snapshot() => new(
        _node.Id, _node.Role, _node.Term, _node.Leader, _node.CommitIndex, _stateMachine.AppliedIndex,
        _node.FirstIndex, _node.LastIndex, _node.Membership, _leaderChanges, _lastLeaderContact,
        _node.Role == RaftRole.Leader ? Replication() : null);

    /// <summary>
    /// The status is republished every loop round, so this stays cheap: plain values in one small
    /// list (formatting text here once cost about a sixth of the leader's allocations).
    /// </summary>
    private List<FollowerProgress> Replication()
    {
        var membership = _node.Membership;
        var progress = new List<FollowerProgress>(membership.Voters.Count + membership.Learners.Count);
        foreach (var members in (ReadOnlySpan<ImmutableSortedSet<ulong>>)[membership.Voters, membership.Learners])
        {
            foreach (var id in members)
            {
                if (_node.ProgressOf(id) is { } p)
                {
                    progress.Add(new FollowerProgress(id, p.State, p.Match, p.Next));
                }
            }
        }

        return progress;
    }
}
