namespace Coordination.Consensus;

public sealed partial class RaftNode
{
    private enum CampaignKind
    {
        /// <summary>Ask whether an election could be won before disrupting anyone (dissertation §9.6).</summary>
        PreElection,

        /// <summary>A real election: increment the term and vote for self (Raft §5.2).</summary>
        Election,

        /// <summary>An election the leader asked for (TimeoutNow): voters ignore their leader lease.</summary>
        Transfer,
    }

    // Votes received in the current (pre-)election; true = granted. Keyed by voter id.
    private readonly SortedDictionary<ulong, bool> _votes = [];

    private void Campaign(CampaignKind kind)
    {
        // A learner campaigns only when its own long timeout says so (TickElection), never for a transfer.
        if (!IsPromotable && !(Membership.IsLearner(Id) && kind != CampaignKind.Transfer))
        {
            return;
        }

        MessageKind requestKind;
        ulong requestTerm;
        if (kind == CampaignKind.PreElection)
        {
            BecomePreCandidate();
            requestKind = MessageKind.PreVote;
            requestTerm = Term + 1;
        }
        else
        {
            BecomeCandidate();
            requestKind = MessageKind.Vote;
            requestTerm = Term;
        }

        if (RecordVote(Id, granted: true) == VoteOutcome.Won)
        {
            // A single voter wins at once.
            WinElection();
            return;
        }

        foreach (var voter in Membership.Voters)
        {
            if (voter == Id)
            {
                continue;
            }

            Send(new Message
            {
                Kind = requestKind,
                From = Id,
                To = voter,
                Term = requestTerm,
                Index = _log.LastIndex,
                LogTerm = _log.LastTerm,
                Context = kind == CampaignKind.Transfer ? Message.TransferElection : 0,
            });
        }
    }

    private void BecomePreCandidate()
    {
        Invariant.Require(Role != RaftRole.Leader, "a leader does not pre-campaign");

        // A pre-candidate keeps its term and vote: nothing changes until a real election.
        Role = RaftRole.PreCandidate;
        Leader = 0;
        _votes.Clear();
    }

    private void BecomeCandidate()
    {
        Invariant.Require(Role != RaftRole.Leader, "a leader does not campaign");
        Reset(Term + 1);
        Vote = Id;
        Role = RaftRole.Candidate;
        _votes.Clear();
    }

    private void WinElection()
    {
        if (Role == RaftRole.PreCandidate)
        {
            Campaign(CampaignKind.Election);
        }
        else
        {
            BecomeLeader();
        }
    }

    private enum VoteOutcome
    {
        Pending,
        Won,
        Lost,
    }

    private VoteOutcome RecordVote(ulong from, bool granted)
    {
        if (!Membership.IsVoter(from))
        {
            return VoteOutcome.Pending;
        }

        _votes.TryAdd(from, granted);
        var yes = _votes.Values.Count(v => v);
        var no = _votes.Count - yes;
        if (yes >= Membership.Quorum)
        {
            return VoteOutcome.Won;
        }

        return no > Membership.Voters.Count - Membership.Quorum ? VoteOutcome.Lost : VoteOutcome.Pending;
    }

    private void StepCandidate(Message m)
    {
        switch (m.Kind)
        {
            case MessageKind.Append or MessageKind.Heartbeat or MessageKind.InstallSnapshot:
                // Raft §5.2: another server established itself as leader of this term.
                BecomeFollower(Term, m.From);
                StepFollower(m);
                break;
            case MessageKind.VoteResponse when Role == RaftRole.Candidate:
            case MessageKind.PreVoteResponse when Role == RaftRole.PreCandidate:
                switch (RecordVote(m.From, !m.Reject))
                {
                    case VoteOutcome.Won:
                        WinElection();
                        break;
                    case VoteOutcome.Lost:
                        BecomeFollower(Term, 0);
                        break;
                }

                break;
        }
    }
}
