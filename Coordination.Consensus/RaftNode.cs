namespace Coordination.Consensus;

/// <summary>Why a proposal or request was not taken; the host answers its client accordingly.</summary>
public enum ProposalResult
{
    Accepted,

    /// <summary>This node is not the leader; <see cref="RaftNode.Leader"/> names the one it knows, if any.</summary>
    NotLeader,

    /// <summary>Leadership is being transferred; retry on the new leader.</summary>
    Transferring,

    /// <summary>A limit was reached (uncommitted entries, batch size, entry size, pending reads).</summary>
    LimitExceeded,

    /// <summary>A membership change is already pending, or the leader has not committed an entry of its term yet.</summary>
    MembershipChangePending,

    /// <summary>The requested membership change is not valid (unknown node, already a member, ...).</summary>
    InvalidMembershipChange,

    /// <summary>A learner may become a voter only once its log holds every committed entry.</summary>
    LearnerNotCaughtUp,

    /// <summary>The leadership transfer target is not another voter.</summary>
    InvalidTarget,
}

/// <summary>
/// Raft as a pure, synchronous state machine (after the design of etcd-io/raft): the host feeds it
/// messages (<see cref="Step"/>), time (<see cref="Tick"/>) and requests (<see cref="Propose(byte[])"/>,
/// <see cref="ReadIndex"/>, <see cref="ChangeMembership"/>, <see cref="TransferLeadership"/>), and carries
/// out its <see cref="Ready"/> batches. It performs no I/O, reads no clock and starts no thread; its
/// only randomness comes from the injected <see cref="IRandomSource"/>.
/// Not thread-safe: one thread drives a node.
/// </summary>
public sealed partial class RaftNode
{
    private readonly RaftOptions _options;
    private readonly IRandomSource _random;
    private readonly RaftLog _log;
    private List<Message> _outbox = [];
    private List<ReadState> _readStates = [];

    // Membership history: every membership entry in the log after the snapshot, oldest first.
    // The node always uses the latest one in its log, committed or not (dissertation §4.1).
    private readonly List<(ulong Index, Membership Membership)> _membershipEntries = [];
    private Membership _snapshotMembership;

    private HardState _persistedHardState;
    private ulong _handedOutCommitted;
    private bool _readyOutstanding;

    private int _electionElapsed;
    private int _heartbeatElapsed;
    private int _randomizedElectionTimeout;

    private ulong _leadTransferee;

    public RaftNode(RaftOptions options, ILogStorageReader storage, IRandomSource random)
    {
        _options = options.Validate();
        _random = random;
        _log = new RaftLog(storage);
        var hardState = storage.HardState;
        Term = hardState.Term;
        Vote = hardState.Vote;
        _persistedHardState = hardState;
        _handedOutCommitted = _log.Applied;
        _snapshotMembership = storage.Snapshot.Metadata.Membership;
        ScanMembership(storage.FirstIndex, storage.LastIndex);
        BecomeFollower(Term, 0);
    }

    /// <summary>This node's id.</summary>
    public ulong Id => _options.NodeId;

    public ulong Term { get; private set; }

    /// <summary>The node voted for in <see cref="Term"/>, or 0.</summary>
    public ulong Vote { get; private set; }

    public RaftRole Role { get; private set; }

    /// <summary>The leader of <see cref="Term"/> as far as this node knows, or 0.</summary>
    public ulong Leader { get; private set; }

    /// <summary>The membership in force: the latest in the log, committed or not.</summary>
    public Membership Membership => _membershipEntries.Count > 0 ? _membershipEntries[^1].Membership : _snapshotMembership;

    public ulong CommitIndex => _log.Committed;

    public ulong AppliedIndex => _log.Applied;

    public ulong LastIndex => _log.LastIndex;

    public ulong FirstIndex => _log.FirstIndex;

    /// <summary>
    /// True when this node may campaign: it is a voter in its latest membership, or that membership is
    /// not committed yet and removes it while the committed one still counts it. Dissertation §4.2.2:
    /// such a server "might still be needed until the Cnew entry is committed" — for instance when its
    /// log is the only one holding the change, the others cannot win without it.
    /// </summary>
    public bool IsPromotable =>
        Membership.IsVoter(Id)
        || (_membershipEntries.Count > 0 && _membershipEntries[^1].Index > _log.Committed && MembershipAt(_log.Committed).IsVoter(Id));

    /// <summary>The leader's view of a member's replication, for diagnostics; null when not leader.</summary>
    public (ulong Match, ulong Next, ReplicationState State)? ProgressOf(ulong id) =>
        Role == RaftRole.Leader && _progress.TryGetValue(id, out var pr) ? (pr.Match, pr.Next, pr.State) : null;

    /// <summary>The term of the entry at <paramref name="index"/> in this node's log (stable or not), or null. For checkers.</summary>
    internal ulong? TermAt(ulong index) => _log.Term(index);

    /// <summary>The membership in force at <paramref name="index"/>: what a snapshot taken there must record.</summary>
    public Membership MembershipAt(ulong index)
    {
        for (var i = _membershipEntries.Count - 1; i >= 0; i--)
        {
            if (_membershipEntries[i].Index <= index)
            {
                return _membershipEntries[i].Membership;
            }
        }

        return _snapshotMembership;
    }

    /// <summary>
    /// Writes the initial log of a brand-new cluster: one membership entry at index 1, term 1,
    /// committed by construction. Every founding member must be bootstrapped with the same members;
    /// a node that joins later starts empty and learns the log from the leader.
    /// </summary>
    public static void Bootstrap(ILogStorage storage, Membership members)
    {
        Invariant.Require(storage.LastIndex == 0 && storage.HardState.Term == 0, "only an empty log can be bootstrapped");
        Invariant.Require(members.Voters.Count > 0, "a cluster needs at least one voter");
        storage.Save(new HardState(1, 0, 1), [new LogEntry(1, 1, EntryKind.Membership, members.Encode())]);
    }

    /// <summary>
    /// Advances logical time by one tick: followers and candidates count towards an election,
    /// leaders towards heartbeats and the check-quorum period.
    /// </summary>
    public void Tick()
    {
        if (Role == RaftRole.Leader)
        {
            TickLeader();
        }
        else
        {
            TickElection();
        }
    }

    /// <summary>
    /// Election timeouts a learner waits, on top of its randomized one, before it campaigns as a last
    /// resort (see <see cref="ElectionTimeoutNow"/>): voters campaign within two, so they win first
    /// whenever they can.
    /// </summary>
    private const int LearnerCampaignExtraTimeouts = 3;

    /// <summary>
    /// Ticks without a leader after which this node campaigns. A voter (or a node removed by an
    /// uncommitted change, see <see cref="IsPromotable"/>): its randomized timeout. A learner: much
    /// later, as a last resort, because its log may be the one the voters need. Found by the
    /// simulator (seed 1166087876406729299): voter 3's disk was lost for good; voter 1 held an
    /// uncommitted "promote learner 4" from an old term, so it needed 4's vote, which 4 refused
    /// (its log held a newer term); voter 2 was behind voter 1 and so refused by it; and 4 would not
    /// campaign, being a learner in its own log. No leader could ever be elected. Elected, a learner
    /// leads only until its first entry commits (voters' logs then match its own) and steps down.
    /// Its votes come only from the voters of its membership, as any candidate's.
    /// </summary>
    private int ElectionTimeoutNow =>
        IsPromotable ? _randomizedElectionTimeout
        : Membership.IsLearner(Id) ? _randomizedElectionTimeout + LearnerCampaignExtraTimeouts * _options.ElectionTicks
        : int.MaxValue;

    private void TickElection()
    {
        _electionElapsed++;
        if (_electionElapsed >= ElectionTimeoutNow)
        {
            _electionElapsed = 0;
            Campaign(_options.PreVote ? CampaignKind.PreElection : CampaignKind.Election);
        }
    }

    /// <summary>Starts an election now (as a timeout would); ignored by a leader or a non-voter.</summary>
    public void Campaign()
    {
        if (Role != RaftRole.Leader && IsPromotable)
        {
            Campaign(_options.PreVote ? CampaignKind.PreElection : CampaignKind.Election);
        }
    }

    /// <summary>
    /// Handles a message from another node. First settles the term (Raft §5.1: a higher term makes
    /// this node a follower; a lower one is rejected), then dispatches to the current role.
    /// Malformed messages are dropped.
    /// </summary>
    public void Step(Message m)
    {
        if (m.To != Id || m.From == Id || m.From == 0 || !IsWellFormed(m))
        {
            return;
        }

        if (m.Term > Term)
        {
            if (m.Kind is MessageKind.Vote or MessageKind.PreVote)
            {
                // Leader stickiness (dissertation §9.6 with CheckQuorum): while this node hears from a
                // live leader it ignores campaigns, unless the leader itself asked for one (transfer).
                var forced = m.Context == Message.TransferElection;
                var inLease = _options.CheckQuorum && Leader != 0 && _electionElapsed < _options.ElectionTicks;
                if (!forced && inLease)
                {
                    return;
                }
            }

            if (m.Kind == MessageKind.PreVote || (m.Kind == MessageKind.PreVoteResponse && !m.Reject))
            {
                // A pre-vote never changes terms: the term in it is only the one the sender hopes for.
            }
            else if (m.Kind is MessageKind.Append or MessageKind.Heartbeat or MessageKind.InstallSnapshot)
            {
                BecomeFollower(m.Term, m.From);
            }
            else
            {
                BecomeFollower(m.Term, 0);
            }
        }
        else if (m.Term < Term)
        {
            if ((_options.CheckQuorum || _options.PreVote) && m.Kind is MessageKind.Append or MessageKind.Heartbeat)
            {
                // A stale leader (partitioned, or paused) learns of the newer term and steps down.
                // Without this, pre-vote could leave it and a node with a higher term both stuck.
                Send(new Message { Kind = MessageKind.AppendResponse, From = Id, To = m.From, Term = Term });
            }
            else if (m.Kind == MessageKind.PreVote)
            {
                Send(new Message { Kind = MessageKind.PreVoteResponse, From = Id, To = m.From, Term = Term, Reject = true });
            }

            return;
        }

        switch (m.Kind)
        {
            case MessageKind.Vote or MessageKind.PreVote:
                HandleVoteRequest(m);
                return;
        }

        switch (Role)
        {
            case RaftRole.Leader:
                StepLeader(m);
                break;
            case RaftRole.Candidate or RaftRole.PreCandidate:
                StepCandidate(m);
                break;
            default:
                StepFollower(m);
                break;
        }
    }

    private static bool IsWellFormed(Message m)
    {
        if (m.Kind is < MessageKind.PreVote or > MessageKind.ReadIndexResponse)
        {
            return false;
        }

        if (m.Kind == MessageKind.Append)
        {
            for (var i = 0; i < m.Entries.Count; i++)
            {
                var entry = m.Entries[i];
                if (entry.Index != m.Index + 1 + (ulong)i || entry.Term > m.Term || (i > 0 && entry.Term < m.Entries[i - 1].Term) || entry.Data is null)
                {
                    return false;
                }
            }
        }

        return m.Kind != MessageKind.InstallSnapshot || m.Snapshot is { IsEmpty: false };
    }

    private void HandleVoteRequest(Message m)
    {
        // Raft §5.2/§5.4.1: one vote per term, only for a log at least as up to date as ours.
        // A pre-vote may be granted for a future term without having voted in it.
        var canVote = Vote == m.From
            || (Vote == 0 && Leader == 0)
            || (m.Kind == MessageKind.PreVote && m.Term > Term);
        var responseKind = m.Kind == MessageKind.Vote ? MessageKind.VoteResponse : MessageKind.PreVoteResponse;
        if (canVote && _log.IsUpToDate(m.Index, m.LogTerm))
        {
            // The response carries the requested term so the candidate counts it; for a real vote
            // that is our own term by now.
            Send(new Message { Kind = responseKind, From = Id, To = m.From, Term = m.Term });
            if (m.Kind == MessageKind.Vote)
            {
                _electionElapsed = 0;
                Vote = m.From;
            }
        }
        else
        {
            Send(new Message { Kind = responseKind, From = Id, To = m.From, Term = Term, Reject = true });
        }
    }

    /// <summary>Proposes one entry of application data. Only a leader accepts.</summary>
    public ProposalResult Propose(byte[] data) => Propose([data]);

    /// <summary>Proposes a batch of entries, appended together and replicated in one message per follower.</summary>
    public ProposalResult Propose(IReadOnlyList<byte[]> batch)
    {
        if (batch.Count == 0)
        {
            return ProposalResult.Accepted;
        }

        if (batch.Count > _options.ProposalBatchMax)
        {
            return ProposalResult.LimitExceeded;
        }

        foreach (var data in batch)
        {
            if (data.Length > _options.EntryBytesMax)
            {
                return ProposalResult.LimitExceeded;
            }
        }

        return ProposeEntries(batch.Count, i => (EntryKind.Normal, batch[i]));
    }

    /// <summary>
    /// Requests a linearizable read (dissertation §6.4). When leadership at the current commit index is
    /// confirmed by a quorum, a <see cref="ReadState"/> with <paramref name="requestId"/> appears in a
    /// Ready. A request is lost, never answered late, if leadership changes first: the host retries.
    /// </summary>
    public ProposalResult ReadIndex(ulong requestId)
    {
        if (Role == RaftRole.Leader)
        {
            return LeaderReadIndex(Id, requestId);
        }

        if (Leader == 0)
        {
            return ProposalResult.NotLeader;
        }

        Send(new Message { Kind = MessageKind.ReadIndex, From = Id, To = Leader, Term = Term, Context = requestId });
        return ProposalResult.Accepted;
    }

    /// <summary>True when <see cref="GetReady"/> has something for the host.</summary>
    public bool HasReady =>
        _outbox.Count > 0 || _readStates.Count > 0 || _log.UnstableEntries.Count > 0 || _log.UnstableSnapshot is not null
        || Term != _persistedHardState.Term || Vote != _persistedHardState.Vote || _log.Committed > _handedOutCommitted;

    // The commit index is not compared with the persisted one: alone it is never synced (see
    // GetReady), so it may stay ahead of disk for good, and a Ready for it would be an empty one
    // handed out again and again (an idle leader once spun through 25,000 a second).

    private HardState CurrentHardState => new(Term, Vote, _log.Committed);

    /// <summary>Collects what the host must persist, send and apply. Call <see cref="Advance"/> when done.</summary>
    public Ready GetReady()
    {
        Invariant.Require(!_readyOutstanding, "GetReady called again before Advance");
        _readyOutstanding = true;
        var hardState = CurrentHardState;
        var committed = _log.NextCommittedEntries(_handedOutCommitted, _options.CommittedBytesPerReadyMax);
        var entries = _log.UnstableEntries.ToArray();
        var termOrVoteChanged = hardState.Term != _persistedHardState.Term || hardState.Vote != _persistedHardState.Vote;
        var ready = new Ready
        {
            // The commit index alone is not worth a sync (Raft keeps it in memory; a restarted node
            // learns it again): it rides along when the term, the vote or entries are written anyway.
            HardState = hardState != _persistedHardState && (termOrVoteChanged || entries.Length > 0 || _log.UnstableSnapshot is not null) ? hardState : null,
            Entries = entries,
            Snapshot = _log.UnstableSnapshot,
            Messages = _outbox,
            CommittedEntries = committed,
            ReadStates = _readStates,
            Role = Role,
            Leader = Leader,
            Term = Term,
            TermAndVoteDurable = hardState.Term == _persistedHardState.Term && hardState.Vote == _persistedHardState.Vote,
        };
        _outbox = [];
        _readStates = [];
        if (committed.Count > 0)
        {
            _handedOutCommitted = committed[^1].Index;
        }
        else if (ready.Snapshot is { } snapshot)
        {
            _handedOutCommitted = Math.Max(_handedOutCommitted, snapshot.Metadata.Index);
        }

        return ready;
    }

    /// <summary>
    /// Tells the node the host has persisted, sent and applied <paramref name="ready"/>. A leader
    /// counts its own copy of entries towards commitment only now, after its own sync.
    /// </summary>
    public void Advance(Ready ready)
    {
        Invariant.Require(_readyOutstanding, "Advance without a Ready");
        _readyOutstanding = false;
        if (ready.HardState is { } hardState)
        {
            _persistedHardState = hardState;
        }

        if (ready.Snapshot is { } snapshot)
        {
            _log.StableSnapshotTo(snapshot.Metadata.Index);
        }

        if (ready.Entries.Count > 0)
        {
            var last = ready.Entries[^1];
            _log.StableTo(last.Index, last.Term);
        }

        if (ready.CommittedEntries.Count > 0)
        {
            _log.AppliedTo(ready.CommittedEntries[^1].Index);
        }

        if (Role == RaftRole.Leader && _progress.TryGetValue(Id, out var self) && self.MaybeUpdate(_log.StableLastIndex))
        {
            MaybeCommitAndBroadcast();
        }
    }

    private void Send(Message m)
    {
        // The outbox is bounded: a host that stops collecting is a bug, and messages are droppable,
        // so beyond the limit the newest are dropped (Raft tolerates loss) rather than growing forever.
        if (_outbox.Count < _options.OutboxMessagesMax)
        {
            _outbox.Add(m);
        }
    }

    /// <summary>Rebuilds the membership history from stored entries (at start).</summary>
    private void ScanMembership(ulong first, ulong last)
    {
        if (first > last)
        {
            return;
        }

        const long scanBytes = 4 << 20;
        for (var index = first; index <= last;)
        {
            var entries = _log.Entries(index, last + 1, scanBytes) ?? [];
            Invariant.Require(entries.Count > 0, "a stored log must be readable at start");
            NoteMembershipEntries(entries);
            index = entries[^1].Index + 1;
        }
    }

    private void NoteMembershipEntries(IReadOnlyList<LogEntry> entries)
    {
        foreach (var entry in entries)
        {
            if (entry.Kind == EntryKind.Membership)
            {
                _membershipEntries.Add((entry.Index, Membership.Decode(entry.Data)));
            }
        }
    }

    /// <summary>Appends to the log and keeps the membership history in step (truncation reverts it).</summary>
    private void AppendToLog(IReadOnlyList<LogEntry> entries)
    {
        if (entries.Count == 0)
        {
            return;
        }

        var before = Membership;
        var first = entries[0].Index;
        _membershipEntries.RemoveAll(e => e.Index >= first);
        _log.Append(entries);
        NoteMembershipEntries(entries);
        if (!before.Equals(Membership))
        {
            OnMembershipChanged();
        }
    }

    private void RestoreSnapshot(Snapshot snapshot)
    {
        var before = Membership;
        _log.Restore(snapshot);
        _membershipEntries.Clear();
        _snapshotMembership = snapshot.Metadata.Membership;
        if (!before.Equals(Membership))
        {
            OnMembershipChanged();
        }
    }

    private void ResetRandomizedElectionTimeout() =>
        _randomizedElectionTimeout = _random.Next(_options.ElectionTicks, 2 * _options.ElectionTicks);

    private void Reset(ulong term)
    {
        if (Term != term)
        {
            Term = term;
            Vote = 0;
        }

        Leader = 0;
        _electionElapsed = 0;
        _heartbeatElapsed = 0;
        _leadTransferee = 0;
        ResetRandomizedElectionTimeout();
        _progress.Clear();
        _pendingReads.Clear();
        _readsAwaitingCommit.Clear();
    }

    private void BecomeFollower(ulong term, ulong leader)
    {
        Reset(term);
        Role = RaftRole.Follower;
        Leader = leader;
    }
}
