using Coordination.Consensus;

namespace Coordination.Benchmarks.Consensus;

/// <summary>
/// A cluster of <see cref="RaftNode"/>s over in-memory storage and a lossless in-process network:
/// what is left when disk and sockets cost nothing, so the figures measure the consensus core alone.
/// </summary>
public sealed class InMemoryCluster
{
    private const ulong CompactEveryEntries = 20_000;
    private readonly RaftNode[] _nodes;
    private readonly MemoryLogStorage[] _storages;
    private readonly Queue<Message> _network = new();

    public InMemoryCluster(int size)
    {
        var members = new Membership(Enumerable.Range(1, size).Select(i => (ulong)i), []);
        _storages = new MemoryLogStorage[size];
        _nodes = new RaftNode[size];
        for (var i = 0; i < size; i++)
        {
            _storages[i] = new MemoryLogStorage();
            RaftNode.Bootstrap(_storages[i], members);
            _nodes[i] = new RaftNode(new RaftOptions { NodeId = (ulong)i + 1 }, _storages[i], new SplitMixRandom((ulong)i));
        }

        _nodes[0].Campaign();
        Pump();
        if (_nodes[0].Role != RaftRole.Leader)
        {
            throw new InvalidOperationException("node 1 did not become leader");
        }
    }

    public RaftNode Leader => _nodes[0];

    /// <summary>Entries the leader has applied (what a client would have been answered for).</summary>
    public long AppliedOnLeader { get; private set; }

    /// <summary>Processes one round of Ready on every node and delivers what they sent.</summary>
    public void StepOnce()
    {
        for (var i = 0; i < _nodes.Length; i++)
        {
            var node = _nodes[i];
            if (!node.HasReady)
            {
                continue;
            }

            var ready = node.GetReady();
            _storages[i].Save(ready.HardState, ready.Entries);
            foreach (var message in ready.Messages)
            {
                _network.Enqueue(message);
            }

            if (i == 0)
            {
                AppliedOnLeader += ready.CommittedEntries.Count;
            }

            node.Advance(ready);
            MaybeCompact(i);
        }

        var count = _network.Count;
        for (var delivered = 0; delivered < count; delivered++)
        {
            var message = _network.Dequeue();
            _nodes[message.To - 1].Step(message);
        }
    }

    /// <summary>Steps until nothing is left to do (bounded).</summary>
    public void Pump()
    {
        for (var round = 0; round < 10_000 && (_network.Count > 0 || _nodes.Any(n => n.HasReady)); round++)
        {
            StepOnce();
        }
    }

    private void MaybeCompact(int i)
    {
        var applied = _nodes[i].AppliedIndex;
        if (applied >= _storages[i].FirstIndex && applied - _storages[i].FirstIndex > CompactEveryEntries)
        {
            _storages[i].Compact(new SnapshotMetadata(applied, _storages[i].Term(applied), _nodes[i].MembershipAt(applied)), []);
        }
    }
}
