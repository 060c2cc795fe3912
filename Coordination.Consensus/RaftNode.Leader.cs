namespace Coordination.Consensus;

/// <summary>The kinds of one-server membership change (dissertation §4.1).</summary>
public enum MembershipChangeKind
{
    /// <summary>Add a node that receives the log but neither votes nor counts in a quorum.</summary>
    AddLearner,

    /// <summary>Make a caught-up learner a voter.</summary>
    PromoteLearner,

    /// <summary>Remove a voter or a learner. A leader that removes itself steps down once the change commits.</summary>
    RemoveMember,
}

public sealed partial class RaftNode
{
    // Per-member replication state, only on the leader. Sorted so iteration order is deterministic.
    private readonly SortedDictionary<ulong, Progress> _progress = [];

    // Read-index requests in the order they arrived, each waiting for a quorum to confirm its round.
    private readonly Queue<PendingRead> _pendingReads = new();

    // Read-index requests that arrived before this leader committed an entry of its term.
    private readonly List<(ulong From, ulong RequestId)> _readsAwaitingCommit = [];
    private ulong _readRound;

    private readonly record struct PendingRead(ulong From, ulong RequestId, ulong Index, ulong Round);

    /// <summary>The node leadership is being transferred to, or 0.</summary>
    public ulong LeadTransferee => _leadTransferee;

    private void BecomeLeader()
    {
        Invariant.Require(Role == RaftRole.Candidate, "only a candidate becomes leader");
        Reset(Term);
        Role = RaftRole.Leader;
        Leader = Id;
        foreach (var member in Membership.All)
        {
            AddProgress(member);
        }

        // A leader elected while its latest (uncommitted) membership removes it still tracks itself:
        // it does not count towards commitment, and it steps down once the removal commits.
        if (!_progress.ContainsKey(Id))
        {
            AddProgress(Id);
        }

        _progress[Id].MaybeUpdate(_log.StableLastIndex);

        // Raft §5.4.2 / §8: a leader commits entries of earlier terms only by committing one of its own,
        // so it starts its term with an empty entry.
        AppendToLog([new LogEntry(_log.LastIndex + 1, Term, EntryKind.NoOp, [])]);
        BroadcastAppend();
    }

    private void AddProgress(ulong member)
    {
        var pr = new Progress(_log.LastIndex + 1, _options.InflightAppendsMax) { RecentActive = true };
        if (member == Id)
        {
            pr.BecomeReplicate();
        }

        _progress[member] = pr;
    }

    private void OnMembershipChanged()
    {
        if (Role != RaftRole.Leader)
        {
            return;
        }

        var members = Membership;
        foreach (var member in members.All)
        {
            if (!_progress.ContainsKey(member))
            {
                AddProgress(member);
            }
        }

        foreach (var stale in _progress.Keys.Where(id => !members.Contains(id) && id != Id).ToArray())
        {
            _progress.Remove(stale);
        }

        if (_leadTransferee != 0 && !members.IsVoter(_leadTransferee))
        {
            _leadTransferee = 0;
        }
    }

    private void TickLeader()
    {
        _heartbeatElapsed++;
        _electionElapsed++;
        if (_electionElapsed >= _options.ElectionTicks)
        {
            _electionElapsed = 0;
            if (_options.CheckQuorum && !IsQuorumActive())
            {
                // Raft §6.2 / dissertation §9.6: a leader cut off from a quorum steps down, so clients
                // stop waiting on it and its lease-based stickiness lapses.
                BecomeFollower(Term, 0);
                return;
            }

            foreach (var (id, pr) in _progress)
            {
                pr.RecentActive = id == Id;
            }

            // A transfer that did not complete within an election timeout is abandoned.
            _leadTransferee = 0;
        }

        foreach (var (id, pr) in _progress)
        {
            if (id != Id && pr.State == ReplicationState.Snapshot && ++pr.SnapshotElapsedTicks >= _options.SnapshotRetryTicks)
            {
                // The snapshot or its acknowledgement was lost: probe again, which resends it if still needed.
                pr.BecomeProbe();
                SendAppend(id);
            }
        }

        if (_heartbeatElapsed >= _options.HeartbeatTicks)
        {
            _heartbeatElapsed = 0;
            BroadcastHeartbeat();
        }
    }

    private bool IsQuorumActive()
    {
        var active = 0;
        foreach (var voter in Membership.Voters)
        {
            if (voter == Id || (_progress.TryGetValue(voter, out var pr) && pr.RecentActive))
            {
                active++;
            }
        }

        return active >= Membership.Quorum;
    }

    private void StepLeader(Message m)
    {
        switch (m.Kind)
        {
            case MessageKind.AppendResponse:
                HandleAppendResponse(m);
                break;
            case MessageKind.HeartbeatResponse:
                HandleHeartbeatResponse(m);
                break;
            case MessageKind.ReadIndex:
                // A follower's request; refusals are silent and the follower's host retries.
                LeaderReadIndex(m.From, m.Context);
                break;
        }
    }

    private ProposalResult ProposeEntries(int count, Func<int, (EntryKind Kind, byte[] Data)> entryAt)
    {
        if (Role != RaftRole.Leader)
        {
            return ProposalResult.NotLeader;
        }

        if (_leadTransferee != 0)
        {
            return ProposalResult.Transferring;
        }

        if (_log.LastIndex - _log.Committed + (ulong)count > (ulong)_options.UncommittedEntriesMax)
        {
            return ProposalResult.LimitExceeded;
        }

        var entries = new LogEntry[count];
        var next = _log.LastIndex + 1;
        for (var i = 0; i < count; i++)
        {
            var (kind, data) = entryAt(i);
            entries[i] = new LogEntry(next + (ulong)i, Term, kind, data);
        }

        AppendToLog(entries);
        BroadcastAppend();
        return ProposalResult.Accepted;
    }

    /// <summary>
    /// Proposes a one-server membership change. Refused while another change is uncommitted or
    /// before this leader has committed an entry of its own term (the dissertation's single-server
    /// change rule, with the fix from the raft-dev list, 2015); a learner is promoted only once its
    /// log holds every committed entry.
    /// </summary>
    public ProposalResult ChangeMembership(MembershipChangeKind kind, ulong node)
    {
        if (Role != RaftRole.Leader)
        {
            return ProposalResult.NotLeader;
        }

        if ((_membershipEntries.Count > 0 && _membershipEntries[^1].Index > _log.Committed) || _log.Term(_log.Committed) != Term)
        {
            return ProposalResult.MembershipChangePending;
        }

        var current = Membership;
        Membership next;
        switch (kind)
        {
            case MembershipChangeKind.AddLearner when node != 0 && !current.Contains(node) && current.Voters.Count + current.Learners.Count < Membership.MembersMax:
                next = current.AddLearner(node);
                break;
            case MembershipChangeKind.PromoteLearner when current.IsLearner(node):
                if (!_progress.TryGetValue(node, out var pr) || pr.Match < _log.Committed)
                {
                    return ProposalResult.LearnerNotCaughtUp;
                }

                next = current.Promote(node);
                break;
            case MembershipChangeKind.RemoveMember when current.Contains(node) && !(current.IsVoter(node) && current.Voters.Count == 1):
                next = current.Remove(node);
                break;
            default:
                return ProposalResult.InvalidMembershipChange;
        }

        var data = next.Encode();
        return ProposeEntries(1, _ => (EntryKind.Membership, data));
    }

    /// <summary>
    /// Hands leadership to <paramref name="target"/> (dissertation §3.10): proposals stop, the target is
    /// brought up to date and told to campaign at once. Abandoned after an election timeout.
    /// </summary>
    public ProposalResult TransferLeadership(ulong target)
    {
        if (Role != RaftRole.Leader)
        {
            return ProposalResult.NotLeader;
        }

        if (target == Id || !Membership.IsVoter(target))
        {
            return ProposalResult.InvalidTarget;
        }

        if (_leadTransferee == target)
        {
            return ProposalResult.Accepted;
        }

        _leadTransferee = target;
        _electionElapsed = 0;
        if (_progress[target].Match == _log.LastIndex)
        {
            SendTimeoutNow(target);
        }
        else
        {
            SendAppend(target);
        }

        return ProposalResult.Accepted;
    }

    private void SendTimeoutNow(ulong target) =>
        Send(new Message { Kind = MessageKind.TimeoutNow, From = Id, To = target, Term = Term });

    private void HandleAppendResponse(Message m)
    {
        if (!_progress.TryGetValue(m.From, out var pr))
        {
            return;
        }

        pr.RecentActive = true;
        if (m.Reject)
        {
            var hint = m.LogTerm > 0 ? _log.FindConflictByTerm(m.RejectHint, m.LogTerm) : m.RejectHint;
            if (pr.MaybeDecreaseTo(m.Index, hint))
            {
                if (pr.State == ReplicationState.Replicate)
                {
                    pr.BecomeProbe();
                }

                SendAppend(m.From);
            }

            return;
        }

        var wasPaused = pr.IsPaused;
        if (!pr.MaybeUpdate(m.Index))
        {
            return;
        }

        switch (pr.State)
        {
            case ReplicationState.Probe:
                pr.BecomeReplicate();
                break;
            case ReplicationState.Snapshot when pr.Match >= pr.PendingSnapshot:
                pr.BecomeProbe();
                pr.BecomeReplicate();
                break;
            case ReplicationState.Replicate:
                pr.Inflights.FreeLessOrEqual(m.Index);
                break;
        }

        if (!MaybeCommitAndBroadcast() && wasPaused)
        {
            SendAppend(m.From);
        }

        if (Role == RaftRole.Leader)
        {
            SendAppendsWhileUnpaused(m.From);
        }

        if (Role == RaftRole.Leader && m.From == _leadTransferee && pr.Match == _log.LastIndex)
        {
            SendTimeoutNow(m.From);
        }
    }

    private void HandleHeartbeatResponse(Message m)
    {
        if (!_progress.TryGetValue(m.From, out var pr))
        {
            return;
        }

        pr.RecentActive = true;
        pr.ProbeSent = false;
        if (pr.Match < _log.LastIndex)
        {
            if (pr.State == ReplicationState.Replicate && pr.Match == pr.MatchAtLastHeartbeat)
            {
                // No progress over a whole heartbeat interval while entries are outstanding: appends
                // were lost. Probe again from the last known match.
                pr.BecomeProbe();
            }

            // Even with nothing new to send (Next past the end), an empty append probes: a lost
            // probe is retried here, not only when the next proposal arrives.
            SendAppend(m.From, sendIfEmpty: true);
        }

        pr.MatchAtLastHeartbeat = pr.Match;
        if (m.Context > pr.ReadRoundAcked)
        {
            pr.ReadRoundAcked = m.Context;
            ReleaseConfirmedReads();
        }
    }

    /// <summary>Sends the next append (or a snapshot) to a member; returns false when nothing was sent.</summary>
    private bool SendAppend(ulong to, bool sendIfEmpty = false)
    {
        var pr = _progress[to];
        if (pr.IsPaused)
        {
            return false;
        }

        var prevIndex = Math.Min(pr.Next, _log.LastIndex + 1) - 1;
        var prevTerm = _log.Term(prevIndex);
        var entries = prevTerm is null ? null : _log.Entries(prevIndex + 1, _log.LastIndex + 1, _options.AppendBytesMax);
        if (prevTerm is null || entries is null)
        {
            return SendSnapshot(to, pr);
        }

        if (entries.Count == 0 && !sendIfEmpty)
        {
            return false;
        }

        Send(new Message
        {
            Kind = MessageKind.Append,
            From = Id,
            To = to,
            Term = Term,
            Index = prevIndex,
            LogTerm = prevTerm.Value,
            Entries = entries,
            Commit = _log.Committed,
        });
        pr.SentEntries(entries.Count, entries.Count > 0 ? entries[^1].Index : prevIndex);
        return true;
    }

    private bool SendSnapshot(ulong to, Progress pr)
    {
        if (!pr.RecentActive)
        {
            // Snapshots are large: send only to a member that answers.
            return false;
        }

        var snapshot = _log.Snapshot;
        Invariant.Require(!snapshot.IsEmpty, "entries were compacted without a snapshot to replace them");
        pr.BecomeSnapshot(snapshot.Metadata.Index);
        Send(new Message { Kind = MessageKind.InstallSnapshot, From = Id, To = to, Term = Term, Snapshot = snapshot });
        return true;
    }

    /// <summary>
    /// Sends an append (an empty one carries the commit index) to every member, and keeps sending
    /// to members that are replicating until their pipeline is full or they have everything.
    /// </summary>
    private void BroadcastAppend()
    {
        foreach (var member in _progress.Keys)
        {
            if (member != Id && SendAppend(member, sendIfEmpty: true))
            {
                SendAppendsWhileUnpaused(member);
            }
        }
    }

    /// <summary>Pipelines appends to a member until it is paused (in-flight limit, probing) or caught up.</summary>
    private void SendAppendsWhileUnpaused(ulong member)
    {
        for (var sends = 0; sends < _options.InflightAppendsMax && SendAppend(member); sends++)
        {
        }
    }

    private void BroadcastHeartbeat()
    {
        foreach (var (member, pr) in _progress)
        {
            if (member != Id)
            {
                Send(new Message
                {
                    Kind = MessageKind.Heartbeat,
                    From = Id,
                    To = member,
                    Term = Term,
                    Commit = Math.Min(pr.Match, _log.Committed),
                    Context = _readRound,
                });
            }
        }
    }

    /// <summary>Raft §5.3/§5.4.2: commit the highest index stored on a quorum of voters, if it is of this term.</summary>
    private bool MaybeCommit()
    {
        var voters = Membership.Voters;
        if (voters.Count == 0)
        {
            return false;
        }

        var matches = new ulong[voters.Count];
        var i = 0;
        foreach (var voter in voters)
        {
            matches[i++] = _progress.TryGetValue(voter, out var pr) ? pr.Match : 0;
        }

        Array.Sort(matches);
        var quorumMatch = matches[voters.Count - Membership.Quorum];
        if (quorumMatch <= _log.Committed || _log.Term(quorumMatch) != Term)
        {
            return false;
        }

        _log.CommitTo(quorumMatch);
        return true;
    }

    private bool MaybeCommitAndBroadcast()
    {
        if (!MaybeCommit())
        {
            return false;
        }

        BroadcastAppend();
        if (_readsAwaitingCommit.Count > 0)
        {
            var waiting = _readsAwaitingCommit.ToArray();
            _readsAwaitingCommit.Clear();
            foreach (var (from, requestId) in waiting)
            {
                LeaderReadIndex(from, requestId);
            }
        }

        if (!Membership.IsVoter(Id) && (_membershipEntries.Count == 0 || _membershipEntries[^1].Index <= _log.Committed))
        {
            // Dissertation §4.2.2: a leader removed from the cluster steps down once the change is
            // committed; a learner elected as a last resort (ElectionTimeoutNow), once its first entry is.
            // First it tells the most caught-up voter to campaign at once, as a transfer does
            // (§3.10), so the cluster is not leaderless for an election timeout; should that message
            // be lost, the voters time out as they would have.
            if (MostCaughtUpVoter() is { } successor)
            {
                SendTimeoutNow(successor);
            }

            BecomeFollower(Term, 0);
        }

        return true;
    }

    /// <summary>
    /// The voter to hand leadership to, if it holds every committed entry: the one a transfer already
    /// targets (a second forced campaign would split the votes), else the one with the longest log as
    /// far as this leader knows (the lowest id of equals); else null.
    /// </summary>
    private ulong? MostCaughtUpVoter()
    {
        if (_leadTransferee != 0 && _leadTransferee != Id && Membership.IsVoter(_leadTransferee)
            && _progress.TryGetValue(_leadTransferee, out var target) && target.Match >= _log.Committed)
        {
            return _leadTransferee;
        }

        ulong? best = null;
        ulong bestMatch = 0;
        foreach (var voter in Membership.Voters)
        {
            if (voter != Id && _progress.TryGetValue(voter, out var pr) && pr.Match >= _log.Committed
                && (best is null || pr.Match > bestMatch || (pr.Match == bestMatch && voter < best)))
            {
                (best, bestMatch) = (voter, pr.Match);
            }
        }

        return best;
    }

    private ProposalResult LeaderReadIndex(ulong from, ulong requestId)
    {
        if (_leadTransferee != 0)
        {
            return ProposalResult.Transferring;
        }

        if (_pendingReads.Count + _readsAwaitingCommit.Count >= _options.ReadIndexPendingMax)
        {
            return ProposalResult.LimitExceeded;
        }

        if (_log.Term(_log.Committed) != Term)
        {
            // Dissertation §6.4 step 1: until it commits an entry of its term, a new leader does not
            // know the latest commit index.
            _readsAwaitingCommit.Add((from, requestId));
            return ProposalResult.Accepted;
        }

        if (Membership.Voters.Count == 1 && Membership.IsVoter(Id))
        {
            DeliverRead(from, requestId, _log.Committed);
            return ProposalResult.Accepted;
        }

        // Step 2-3: record the commit index, then confirm leadership with a fresh heartbeat round.
        _readRound++;
        _pendingReads.Enqueue(new PendingRead(from, requestId, _log.Committed, _readRound));
        BroadcastHeartbeat();
        return ProposalResult.Accepted;
    }

    private void ReleaseConfirmedReads()
    {
        while (_pendingReads.TryPeek(out var read))
        {
            var acks = 0;
            foreach (var voter in Membership.Voters)
            {
                if (voter == Id || (_progress.TryGetValue(voter, out var pr) && pr.ReadRoundAcked >= read.Round))
                {
                    acks++;
                }
            }

            if (acks < Membership.Quorum)
            {
                return;
            }

            _pendingReads.Dequeue();
            DeliverRead(read.From, read.RequestId, read.Index);
        }
    }

    private void DeliverRead(ulong from, ulong requestId, ulong index)
    {
        if (from == Id)
        {
            _readStates.Add(new ReadState(index, requestId));
        }
        else
        {
            Send(new Message { Kind = MessageKind.ReadIndexResponse, From = Id, To = from, Term = Term, Index = index, Context = requestId });
        }
    }
}
