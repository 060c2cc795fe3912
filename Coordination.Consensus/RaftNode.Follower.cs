namespace Coordination.Consensus;

public sealed partial class RaftNode
{
    private void StepFollower(Message m)
    {
        switch (m.Kind)
        {
            case MessageKind.Append:
                HeardFromLeader(m.From);
                HandleAppend(m);
                break;
            case MessageKind.Heartbeat:
                HeardFromLeader(m.From);
                _log.CommitTo(Math.Min(m.Commit, _log.LastIndex));
                Send(new Message { Kind = MessageKind.HeartbeatResponse, From = Id, To = m.From, Term = Term, Context = m.Context });
                break;
            case MessageKind.InstallSnapshot:
                HeardFromLeader(m.From);
                HandleSnapshot(m);
                break;
            case MessageKind.TimeoutNow:
                // Leadership transfer (dissertation §3.10): campaign at once, without pre-vote.
                Campaign(CampaignKind.Transfer);
                break;
            case MessageKind.ReadIndexResponse:
                _readStates.Add(new ReadState(m.Index, m.Context));
                break;
        }
    }

    private void HeardFromLeader(ulong leader)
    {
        _electionElapsed = 0;
        Leader = leader;
    }

    private void HandleAppend(Message m)
    {
        if (m.Index < _log.Committed)
        {
            // Everything up to the commit index already matches any leader's log.
            Send(new Message { Kind = MessageKind.AppendResponse, From = Id, To = m.From, Term = Term, Index = _log.Committed });
            return;
        }

        if (!_log.MatchTerm(m.Index, m.LogTerm))
        {
            // Raft §5.3 with the optimization of etcd: suggest the last index whose term is at most the
            // leader's term at the rejected index, so the leader skips whole terms at once.
            var hintIndex = _log.FindConflictByTerm(Math.Min(m.Index, _log.LastIndex), m.LogTerm);
            Send(new Message
            {
                Kind = MessageKind.AppendResponse,
                From = Id,
                To = m.From,
                Term = Term,
                Index = m.Index,
                Reject = true,
                RejectHint = hintIndex,
                LogTerm = _log.Term(hintIndex) ?? 0,
            });
            return;
        }

        var conflict = _log.FindConflict(m.Entries);
        if (conflict < m.Entries.Count)
        {
            var first = m.Entries[conflict].Index;
            Invariant.Require(first > _log.Committed, $"leader {m.From} overwrites committed index {first} (commit {_log.Committed})");
            AppendToLog(conflict == 0 ? m.Entries : m.Entries.Skip(conflict).ToArray());
        }

        var lastNew = m.Index + (ulong)m.Entries.Count;
        _log.CommitTo(Math.Min(m.Commit, lastNew));
        Send(new Message { Kind = MessageKind.AppendResponse, From = Id, To = m.From, Term = Term, Index = lastNew });
    }

    private void HandleSnapshot(Message m)
    {
        var snapshot = m.Snapshot!;
        var meta = snapshot.Metadata;
        if (meta.Index <= _log.Committed)
        {
            Send(new Message { Kind = MessageKind.AppendResponse, From = Id, To = m.From, Term = Term, Index = _log.Committed });
            return;
        }

        if (_log.MatchTerm(meta.Index, meta.Term))
        {
            // The log already holds the snapshot's last entry: keep the log, just learn the commit.
            _log.CommitTo(meta.Index);
        }
        else
        {
            RestoreSnapshot(snapshot);
        }

        // Only the snapshot's index is known to match the leader; entries after it may be stale.
        Send(new Message { Kind = MessageKind.AppendResponse, From = Id, To = m.From, Term = Term, Index = meta.Index });
    }
}
