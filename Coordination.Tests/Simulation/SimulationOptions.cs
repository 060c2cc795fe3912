using Coordination.Consensus;

namespace Coordination.Tests.Simulation;

/// <summary>
/// One simulated run, entirely decided by <see cref="Seed"/>: the seed picks the cluster size and
/// the mix and rates of faults, so every seed explores its own corner.
/// </summary>
public sealed record SimulationOptions
{
    public required ulong Seed { get; init; }

    public int Voters { get; init; } = 3;

    /// <summary>Nodes that start outside the cluster and may be added as learners and promoted.</summary>
    public int Spares { get; init; } = 1;

    /// <summary>Ticks of faulty operation before the network heals and liveness is checked.</summary>
    public int FaultTicks { get; init; } = 2_000;

    /// <summary>Once everything heals, a leader must be elected and a proposal committed within this many ticks.</summary>
    public int LivenessTicksMax { get; init; } = 600;

    public int ElectionTicks { get; init; } = 10;

    public double DropRate { get; init; }

    public double DuplicateRate { get; init; }

    /// <summary>Largest extra delivery delay in ticks; larger delays reorder more.</summary>
    public int DelayTicksMax { get; init; } = 2;

    public double CrashRatePerTick { get; init; }

    public double PartitionRatePerTick { get; init; }

    public double MembershipChangeRatePerTick { get; init; }

    public double TransferRatePerTick { get; init; }

    public double PauseRatePerTick { get; init; }

    /// <summary>Chance that a newly elected leader crashes within a few ticks, having replicated only part of its log (Raft Figure 8).</summary>
    public double NewLeaderCrashRate { get; init; }

    /// <summary>Log entries kept after the applied index before a node compacts into a snapshot.</summary>
    public int CompactionThreshold { get; init; } = 64;

    public double ProposalRatePerTick { get; init; } = 0.5;

    /// <summary>Bytes per append message; small values split old-term entries from a new leader's no-op (Raft Figure 8).</summary>
    public long AppendBytesMax { get; init; } = 4096;

    public int InflightAppendsMax { get; init; } = 8;

    public double ReadRatePerTick { get; init; } = 0.3;

    /// <summary>
    /// Nodes keep their log in the real write-ahead log over a simulated disk: a crash loses unsynced
    /// writes and may tear the last one, and stopped nodes can have bits flipped in synced data.
    /// </summary>
    public bool DiskFaults { get; init; }

    /// <summary>With <see cref="DiskFaults"/>: chance per tick of flipping a bit in a stopped node's files.</summary>
    public double BitFlipRatePerTick { get; init; }

    /// <summary>Control runs only: serve reads from the local state without ReadIndex (must be caught as stale).</summary>
    public bool UnsafeLocalReads { get; init; }

    /// <summary>Derives a whole run's settings from a seed, so a random seed picks its own fault mix.</summary>
    public static SimulationOptions FromSeed(ulong seed, int faultTicks = 2_000)
    {
        var random = new SplitMixRandom(seed ^ 0x5EED5EED5EEDUL);
        double Pick(double max) => random.Chance(0.25) ? 0 : max * random.Next(0, 1001) / 1000.0;
        return new SimulationOptions
        {
            Seed = seed,
            Voters = random.Chance(0.5) ? 3 : 5,
            Spares = random.Next(0, 3),
            FaultTicks = faultTicks,
            DropRate = Pick(0.2),
            DuplicateRate = Pick(0.1),
            DelayTicksMax = random.Next(0, 6),
            CrashRatePerTick = Pick(0.01),
            PartitionRatePerTick = Pick(0.02),
            MembershipChangeRatePerTick = Pick(0.01),
            TransferRatePerTick = Pick(0.005),
            PauseRatePerTick = Pick(0.01),
            NewLeaderCrashRate = Pick(0.5),
            CompactionThreshold = random.Next(8, 200),
            ProposalRatePerTick = 0.2 + Pick(0.8),
            ReadRatePerTick = Pick(0.6),
            DiskFaults = random.Chance(0.4),
            BitFlipRatePerTick = Pick(0.01),
            AppendBytesMax = random.Next(0, 3) switch { 0 => 40, 1 => 256, _ => 4096 },
            InflightAppendsMax = random.Next(1, 17),
        };
    }

    public override string ToString() =>
        $"voters={Voters} spares={Spares} ticks={FaultTicks} drop={DropRate:0.###} dup={DuplicateRate:0.###} delay={DelayTicksMax} " +
        $"crash={CrashRatePerTick:0.####} partition={PartitionRatePerTick:0.####} membership={MembershipChangeRatePerTick:0.####} " +
        $"transfer={TransferRatePerTick:0.####} pause={PauseRatePerTick:0.####} leaderCrash={NewLeaderCrashRate:0.##} compact={CompactionThreshold} appendBytes={AppendBytesMax} inflight={InflightAppendsMax} disk={(DiskFaults ? "wal" : "memory")} flips={BitFlipRatePerTick:0.####}";
}
