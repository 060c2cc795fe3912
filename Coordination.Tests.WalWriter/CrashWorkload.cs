using Coordination.Consensus;
using Coordination.Silo.Storage;

namespace Coordination.Tests.WalWriter;

/// <summary>
/// The protocol between the crash-test child and the test, compiled into both. Before each operation
/// the child prints it as one line; after the operation returned (durable) it prints <see cref="Done"/>.
/// Entry and snapshot contents are derived from index and term, so both sides know them.
/// </summary>
public static class CrashWorkload
{
    public const string Done = "ok";

    /// <summary>Small segments and preallocation, so crashes land in rotations and preallocation too.</summary>
    public static readonly WriteAheadLogOptions Options = new()
    {
        SegmentBytes = 256 * 1024,
        RecordBytesMax = 64 * 1024,
        PreallocateBytes = 32 * 1024,
        SnapshotsKeptMax = 2,
    };

    public static readonly Membership Members = new([1, 2, 3], []);

    public static byte[] Data(ulong index, ulong term, int size)
    {
        var data = new byte[size];
        var state = (index * 0x9E3779B97F4A7C15UL) ^ term;
        for (var i = 0; i < size; i++)
        {
            state = (state * 6364136223846793005UL) + 1442695040888963407UL;
            data[i] = (byte)(state >> 56);
        }

        return data;
    }

    public static string Save(HardState state, ulong first, int count, ulong term, int size) =>
        $"save {state.Term} {state.Vote} {state.Commit} {first} {count} {term} {size}";

    public static string Compact(ulong index, ulong term) => $"compact {index} {term}";

    /// <summary>Turns a line printed before an operation back into the operation.</summary>
    public static Action<ILogStorage> Parse(string line)
    {
        var parts = line.Split(' ');
        var n = parts.Skip(1).Select(ulong.Parse).ToArray();
        return parts[0] switch
        {
            "save" => log => log.Save(new HardState(n[0], n[1], n[2]), Entries(n[3], (int)n[4], n[5], (int)n[6])),
            "compact" => log => log.Compact(new SnapshotMetadata(n[0], n[1], Members), Data(n[0], n[1], 64)),
            _ => throw new FormatException($"unknown operation line '{line}'"),
        };
    }

    public static LogEntry[] Entries(ulong first, int count, ulong term, int size) =>
        [.. Enumerable.Range(0, count).Select(i => new LogEntry(first + (ulong)i, term, EntryKind.Normal, Data(first + (ulong)i, term, size)))];
}
