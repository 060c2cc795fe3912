using Coordination.Consensus;
using Coordination.Silo.Storage;

namespace Coordination.Tests.Storage;

/// <summary>
/// What every <see cref="ILogStorage"/> must do, run against the in-memory twin and the durable log
/// alike so the consensus core sees the same behaviour from both. <see cref="Reopen"/> is where a
/// durable implementation proves that what it reported as saved comes back after a restart.
/// </summary>
public abstract class LogStorageContract
{
    protected abstract ILogStorage Create();

    /// <summary>The storage as a restarted process would see it (the same object when nothing is durable).</summary>
    protected abstract ILogStorage Reopen(ILogStorage storage);

    internal static LogEntry Entry(ulong index, ulong term, int size = 8) =>
        new(index, term, EntryKind.Normal, [.. Enumerable.Range(0, size).Select(i => (byte)(index * 31 + term * 7 + (ulong)i))]);

    internal static LogEntry[] Run(ulong first, ulong last, ulong term) =>
        [.. Enumerable.Range((int)first, (int)(last - first + 1)).Select(i => Entry((ulong)i, term))];

    private static readonly SnapshotMetadata s_meta = new(0, 0, new Membership([1, 2, 3], []));

    [Fact]
    public void A_new_log_is_empty_and_starts_at_index_one()
    {
        var log = Reopen(Create());
        Assert.Equal(HardState.Empty, log.HardState);
        Assert.Equal(1ul, log.FirstIndex);
        Assert.Equal(0ul, log.LastIndex);
        Assert.Equal(0ul, log.Term(0));
        Assert.True(log.Snapshot.IsEmpty);
    }

    [Fact]
    public void Saved_entries_and_hard_state_come_back_in_order()
    {
        var log = Create();
        log.Save(new HardState(2, 1, 0), Run(1, 5, 2));
        log = Reopen(log);
        Assert.Equal(new HardState(2, 1, 0), log.HardState);
        Assert.Equal(5ul, log.LastIndex);
        AssertEntries(Run(1, 5, 2), log.Entries(1, 6, long.MaxValue));
        Assert.Equal(2ul, log.Term(5));
    }

    [Fact]
    public void A_hard_state_alone_is_saved()
    {
        var log = Create();
        log.Save(new HardState(1, 0, 0), []);
        log.Save(new HardState(3, 2, 0), []);
        Assert.Equal(new HardState(3, 2, 0), Reopen(log).HardState);
    }

    [Fact]
    public void Saving_entries_without_a_hard_state_keeps_the_hard_state()
    {
        var log = Create();
        log.Save(new HardState(4, 4, 0), Run(1, 2, 4));
        log.Save(null, Run(3, 4, 4));
        log = Reopen(log);
        Assert.Equal(new HardState(4, 4, 0), log.HardState);
        Assert.Equal(4ul, log.LastIndex);
    }

    [Fact]
    public void Appending_inside_the_log_replaces_the_conflicting_suffix()
    {
        var log = Create();
        log.Save(new HardState(1, 1, 0), Run(1, 6, 1));
        log.Save(new HardState(2, 0, 2), Run(4, 5, 2));
        log = Reopen(log);
        Assert.Equal(5ul, log.LastIndex);
        AssertEntries([.. Run(1, 3, 1), .. Run(4, 5, 2)], log.Entries(1, 6, long.MaxValue));
    }

    [Fact]
    public void The_term_never_goes_back()
    {
        var log = Create();
        log.Save(new HardState(5, 0, 0), []);
        Assert.Throws<InvariantViolationException>(() => log.Save(new HardState(4, 0, 0), []));
        Assert.Equal(5ul, Reopen(log).HardState.Term);
    }

    [Fact]
    public void An_append_that_leaves_a_gap_is_rejected_and_changes_nothing()
    {
        var log = Create();
        log.Save(new HardState(1, 0, 0), Run(1, 2, 1));
        Assert.Throws<InvariantViolationException>(() => log.Save(null, Run(4, 5, 1)));
        Assert.Equal(2ul, Reopen(log).LastIndex);
    }

    [Fact]
    public void Entries_stop_before_max_bytes_but_return_at_least_one()
    {
        var log = Create();
        log.Save(new HardState(1, 0, 0), Run(1, 10, 1));
        var size = Entry(1, 1).SizeBytes;
        Assert.Equal(3, log.Entries(1, 11, (3 * size) + 1).Count);
        Assert.Single(log.Entries(2, 11, 1));
        Assert.Empty(log.Entries(4, 4, long.MaxValue));
    }

    [Fact]
    public void Compaction_discards_the_prefix_and_keeps_the_snapshot_term()
    {
        var log = Create();
        log.Save(new HardState(2, 0, 6), [.. Run(1, 3, 1), .. Run(4, 8, 2)]);
        log.Compact(s_meta with { Index = 5, Term = 2 }, [1, 2, 3]);
        log = Reopen(log);
        Assert.Equal(6ul, log.FirstIndex);
        Assert.Equal(8ul, log.LastIndex);
        Assert.Equal(2ul, log.Term(5));
        Assert.Equal(5ul, log.Snapshot.Metadata.Index);
        Assert.Equal(s_meta.Membership, log.Snapshot.Metadata.Membership);
        Assert.Equal([1, 2, 3], log.Snapshot.Data);
        AssertEntries(Run(6, 8, 2), log.Entries(6, 9, long.MaxValue));
    }

    [Fact]
    public void Compaction_past_the_last_entry_or_with_the_wrong_term_is_rejected()
    {
        var log = Create();
        log.Save(new HardState(1, 0, 3), Run(1, 3, 1));
        Assert.Throws<InvariantViolationException>(() => log.Compact(s_meta with { Index = 4, Term = 1 }, []));
        Assert.Throws<InvariantViolationException>(() => log.Compact(s_meta with { Index = 2, Term = 9 }, []));
        Assert.Equal(1ul, Reopen(log).FirstIndex);
    }

    [Fact]
    public void Appending_over_the_snapshot_is_rejected()
    {
        var log = Create();
        log.Save(new HardState(1, 0, 3), Run(1, 3, 1));
        log.Compact(s_meta with { Index = 2, Term = 1 }, []);
        Assert.Throws<InvariantViolationException>(() => log.Save(null, Run(2, 3, 2)));
        log.Save(null, Run(3, 4, 2));
        Assert.Equal(4ul, Reopen(log).LastIndex);
    }

    [Fact]
    public void An_installed_snapshot_replaces_the_whole_log_and_raises_the_commit_index()
    {
        var log = Create();
        log.Save(new HardState(3, 2, 2), Run(1, 4, 1));
        log.InstallSnapshot(new Snapshot(s_meta with { Index = 10, Term = 3 }, [9, 9]));
        log = Reopen(log);
        Assert.Equal(11ul, log.FirstIndex);
        Assert.Equal(10ul, log.LastIndex);
        Assert.Equal(3ul, log.Term(10));
        Assert.Equal(new HardState(3, 2, 10), log.HardState);
        Assert.Equal([9, 9], log.Snapshot.Data);
        log.Save(null, Run(11, 12, 3));
        Assert.Equal(12ul, Reopen(log).LastIndex);
    }

    [Fact]
    public void An_installed_snapshot_older_than_the_one_held_is_rejected()
    {
        var log = Create();
        log.InstallSnapshot(new Snapshot(s_meta with { Index = 10, Term = 3 }, []));
        Assert.Throws<InvariantViolationException>(() => log.InstallSnapshot(new Snapshot(s_meta with { Index = 10, Term = 3 }, [])));
    }

    [Fact]
    public void Random_operations_behave_like_the_in_memory_twin()
    {
        const int OperationsMax = 400;
        var seed = TestSeed.Choose();
        var random = new Random(seed);
        var log = Create();
        var twin = new MemoryLogStorage();
        for (var step = 0; step < OperationsMax; step++)
        {
            var operation = RandomOperation(random, twin);
            operation(twin);
            operation(log);
            if (random.Next(10) == 0)
            {
                log = Reopen(log);
            }

            AssertSameLog(twin, log, $"seed {seed}, step {step}");
        }
    }

    /// <summary>A valid random operation for a log in <paramref name="state"/>: saves with conflicts, compactions, installs.</summary>
    internal static Action<ILogStorage> RandomOperation(Random random, ILogStorageReader state)
    {
        var term = state.HardState.Term + (random.Next(4) == 0 ? 1ul : 0ul);
        var roll = random.Next(20);
        if (roll == 0 && state.LastIndex > state.FirstIndex)
        {
            var index = state.FirstIndex + (ulong)random.NextInt64((long)(state.LastIndex - state.FirstIndex));
            var meta = s_meta with { Index = index, Term = state.Term(index) };
            var data = Entry(index, 77, random.Next(64)).Data;
            return log => log.Compact(meta, data);
        }

        if (roll == 1)
        {
            var index = state.LastIndex + (ulong)random.Next(1, 5);
            var snapshot = new Snapshot(s_meta with { Index = index, Term = Math.Max(term, 1) }, Entry(index, 5, random.Next(64)).Data);
            return log => log.InstallSnapshot(snapshot);
        }

        var first = state.LastIndex + 1 - Math.Min((ulong)random.Next(0, 4), state.LastIndex + 1 - state.FirstIndex);
        var count = random.Next(0, 20);
        var entries = Enumerable.Range(0, count).Select(i => Entry(first + (ulong)i, Math.Max(term, 1), random.Next(0, 200))).ToArray();
        var vote = random.Next(4) == 0 ? (ulong)random.Next(1, 4) : state.HardState.Vote;
        HardState? hardState = random.Next(3) == 0 ? null : state.HardState with { Term = term, Vote = vote };
        return log => log.Save(hardState, entries);
    }

    internal static void AssertSameLog(ILogStorageReader expected, ILogStorageReader actual, string context)
    {
        Assert.True(expected.HardState == actual.HardState, $"{context}: hard state {actual.HardState}, expected {expected.HardState}");
        Assert.True(expected.FirstIndex == actual.FirstIndex && expected.LastIndex == actual.LastIndex,
            $"{context}: entries [{actual.FirstIndex}, {actual.LastIndex}], expected [{expected.FirstIndex}, {expected.LastIndex}]");
        Assert.Equal(expected.Term(expected.FirstIndex - 1), actual.Term(actual.FirstIndex - 1));
        Assert.Equal(expected.Snapshot.Metadata, actual.Snapshot.Metadata);
        Assert.Equal(expected.Snapshot.Data, actual.Snapshot.Data);
        AssertEntries(expected.Entries(expected.FirstIndex, expected.LastIndex + 1, long.MaxValue), actual.Entries(actual.FirstIndex, actual.LastIndex + 1, long.MaxValue));
    }

    internal static bool IsSameLog(ILogStorageReader expected, ILogStorageReader actual)
    {
        try
        {
            AssertSameLog(expected, actual, "");
            return true;
        }
        catch (Xunit.Sdk.XunitException)
        {
            return false;
        }
    }

    internal static void AssertEntries(IReadOnlyList<LogEntry> expected, IReadOnlyList<LogEntry> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.True(expected[i].SameAs(actual[i]), $"entry {actual[i]} differs from {expected[i]}");
        }
    }
}

public sealed class MemoryLogStorageContractTests : LogStorageContract
{
    protected override ILogStorage Create() => new MemoryLogStorage();

    protected override ILogStorage Reopen(ILogStorage storage) => storage;
}

/// <summary>The durable log on a simulated disk, reopened after a crash that loses every unsynced byte.</summary>
public sealed class WriteAheadLogContractTests : LogStorageContract
{
    private readonly SimulatedFileSystem _disk = new(seed: 3);

    // Small segments so that rotation and segment deletion happen inside these short tests.
    internal static readonly WriteAheadLogOptions SmallSegments = new()
    {
        SegmentBytes = WriteAheadLogOptions.SegmentBytesMin,
        RecordBytesMax = 16 * 1024,
        PreallocateBytes = 8 * 1024,
        SnapshotsKeptMax = 2,
    };

    protected override ILogStorage Create() => WriteAheadLog.Open(_disk, "/data", SmallSegments);

    protected override ILogStorage Reopen(ILogStorage storage)
    {
        _disk.Crash(tear: false);
        return WriteAheadLog.Open(_disk, "/data", SmallSegments);
    }
}
