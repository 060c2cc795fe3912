using BenchmarkDotNet.Attributes;
using Coordination.Consensus;

namespace Coordination.Benchmarks.Consensus;

/// <summary>
/// Committed entries per second for a 3-node in-memory cluster, proposals batched by 1, 16 and 256
/// entries of 100 bytes. One operation is one entry; the memory diagnoser reports bytes per entry.
/// </summary>
[MemoryDiagnoser]
public class ReplicationBenchmarks
{
    private const int EntriesPerInvoke = 4096;
    private InMemoryCluster _cluster = null!;
    private byte[][] _batch = [];

    [Params(1, 16, 256)]
    public int BatchSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _cluster = new InMemoryCluster(3);
        _batch = Enumerable.Range(0, BatchSize).Select(_ => new byte[100]).ToArray();
    }

    [Benchmark(OperationsPerInvoke = EntriesPerInvoke)]
    public long ProposeAndCommit()
    {
        var target = _cluster.AppliedOnLeader + EntriesPerInvoke;
        for (var proposed = 0; proposed < EntriesPerInvoke; proposed += BatchSize)
        {
            if (_cluster.Leader.Propose(_batch) != ProposalResult.Accepted)
            {
                throw new InvalidOperationException("the leader refused a proposal");
            }

            _cluster.StepOnce();
        }

        _cluster.Pump();
        if (_cluster.AppliedOnLeader < target)
        {
            throw new InvalidOperationException("not every proposal was committed");
        }

        return _cluster.AppliedOnLeader;
    }
}
