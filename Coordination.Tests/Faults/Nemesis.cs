namespace Coordination.Tests.Faults;

/// <summary>The faults the nemesis injects, each healed before the next.</summary>
public enum Fault
{
    KillLeader,
    KillRandom,
    KillMinority,

    /// <summary>SIGSTOP longer than the session TTL, then SIGCONT.</summary>
    PauseLeader,
    PauseRandom,

    /// <summary>Two silos cut off from three, both ways.</summary>
    PartitionMajorityMinority,
    IsolateLeader,

    /// <summary>Each silo reaches only its two neighbours.</summary>
    Ring,

    /// <summary>The leader's messages to every other silo are lost; theirs still reach it.</summary>
    OneWayFromLeader,
}

/// <summary>Applies one fault at a time to a <see cref="FaultCluster"/>, chosen by a seeded random source.</summary>
public sealed class Nemesis(FaultCluster cluster, Random random)
{
    /// <summary>Longer than the workload's session TTL, so paused leaders lose their sessions' keepalives.</summary>
    public static readonly TimeSpan PauseHold = TimeSpan.FromMilliseconds(3_500);

    public static readonly TimeSpan FaultHold = TimeSpan.FromMilliseconds(2_500);

    /// <summary>The fixed schedule CI runs: every fault once.</summary>
    public static IReadOnlyList<Fault> FixedSchedule { get; } = Enum.GetValues<Fault>();

    /// <summary>Injects <paramref name="fault"/>, holds it, heals everything and waits for a stable leader; returns what it did.</summary>
    public async Task<string> Run(Fault fault)
    {
        var leader = await cluster.CurrentLeaderAsync();
        if (leader == 0)
        {
            leader = cluster.Ids[0];
        }

        var others = cluster.Ids.Where(id => id != leader).ToList();
        var victim = cluster.Ids[random.Next(cluster.Ids.Count)];
        var minority = cluster.Ids.OrderBy(_ => random.Next()).Take((cluster.Ids.Count - 1) / 2).ToList();
        string done;
        switch (fault)
        {
            case Fault.KillLeader:
                cluster.Kill(leader);
                done = $"kill -9 leader {leader}";
                break;
            case Fault.KillRandom:
                cluster.Kill(victim);
                done = $"kill -9 silo {victim}";
                break;
            case Fault.KillMinority:
                minority.ForEach(cluster.Kill);
                done = $"kill -9 silos {string.Join(",", minority)}";
                break;
            case Fault.PauseLeader:
                cluster.Pause(leader);
                done = $"SIGSTOP leader {leader}";
                break;
            case Fault.PauseRandom:
                cluster.Pause(victim);
                done = $"SIGSTOP silo {victim}";
                break;
            case Fault.PartitionMajorityMinority:
                cluster.Isolate(minority);
                done = $"partition {string.Join(",", minority)} | rest";
                break;
            case Fault.IsolateLeader:
                cluster.Isolate([leader]);
                done = $"isolate leader {leader}";
                break;
            case Fault.Ring:
                cluster.Ring();
                done = "ring";
                break;
            default:
                others.ForEach(o => cluster.Cut(leader, o));
                done = $"one-way: leader {leader} cannot send";
                break;
        }

        await Task.Delay(fault is Fault.PauseLeader or Fault.PauseRandom ? PauseHold : FaultHold);
        cluster.HealAll();
        await cluster.StableLeaderAsync();
        return done;
    }
}
