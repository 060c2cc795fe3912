using System.Diagnostics;
using Coordination.Consensus;
using Microsoft.Extensions.Logging;

namespace Coordination.Silo.Hosting;

public sealed partial class RaftHost
{
    /// <summary>Missed ticks replayed after a stall (a long sync, a GC pause); beyond it they are skipped.</summary>
    private const int TicksCaughtUpPerRoundMax = 3;

    /// <summary>Ready batches carried out in one round before the loop takes new requests again.</summary>
    private const int ReadyRoundsPerLoopMax = 64;

    private abstract class Work;

    private sealed class StepWork(Message message) : Work
    {
        public Message Message { get; } = message;
    }

    private sealed class ProposalWaiter(byte[] command, long started) : Work
    {
        public byte[] Command { get; } = command;
        public long Started { get; } = started;
        public TaskCompletionSource<object?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class ReadWork(Func<object?> query, bool linearizable, long started) : Work
    {
        public Func<object?> Query { get; } = query;
        public bool Linearizable { get; } = linearizable;
        public long Started { get; } = started;
        public TaskCompletionSource<object?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class MembershipWork(MembershipChangeKind kind, ulong node) : Work
    {
        public MembershipChangeKind Kind { get; } = kind;
        public ulong Node { get; } = node;
        public TaskCompletionSource<ProposalResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class TransferWork(ulong target) : Work
    {
        public ulong Target { get; } = target;
        public TaskCompletionSource<ProposalResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Linearizable reads that arrived in one round share one read index.</summary>
    private sealed class ReadBatch(long started)
    {
        public long Started { get; } = started;
        public List<ReadWork> Reads { get; } = [];
    }

    private async Task LoopAsync()
    {
        var stopping = _stopping.Token;
        // Ticks follow the monotonic clock: a wall clock stepped back would stop them (no heartbeats,
        // no elections) until it caught up, one stepped ahead would skip them.
        var tickInterval = TimestampTicks(_options.TickInterval);
        var nextTick = _time.GetTimestamp() + tickInterval;
        var proposals = new List<ProposalWaiter>();
        var reads = new List<ReadWork>();
        while (!stopping.IsCancellationRequested)
        {
            var wait = _time.GetElapsedTime(_time.GetTimestamp(), nextTick);
            if (wait > TimeSpan.Zero && !_inbox.Reader.TryPeek(out _))
            {
                using var tickWait = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                tickWait.CancelAfter(wait);
                try
                {
                    await _inbox.Reader.WaitToReadAsync(tickWait.Token);
                }
                catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
                {
                    // The tick is due.
                }
            }

            stopping.ThrowIfCancellationRequested();
            long entryBytes = 0;
            for (var taken = 0; taken < _options.InboxItemsPerRoundMax && entryBytes < _options.EntryBytesPerRoundMax && _inbox.Reader.TryRead(out var work); taken++)
            {
                entryBytes += EntryBytes(work);
                Handle(work, proposals, reads);
            }

            // A vote answer taken this round may have made this node leader: its duties (the session
            // extension) go before the requests that came with it, or a keep-alive of a lease that ran
            // out while there was no leader would find its session expired.
            if (_node.Role != _lastRole || _node.Leader != _lastLeader)
            {
                OnLeadershipChanged(_node.Role);
            }
            else if (_leaderDutiesPending)
            {
                // Refused before (a full uncommitted tail, a transfer): they still go first.
                ProposeLeaderDuties();
            }

            ProposeBatch(proposals);
            StartReads(reads);
            for (var ticks = 0; ticks < TicksCaughtUpPerRoundMax && _time.GetTimestamp() >= nextTick; ticks++)
            {
                _node.Tick();
                nextTick += tickInterval;
                OnTick();
            }

            if (_time.GetTimestamp() >= nextTick)
            {
                // The loop fell behind (a long sync or GC pause): skip missed ticks rather than burst them.
                nextTick = _time.GetTimestamp() + tickInterval;
            }

            ProcessReady();
            _status = Snapshot();
        }
    }

    /// <summary><paramref name="interval"/> in the <see cref="TimeProvider"/>'s timestamp units.</summary>
    private long TimestampTicks(TimeSpan interval) => (long)(interval.Ticks * (double)_time.TimestampFrequency / TimeSpan.TicksPerSecond);

    private void Handle(Work work, List<ProposalWaiter> proposals, List<ReadWork> reads)
    {
        switch (work)
        {
            case StepWork step:
                // Only from a current leader: a deposed one's late heartbeat says nothing of now.
                if (step.Message.Kind is (MessageKind.Append or MessageKind.Heartbeat or MessageKind.InstallSnapshot) && step.Message.Term >= _node.Term)
                {
                    _lastLeaderContact = _time.GetTimestamp();
                }

                _node.Step(step.Message);
                break;
            case ProposalWaiter proposal when !proposal.Completion.Task.IsCompleted:
                if (_time.GetElapsedTime(proposal.Started) > _options.RequestTimeout)
                {
                    // Queued longer than a request may take: its caller is answered "outcome unknown" this
                    // very round, so proposing it now would apply a write nobody is told of. Refused
                    // instead, truthfully: nothing was applied, and a retry is safe.
                    proposal.Completion.TrySetException(new OverloadedException($"the request waited in the silo's queue longer than RequestTimeout ({_options.RequestTimeout.TotalSeconds:0} s) and was not proposed"));
                    break;
                }

                proposals.Add(proposal);
                break;
            case ReadWork read when !read.Completion.Task.IsCompleted:
                if (read.Linearizable)
                {
                    reads.Add(read);
                }
                else
                {
                    RunQuery(read);
                }

                break;
            case MembershipWork change:
                var result = _node.ChangeMembership(change.Kind, change.Node);
                if (result == ProposalResult.Accepted)
                {
                    // A leader appends in its own term. Should it lose leadership before the entry
                    // commits, a new leader may put another entry at this index: the change was not
                    // made, and the answer says no-leader (retry), never accepted.
                    _appliedWaiters.Add((_node.LastIndex, _node.Term, CompleteWith(change.Completion, ProposalResult.Accepted, ProposalResult.NotLeader)));
                }
                else
                {
                    change.Completion.TrySetResult(result);
                }

                break;
            case TransferWork transfer:
                transfer.Completion.TrySetResult(_node.TransferLeadership(transfer.Target != 0 ? transfer.Target : BestTransferTarget()));
                break;
        }
    }

    /// <summary>What a request adds to the next log write.</summary>
    private static long EntryBytes(Work work) => work switch
    {
        StepWork { Message.Entries: var entries } => entries.Sum(e => (long)e.SizeBytes),
        ProposalWaiter proposal => proposal.Command.Length + EntryEnvelope.HeaderBytes + LogEntry.HeaderBytes,
        _ => 0,
    };

    private static TaskCompletionSource<bool> CompleteWith<T>(TaskCompletionSource<T> target, T applied, T overwritten)
    {
        var done = new TaskCompletionSource<bool>();
        done.Task.ContinueWith(t => target.TrySetResult(t.Result ? applied : overwritten), TaskScheduler.Default);
        return done;
    }

    private ulong BestTransferTarget()
    {
        ulong best = 0, bestMatch = 0;
        foreach (var voter in _node.Membership.Voters)
        {
            if (voter != _node.Id && _node.ProgressOf(voter) is { } progress && (best == 0 || progress.Match > bestMatch))
            {
                (best, bestMatch) = (voter, progress.Match);
            }
        }

        return best;
    }

    private void ProposeBatch(List<ProposalWaiter> proposals)
    {
        if (proposals.Count == 0)
        {
            return;
        }

        if (_node.Role != RaftRole.Leader)
        {
            foreach (var waiter in proposals)
            {
                waiter.Completion.TrySetException(new NotLeaderException(_node.Leader));
            }

            proposals.Clear();
            return;
        }

        var now = ClockNowMs();
        var ids = new ulong[proposals.Count];
        var batch = new byte[proposals.Count][];
        for (var i = 0; i < proposals.Count; i++)
        {
            ids[i] = _nextRequestId++;
            batch[i] = EntryEnvelope.Wrap(ids[i], now, proposals[i].Command);
        }

        var result = _node.Propose(batch);
        if (result == ProposalResult.Accepted)
        {
            var first = _node.LastIndex - (ulong)batch.Length + 1;
            for (var i = 0; i < proposals.Count; i++)
            {
                _proposals[ids[i]] = proposals[i];
                _proposalAtIndex[first + (ulong)i] = ids[i];
            }

            _metrics.Proposals.Add(proposals.Count);
        }
        else
        {
            Exception error = result switch
            {
                ProposalResult.NotLeader or ProposalResult.Transferring => new NotLeaderException(_node.Leader),
                _ => new OverloadedException($"the leader refused the proposal ({result})"),
            };
            foreach (var waiter in proposals)
            {
                waiter.Completion.TrySetException(error);
            }
        }

        proposals.Clear();
    }

    private void StartReads(List<ReadWork> reads)
    {
        if (reads.Count == 0)
        {
            return;
        }

        var batch = new ReadBatch(_time.GetTimestamp());
        batch.Reads.AddRange(reads);
        reads.Clear();
        var id = _nextRequestId++;
        var result = _node.ReadIndex(id);
        if (result == ProposalResult.Accepted)
        {
            _readsAwaitingIndex[id] = batch;
            return;
        }

        Exception error = result == ProposalResult.LimitExceeded
            ? new OverloadedException("too many reads wait for confirmation (ReadIndexPendingMax)")
            : new NotLeaderException(_node.Leader);
        foreach (var read in batch.Reads)
        {
            read.Completion.TrySetException(error);
        }
    }

    private void RunQuery(ReadWork read)
    {
        try
        {
            read.Completion.TrySetResult(read.Query());
        }
        catch (Exception e)
        {
            read.Completion.TrySetException(e);
        }
    }

    private void OnTick()
    {
        var role = _node.Role;
        if (role != _lastRole || _node.Leader != _lastLeader)
        {
            OnLeadershipChanged(role);
        }

        ExpireRequests();

        // Read the clock every tick in every role, so a step is seen against a recent reading and a
        // follower that becomes leader stamps from a clock that has already taken its steps out.
        _ = _clock.NowMs();
        if (role == RaftRole.Leader && _leaderDutiesPending)
        {
            ProposeLeaderDuties();
        }
        else if (role == RaftRole.Leader && _stateMachine.AppliedIndex >= _dutyIndex)
        {
            ProposeDuties(_stateMachine.DueCommands(ClockNowMs()));
        }
    }

    private void OnLeadershipChanged(RaftRole role)
    {
        if (_node.Leader != _lastLeader && _node.Leader != 0)
        {
            _leaderChanges++;
            _metrics.LeaderChanges.Add(1);
            _logger.LogInformation("Silo {Node}: leader is now {Leader} in term {Term}", _node.Id, _node.Leader, _node.Term);
        }

        if (_node.Leader != _lastLeader && _readsAwaitingIndex.Count > 0)
        {
            // The leader that was to confirm these reads' index is gone (or this node was it): the
            // core dropped them, and they would only end at their timeout. A read is safe to retry.
            foreach (var read in _readsAwaitingIndex.Values.SelectMany(b => b.Reads))
            {
                read.Completion.TrySetException(new NotLeaderException(_node.Leader));
            }

            _readsAwaitingIndex.Clear();
        }

        // A new leader's duties stay due until proposed (a refused proposal is tried again each
        // round, before its requests, and nothing expires meanwhile: OnTick proposes no due
        // commands while they are).
        if (_lastRole == RaftRole.Leader && role != RaftRole.Leader)
        {
            // It led until now: if it leads again, the time without a leader counts from here.
            _lastLeaderContact = _time.GetTimestamp();
        }

        _leaderDutiesPending = role == RaftRole.Leader && (_lastRole != RaftRole.Leader || _leaderDutiesPending);
        _lastRole = role;
        _lastLeader = _node.Leader;
        if (_leaderDutiesPending)
        {
            ProposeLeaderDuties();
        }
    }

    private void ProposeLeaderDuties()
    {
        TimeSpan? leaderless = _lastLeaderContact == 0 ? null : _time.GetElapsedTime(_lastLeaderContact);
        if (ProposeDuties(_stateMachine.OnBecameLeader(leaderless)))
        {
            _leaderDutiesPending = false;
        }
    }

    /// <summary>Proposes the state machine's own commands (session extension, expiry) without a waiter; false when refused.</summary>
    private bool ProposeDuties(IEnumerable<byte[]> commands)
    {
        var now = ClockNowMs();
        var batch = commands.Select(c => EntryEnvelope.Wrap(0, now, c)).ToArray();
        if (batch.Length == 0)
        {
            return true;
        }

        if (_node.Propose(batch) != ProposalResult.Accepted)
        {
            return false;
        }

        _dutyIndex = _node.LastIndex;
        return true;
    }

    private void ExpireRequests()
    {
        var limit = _options.RequestTimeout;
        foreach (var (id, waiter) in _proposals.Where(p => p.Value.Completion.Task.IsCompleted || _time.GetElapsedTime(p.Value.Started) > limit).ToArray())
        {
            _proposals.Remove(id);
            waiter.Completion.TrySetException(new TimeoutException("the proposal was not applied in time; its outcome is unknown"));
        }

        foreach (var (id, batch) in _readsAwaitingIndex.Where(r => _time.GetElapsedTime(r.Value.Started) > limit).ToArray())
        {
            _readsAwaitingIndex.Remove(id);
            foreach (var read in batch.Reads)
            {
                read.Completion.TrySetException(new TimeoutException("the read index was not confirmed in time"));
            }
        }

        // A follower cut off from the leader after its read index was confirmed applies nothing more:
        // its reads would wait for as long as the partition lasts.
        foreach (var awaiting in _readsAwaitingApply.Where(r => _time.GetElapsedTime(r.Batch.Started) > limit).ToArray())
        {
            _readsAwaitingApply.Remove(awaiting);
            foreach (var read in awaiting.Batch.Reads)
            {
                read.Completion.TrySetException(new TimeoutException("the read index was confirmed, but this silo did not apply it in time"));
            }
        }

        if (_proposalAtIndex.Count > _proposals.Count * 2 + 1024)
        {
            foreach (var (index, id) in _proposalAtIndex.Where(p => !_proposals.ContainsKey(p.Value)).ToArray())
            {
                _proposalAtIndex.Remove(index);
            }
        }
    }

    private void ProcessReady()
    {
        for (var round = 0; round < ReadyRoundsPerLoopMax && _node.HasReady; round++)
        {
            var ready = _node.GetReady();

            // Committed entries are on a majority's disks already (a leader counts its own copy only
            // after its sync, RaftNode.Advance), so they are applied before this Ready's new entries
            // are written: an answer, a read or a watch notification does not wait for the sync of
            // later requests. A snapshot from the leader is installed before it is applied.
            var applyBeforePersist = ready.Snapshot is null;
            if (ready.MaySendBeforePersist)
            {
                // The leader: followers write while we write (the transport only queues here).
                Send(ready);
            }

            if (applyBeforePersist)
            {
                Apply(ready);
            }

            Persist(ready);
            if (!ready.MaySendBeforePersist)
            {
                Send(ready);
            }

            if (!applyBeforePersist)
            {
                Apply(ready);
            }

            _node.Advance(ready);
            MaybeSnapshot();
            if (ready.Role != _lastRole || ready.Leader != _lastLeader)
            {
                OnLeadershipChanged(ready.Role);
            }
        }
    }

    private void Send(Ready ready)
    {
        foreach (var message in ready.Messages)
        {
            _send(message);
        }
    }

    private void Persist(Ready ready)
    {
        if (!ready.MustSync)
        {
            return;
        }

        var started = Stopwatch.GetTimestamp();
        if (ready.Snapshot is { } snapshot)
        {
            _storage.InstallSnapshot(snapshot);
        }

        _storage.Save(ready.HardState, ready.Entries);
        _metrics.SyncSeconds.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    private void Apply(Ready ready)
    {
        if (ready.Snapshot is null && ready.CommittedEntries.Count == 0)
        {
            FinishReadsAndChanges(ready);
            return;
        }

        _stateLock.EnterWriteLock();
        try
        {
            ApplyCommitted(ready);
        }
        finally
        {
            _stateLock.ExitWriteLock();
        }

        // Answers go out once the state is open to readers again: a proposer's next stale read
        // then runs on its own thread instead of queueing on the loop.
        foreach (var (waiter, result) in _answers)
        {
            waiter.Completion.TrySetResult(result);
        }

        _answers.Clear();
        FinishReadsAndChanges(ready);

        // Wake watchers: swap first so a watcher that wakes and waits again gets the next batch.
        var applied0 = Interlocked.Exchange(ref _applied, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        applied0.TrySetResult();
    }

    /// <summary>Changes the state machine: the snapshot from the leader, then the committed entries (under the state's write lock).</summary>
    private void ApplyCommitted(Ready ready)
    {
        if (ready.Snapshot is { } snapshot)
        {
            _stateMachine.RestoreSnapshot(snapshot.Metadata.Index, snapshot.Data);
            (_lastSnapshotBytes, _appliedBytesSinceSnapshot) = (snapshot.Data.Length, 0);
            Volatile.Write(ref _appliedStampMax, Math.Max(_appliedStampMax, _stateMachine.LogTimeMs));

            // A snapshot from the leader covers the waiter's index: which entry was there is not
            // known here, so the change is reported as not made (the caller retries and finds out).
            FinishAppliedWaiters(w => w.Index <= snapshot.Metadata.Index && w.Term != snapshot.Metadata.Term, applied: false);
        }

        foreach (var entry in ready.CommittedEntries)
        {
            _appliedBytesSinceSnapshot += entry.SizeBytes;

            // The change's own entry has its term; any other entry at its index means it was overwritten.
            FinishAppliedWaiters(w => w.Index == entry.Index && w.Term != entry.Term, applied: false);

            if (entry.Kind != EntryKind.Normal)
            {
                _stateMachine.Skip(entry.Index);
                FailOverwrittenProposal(entry.Index, 0);
                continue;
            }

            var (id, timestamp, command) = EntryEnvelope.Unwrap(entry.Data);
            if (timestamp > _appliedStampMax)
            {
                Volatile.Write(ref _appliedStampMax, timestamp);
            }

            var result = _stateMachine.Apply(entry.Index, timestamp, command);
            FailOverwrittenProposal(entry.Index, id);
            if (id != 0 && _proposals.Remove(id, out var waiter))
            {
                _metrics.CommitSeconds.Record(_time.GetElapsedTime(waiter.Started).TotalSeconds);
                _answers.Add((waiter, result));
            }
        }
    }

    /// <summary>Linearizable reads whose index is confirmed and applied run now; membership changes applied are answered.</summary>
    private void FinishReadsAndChanges(Ready ready)
    {
        foreach (var read in ready.ReadStates)
        {
            if (_readsAwaitingIndex.Remove(read.RequestId, out var batch))
            {
                _readsAwaitingApply.Add((read.Index, batch));
            }
        }

        var applied = _stateMachine.AppliedIndex;
        if (_readsAwaitingApply.Count > 0)
        {
            foreach (var (index, batch) in _readsAwaitingApply.Where(r => r.Index <= applied).ToArray())
            {
                _readsAwaitingApply.Remove((index, batch));
                batch.Reads.ForEach(RunQuery);
            }
        }

        FinishAppliedWaiters(w => w.Index <= applied, applied: true);
    }

    private void FinishAppliedWaiters(Func<(ulong Index, ulong Term, TaskCompletionSource<bool> Done), bool> which, bool applied)
    {
        if (_appliedWaiters.Count == 0)
        {
            return;
        }

        var finished = _appliedWaiters.Where(which).ToArray();
        if (finished.Length > 0)
        {
            // A membership change is answered from Status (the cluster view): published first, or the
            // caller, woken on another thread, could read the round's old view without the change.
            _status = Snapshot();
        }

        foreach (var waiter in finished)
        {
            _appliedWaiters.Remove(waiter);
            waiter.Done.TrySetResult(applied);
        }
    }

    /// <summary>A proposal expected at <paramref name="index"/> that finds another entry there was overwritten by a new leader.</summary>
    private void FailOverwrittenProposal(ulong index, ulong appliedId)
    {
        if (_proposalAtIndex.Remove(index, out var expected) && expected != appliedId && _proposals.Remove(expected, out var lost))
        {
            lost.Completion.TrySetException(new ProposalDroppedException());
        }
    }

    private void MaybeSnapshot()
    {
        var applied = _stateMachine.AppliedIndex;
        if (applied < _storage.FirstIndex || applied - _storage.FirstIndex + 1 < _options.SnapshotEveryEntries
            || _appliedBytesSinceSnapshot < Math.Min(_lastSnapshotBytes, _options.SnapshotLogBytesMax))
        {
            return;
        }

        var data = _stateMachine.WriteSnapshot();
        (_lastSnapshotBytes, _appliedBytesSinceSnapshot) = (data.Length, 0);
        _storage.Compact(new SnapshotMetadata(applied, _storage.Term(applied), _node.MembershipAt(applied)), data);
        _logger.LogInformation("Silo {Node}: snapshot at {Index} ({Bytes} bytes), log compacted", _node.Id, applied, data.Length);
    }
}
