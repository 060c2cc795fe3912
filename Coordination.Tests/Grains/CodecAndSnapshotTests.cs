using System.Buffers.Binary;
using Coordination.Grains;

namespace Coordination.Tests.Grains;

public class CodecAndSnapshotTests
{
    public static TheoryData<Command> EveryCommand() =>
    [
        new CreateSession(5_000),
        new RenewSession(7),
        new RevokeSession(8),
        new AdvanceTime(),
        new ExtendAllSessions(),
        new ExtendSessionsBy(312),
        new AcquireLock("db", 3, LockMode.Semaphore, 4, 1_000, 2_000),
        new ReleaseLock("db", 3, 99),
        new AbandonLock("db", 3),
        new Campaign("primary", 3, [1, 2, 3]),
        new Proclaim("primary", 12, [4]),
        new Resign("primary", 3),
        new JoinGroup("workers", 3, "w1", "{}"u8.ToArray()),
        new UpdateMember("workers", "w1", "[]"u8.ToArray()),
        new LeaveGroup("workers", "w1"),
        new PutConfig("app", "1"u8.ToArray(), 4),
        new DeleteConfig("app", 2),
        new RollbackConfig("app", 1, 3),
        new FencedPutConfig("app", "true"u8.ToArray(), "db", 77),
        new ReserveSequence("ids", 5),
        new ApplyTransaction([new ConfigVersionIs("app", 2), new LockTokenIs("db", 9)], [new PutConfigOperation("app", "{}"u8.ToArray()), new DeleteConfigOperation("old"), new ReserveSequenceOperation("ids", 3), new ReleaseLockOperation("db", 4, 9)]),
        new BeginDistributedTransaction("transfer-1", [new ParticipantSpec("bank-a", "http://127.0.0.1:7001/tx", """{"delta":-5}"""u8.ToArray()), new ParticipantSpec("bank-b", "https://b.example/tx", "{}"u8.ToArray())], 5_000),
        new RecordParticipantVote("transfer-1", "bank-a", ParticipantVote.Abort, "insufficient funds"),
        new AbortDistributedTransaction("transfer-1", "operator"),
        new AcknowledgeDecision("transfer-1", "bank-b"),
    ];

    [Theory]
    [MemberData(nameof(EveryCommand))]
    public void Every_command_survives_encoding_with_its_stable_id(Command command)
    {
        var bytes = CommandCodec.Encode(command);
        Assert.Equal((ushort)CommandCodec.IdOf(command), BinaryPrimitives.ReadUInt16LittleEndian(bytes));
        var decoded = CommandCodec.Decode(bytes);
        Assert.Equal(CommandCodec.Encode(decoded), bytes);
        Assert.Equal(command.GetType(), decoded.GetType());
    }

    [Fact]
    public void Every_command_id_has_a_command_in_the_round_trip_list()
    {
        var covered = EveryCommand().Cast<object?[]>().Select(row => CommandCodec.IdOf((Command)row[0]!)).Order();
        Assert.Equal(Enum.GetValues<CommandId>().Order(), covered);
    }

    [Fact]
    public void An_unknown_command_id_is_a_hard_error()
    {
        var bytes = new byte[] { 0xFF, 0x7F };
        Assert.Throws<CorruptDataException>(() => CommandCodec.Decode(bytes));
        var machine = new CoordinationStateMachine();
        Assert.Throws<CorruptDataException>(() => machine.Apply(1, 0, bytes));
    }

    [Fact]
    public void Truncated_or_padded_commands_are_hard_errors()
    {
        var bytes = CommandCodec.Encode(new AcquireLock("db", 3, LockMode.Exclusive));
        Assert.Throws<CorruptDataException>(() => CommandCodec.Decode(bytes.AsSpan(0, bytes.Length - 1)));
        Assert.Throws<CorruptDataException>(() => CommandCodec.Decode([.. bytes, 0]));
    }

    [Fact]
    public void Entries_must_be_applied_in_increasing_index_order()
    {
        var machine = new CoordinationStateMachine();
        machine.Apply(5, 0, new ReserveSequence("x"));
        Assert.Throws<GrainInvariantException>(() => machine.Apply(5, 0, new ReserveSequence("x")));
    }

    [Fact]
    public void A_timestamp_outside_the_log_time_range_is_refused_before_anything_changes()
    {
        var machine = new CoordinationStateMachine();
        Assert.Throws<GrainInvariantException>(() => machine.Apply(1, -1, new CreateSession(5_000)));
        Assert.Throws<GrainInvariantException>(() => machine.Apply(1, Limits.TimestampMsMax + 1, new CreateSession(5_000)));
        Assert.Equal(0UL, machine.AppliedIndex);
        Assert.IsType<SessionCreated>(machine.Apply(1, Limits.TimestampMsMax, new CreateSession(5_000)));
    }

    [Fact]
    public void Crc32c_matches_the_standard_check_value() =>
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));

    private static GrainHarness Populated()
    {
        var h = new GrainHarness();
        var a = h.Session(10_000);
        var b = h.Session(20_000);
        h.Lock("db", a, maxHoldMs: 50_000);
        h.Wait("db", b, waitMs: 3_000);
        h.Lock("pool", b, LockMode.Semaphore, permits: 2);
        h.Expect<LeaderElected>(new Campaign("primary", a, [1]));
        h.Expect<CandidateQueued>(new Campaign("primary", b, [2]));
        h.Expect<MemberJoined>(new JoinGroup("workers", b, "", "{\"x\":1}"u8.ToArray()));
        h.Expect<ConfigPut>(new PutConfig("app", "1"u8.ToArray()));
        h.Expect<ConfigPut>(new PutConfig("app", "2"u8.ToArray()));
        h.Expect<SequenceReserved>(new ReserveSequence("ids", 3));
        return h;
    }

    [Fact]
    public void A_restored_snapshot_writes_the_same_bytes_and_answers_the_same_queries()
    {
        var h = Populated();
        var bytes = h.Machine.WriteSnapshot();
        var restored = CoordinationStateMachine.ReadSnapshot(new MemoryStream(bytes));
        Assert.Equal(bytes, restored.WriteSnapshot());
        Assert.Equal(h.Machine.AppliedIndex, restored.AppliedIndex);
        Assert.Equal(h.Machine.NextDeadlineMs, restored.NextDeadlineMs);
        Assert.Equal(h.Machine.GetLock("db"), restored.GetLock("db"), LockInfoComparer);
        Assert.Equal(h.Machine.ListSessions(), restored.ListSessions(), SessionComparer);
        Assert.Equal(h.Machine.EventsSince(0, EventFilter.All).Events, restored.EventsSince(0, EventFilter.All).Events);
    }

    [Fact]
    public void A_restored_machine_gives_the_same_results_for_the_same_future_entries()
    {
        var original = Populated();
        var copy = Populated();
        copy.Restore();
        Command[] future =
        [
            new AdvanceTime(),
            new ReleaseLock("db", 1, 3),
            new Campaign("primary", 2, [3]),
            new PutConfig("app", "3"u8.ToArray(), 2),
        ];
        foreach (var (command, step) in future.Select((c, i) => (c, i)))
        {
            original.NowMs = copy.NowMs = GrainHarness.StartMs + (step * 4_000);
            Assert.Equal(Describe(original.Apply(command)), Describe(copy.Apply(command)));
        }

        Assert.Equal(original.Machine.WriteSnapshot(), copy.Machine.WriteSnapshot());
    }

    [Fact]
    public void A_damaged_snapshot_is_refused()
    {
        var bytes = Populated().Machine.WriteSnapshot();
        var flipped = (byte[])bytes.Clone();
        flipped[bytes.Length / 2] ^= 0x10;
        Assert.Throws<CorruptDataException>(() => CoordinationStateMachine.ReadSnapshot(flipped));
        Assert.Throws<CorruptDataException>(() => CoordinationStateMachine.ReadSnapshot(bytes.AsSpan(0, bytes.Length - 1)));
        Assert.Throws<CorruptDataException>(() => CoordinationStateMachine.ReadSnapshot(bytes.AsSpan(0, 10)));
    }

    [Fact]
    public void A_snapshot_of_an_unknown_format_version_is_refused_even_with_a_valid_checksum()
    {
        var bytes = Populated().Machine.WriteSnapshot();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), CoordinationStateMachine.SnapshotFormatVersion + 1);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4), Crc32C.Compute(bytes.AsSpan(0, bytes.Length - 4)));
        var error = Assert.Throws<CorruptDataException>(() => CoordinationStateMachine.ReadSnapshot(bytes));
        Assert.Contains("format version", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_machine_round_trips()
    {
        var empty = new CoordinationStateMachine();
        var restored = CoordinationStateMachine.ReadSnapshot(empty.WriteSnapshot());
        Assert.Equal(empty.WriteSnapshot(), restored.WriteSnapshot());
    }

    internal static string Describe(CommandResult result) => result.ToString();

    private static readonly IEqualityComparer<LockInfo> LockInfoComparer = EqualityComparer<LockInfo>.Create(
        (x, y) => x!.Name == y!.Name && x.Permits == y.Permits && x.Holders.SequenceEqual(y.Holders) && x.Waiters.SequenceEqual(y.Waiters));

    private static readonly IEqualityComparer<SessionInfo> SessionComparer = EqualityComparer<SessionInfo>.Create(
        (x, y) => x!.SessionId == y!.SessionId && x.DeadlineMs == y.DeadlineMs && x.Attachments.SequenceEqual(y.Attachments));
}
