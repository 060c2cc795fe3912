using Coordination.Consensus;

namespace Coordination.Tests.Simulation;

/// <summary>A safety or liveness property of Raft that a run broke.</summary>
public sealed class SimulationViolation(string message) : Exception(message);

/// <summary>
/// Checks Raft's safety properties (Raft §5.2 Figure 3) while a simulation runs: election safety,
/// log matching, leader completeness, state machine safety, and linearizable reads.
/// </summary>
public sealed class SafetyChecker
{
    // Every entry applied anywhere is committed: index -> what it must be everywhere.
    private readonly Dictionary<ulong, (ulong Term, ulong DataHash, ulong Chain)> _committed = [];
    private readonly Dictionary<ulong, ulong> _leaderOfTerm = [];

    // Highest commit index seen on the leader of each term: entries committed in that term or before.
    private readonly SortedDictionary<ulong, ulong> _leaderCommit = [];

    public ulong CommittedMax { get; private set; }

    public int LeadersElected => _leaderOfTerm.Count;

    public long EntriesChecked { get; private set; }

    public void Fail(string message) => throw new SimulationViolation(message);

    /// <summary>
    /// Election safety: at most one leader per term. Leader completeness (Raft §5.4): a leader holds
    /// every entry committed in an earlier term. (A leader of term 5 may legally be elected after
    /// term 6 committed entries it lacks, so only commits seen on leaders of earlier terms count.)
    /// </summary>
    public void ObserveLeader(RaftNode node)
    {
        _leaderCommit[node.Term] = Math.Max(node.CommitIndex, _leaderCommit.GetValueOrDefault(node.Term));
        if (_leaderOfTerm.TryGetValue(node.Term, out var known))
        {
            if (known != node.Id)
            {
                Fail($"election safety: nodes {known} and {node.Id} are both leader of term {node.Term}");
            }

            return;
        }

        _leaderOfTerm[node.Term] = node.Id;
        ulong required = 0;
        foreach (var (term, commit) in _leaderCommit)
        {
            if (term >= node.Term)
            {
                break;
            }

            required = Math.Max(required, commit);
        }

        for (var index = Math.Max(node.FirstIndex, 1); index <= Math.Min(required, CommittedMax); index++)
        {
            var expected = _committed[index];
            var term = node.TermAt(index);
            if (term != expected.Term)
            {
                Fail($"leader completeness: new leader {node.Id} of term {node.Term} has term {term?.ToString() ?? "none"} at index {index}, committed before its term as term {expected.Term}");
            }
        }
    }

    /// <summary>State machine safety: every node applies the same entry at the same index.</summary>
    public void ObserveApplied(ulong node, in LogEntry entry, ulong chainAfter)
    {
        EntriesChecked++;
        var fact = (entry.Term, ChainState.DataHash(entry.Data), chainAfter);
        if (_committed.TryGetValue(entry.Index, out var expected))
        {
            if (expected != fact)
            {
                Fail($"state machine safety: node {node} applied {entry} with chain {chainAfter:x} but index {entry.Index} was applied elsewhere as term {expected.Term} chain {expected.Chain:x}");
            }

            return;
        }

        Invariant.Require(entry.Index == CommittedMax + 1, $"applied index {entry.Index} skips past the committed prefix {CommittedMax}");
        _committed[entry.Index] = fact;
        CommittedMax = entry.Index;
    }

    /// <summary>A snapshot a node loads must describe the committed prefix exactly.</summary>
    public void ObserveSnapshotLoaded(ulong node, ChainState state)
    {
        if (state.Index == 0)
        {
            return;
        }

        if (!_committed.TryGetValue(state.Index, out var expected) || expected.Chain != state.Chain)
        {
            Fail($"snapshot safety: node {node} loaded a snapshot at {state.Index} with chain {state.Chain:x} that does not match the committed log");
        }
    }

    /// <summary>Log matching (Raft §5.3): if two logs hold an entry with the same index and term, they are identical up to it.</summary>
    public static void CheckLogMatching(IReadOnlyList<(ulong Id, ILogStorageReader Log)> logs)
    {
        for (var a = 0; a < logs.Count; a++)
        {
            for (var b = a + 1; b < logs.Count; b++)
            {
                CheckPair(logs[a], logs[b]);
            }
        }
    }

    private static void CheckPair((ulong Id, ILogStorageReader Log) a, (ulong Id, ILogStorageReader Log) b)
    {
        var low = Math.Max(a.Log.FirstIndex, b.Log.FirstIndex);
        var high = Math.Min(a.Log.LastIndex, b.Log.LastIndex);
        if (low > high)
        {
            return;
        }

        var left = a.Log.Entries(low, high + 1, long.MaxValue);
        var right = b.Log.Entries(low, high + 1, long.MaxValue);
        var matched = false;
        for (var i = left.Count - 1; i >= 0; i--)
        {
            matched |= left[i].Term == right[i].Term;
            if (matched && !left[i].SameAs(right[i]))
            {
                throw new SimulationViolation($"log matching: nodes {a.Id} and {b.Id} share a later entry's term but differ at {left[i].Index}: {left[i]} vs {right[i]}");
            }
        }
    }
}
