using System.Buffers.Binary;
using Coordination.Silo.Hosting;

namespace Coordination.Tests.Silo;

/// <summary>A replicated list of applied commands: enough to check ordering, results and snapshots.</summary>
internal sealed class CounterStateMachine : IReplicatedStateMachine
{
    public List<long> Values { get; private set; } = [];

    public ulong AppliedIndex { get; private set; }

    public long LogTimeMs { get; private set; }

    public int LeaderTakeovers { get; private set; }

    /// <summary>When set, a new leader proposes <see cref="TakeoverMarker"/> as its duty (the session extension's stand-in).</summary>
    public bool ProposeTakeoverMarkers { get; set; }

    /// <summary>Every applied value, and -1 for each takeover marker, in log order (since the last snapshot restore).</summary>
    public List<long> Applied { get; } = [];

    /// <summary>The entry stamp (log time) of each applied value, in log order (since the last snapshot restore).</summary>
    public List<long> Stamps { get; } = [];

    private static readonly byte[] TakeoverMarker = [0xFE];

    public object? Apply(ulong index, long timestampMs, ReadOnlyMemory<byte> command)
    {
        AppliedIndex = index;
        LogTimeMs = Math.Max(LogTimeMs, timestampMs);
        if (command.Length == 8)
        {
            Values.Add(BinaryPrimitives.ReadInt64LittleEndian(command.Span));
            Applied.Add(Values[^1]);
            Stamps.Add(timestampMs);
        }
        else if (command.Span.SequenceEqual(TakeoverMarker))
        {
            Applied.Add(-1);
        }

        return Values.Count;
    }

    public void Skip(ulong index) => AppliedIndex = index;

    /// <summary>Log time, then the values (8 bytes each, little-endian).</summary>
    public byte[] WriteSnapshot() => [.. BitConverter.GetBytes(LogTimeMs), .. Values.SelectMany(BitConverter.GetBytes)];

    public void RestoreSnapshot(ulong index, ReadOnlySpan<byte> snapshot)
    {
        LogTimeMs = BinaryPrimitives.ReadInt64LittleEndian(snapshot);
        var values = new List<long>();
        for (var i = 8; i + 8 <= snapshot.Length; i += 8)
        {
            values.Add(BinaryPrimitives.ReadInt64LittleEndian(snapshot[i..]));
        }

        Values = values;
        Applied.Clear();
        Stamps.Clear();
        AppliedIndex = index;
    }

    /// <summary>What the host said of the time without a leader at each takeover.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<TimeSpan?> Leaderless { get; } = new();

    public IEnumerable<byte[]> OnBecameLeader(TimeSpan? leaderless)
    {
        LeaderTakeovers++;
        Leaderless.Enqueue(leaderless);
        return ProposeTakeoverMarkers ? [TakeoverMarker] : [];
    }

    public IEnumerable<byte[]> DueCommands(long nowMs) => [];

    public static byte[] Command(long value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        return bytes;
    }
}
