using System.Buffers.Binary;
using Coordination.Cli.Commands;
using Coordination.Grains;
using Coordination.Silo.Grains;

namespace Coordination.Tests.Silo;

/// <summary>The whole-state snapshot's envelope: every byte of a saved state is under its checksum.</summary>
public class SavedStateFormatTests
{
    [Fact]
    public void A_sealed_state_opens_to_its_index_and_body()
    {
        var body = "grains and keys"u8.ToArray();
        var (index, opened) = SavedStateFormat.Open(SavedStateFormat.Seal(42, body));
        Assert.Equal(42UL, index);
        Assert.Equal(body, opened.ToArray());
    }

    [Fact]
    public void Any_flipped_bit_or_truncation_is_refused()
    {
        var sealedState = SavedStateFormat.Seal(7, "a small body of a saved state"u8);
        for (var at = 0; at < sealedState.Length; at++)
        {
            for (var bit = 0; bit < 8; bit++)
            {
                var damaged = (byte[])sealedState.Clone();
                damaged[at] ^= (byte)(1 << bit);
                Assert.Throws<CorruptDataException>(() => SavedStateFormat.Open(damaged));
            }
        }

        for (var length = 0; length < sealedState.Length; length++)
        {
            Assert.Throws<CorruptDataException>(() => SavedStateFormat.Open(sealedState.AsMemory(0, length)));
        }
    }

    [Fact]
    public void A_state_saved_before_the_checksum_is_still_read()
    {
        var legacy = new byte[12 + 3];
        BinaryPrimitives.WriteUInt32LittleEndian(legacy, SavedStateFormat.MagicWithoutChecksum);
        BinaryPrimitives.WriteUInt64LittleEndian(legacy.AsSpan(4), 9);
        "abc"u8.CopyTo(legacy.AsSpan(12));

        var (index, body) = SavedStateFormat.Open(legacy);
        Assert.Equal(9UL, index);
        Assert.Equal("abc"u8.ToArray(), body.ToArray());
    }

    [Fact]
    public void Raft_snapshots_keep_the_layout_older_silos_read_and_exports_are_sealed()
    {
        var adapter = new GrainStateMachineAdapter();
        adapter.Apply(1, 1_000, RequestEnvelope.Encode("deploy-42", CommandCodec.Encode(new PutConfig("app", "1"u8.ToArray(), PutConfig.AnyVersion))));
        var raft = adapter.WriteSnapshot();
        Assert.Equal(SavedStateFormat.MagicWithoutChecksum, BinaryPrimitives.ReadUInt32LittleEndian(raft));

        var saved = SavedStateFormat.Seal(raft);
        Assert.Equal(SavedStateFormat.Magic, BinaryPrimitives.ReadUInt32LittleEndian(saved));
        Assert.Equal(raft.AsSpan(4).ToArray(), saved.AsSpan(4, raft.Length - 4).ToArray());
        foreach (var state in new[] { raft, saved })
        {
            var restored = new GrainStateMachineAdapter();
            restored.RestoreSnapshot(1, state);
            Assert.Equal(1, restored.IdempotencyKeys);
        }
    }

    [Fact]
    public void A_damaged_idempotency_key_in_a_saved_state_is_caught_on_restore_and_by_the_cli_check()
    {
        var adapter = new GrainStateMachineAdapter();
        adapter.Apply(1, 1_000, RequestEnvelope.Encode("deploy-42", CommandCodec.Encode(new PutConfig("app", "1"u8.ToArray(), PutConfig.AnyVersion))));
        var saved = SavedStateFormat.Seal(adapter.WriteSnapshot());

        // The key's text sits after the grains, outside the grains' own checksum.
        var at = IndexOf(saved, "deploy-42"u8);
        Assert.True(at > 0);
        var restored = new GrainStateMachineAdapter();
        restored.RestoreSnapshot(1, saved);
        Assert.Equal(1, restored.IdempotencyKeys);
        Assert.Null(SnapshotCommands.Check(saved));

        saved[at] ^= 0x01;
        Assert.Throws<CorruptDataException>(() => new GrainStateMachineAdapter().RestoreSnapshot(1, saved));
        Assert.Contains("checksum", SnapshotCommands.Check(saved));
    }

    [Fact]
    public void A_remembered_transaction_answer_survives_a_snapshot_with_every_operation_result()
    {
        // Each inner result is declared as the abstract CommandResult: before the fix the snapshot
        // held {"Results":[{},{}]} and restoring it threw, so a silo that had snapshotted within
        // 65,536 requests of a keyed transaction could not start again, nor a follower install it.
        var adapter = new GrainStateMachineAdapter();
        var transaction = RequestEnvelope.Encode("txn-7", CommandCodec.Encode(new ApplyTransaction([], [
            new PutConfigOperation("a", "1"u8.ToArray()),
            new PutConfigOperation("b", "2"u8.ToArray()),
        ])));
        var first = Assert.IsType<AppliedRequest>(adapter.Apply(1, 1_000, transaction));
        var answered = Assert.IsType<TransactionApplied>(first.Result);

        var restored = new GrainStateMachineAdapter();
        restored.RestoreSnapshot(1, adapter.WriteSnapshot());
        var retried = Assert.IsType<AppliedRequest>(restored.Apply(2, 1_001, transaction));

        var again = Assert.IsType<TransactionApplied>(retried.Result);
        Assert.Equal(answered.Results, again.Results);
        Assert.Equal(first.Revision, retried.Revision);
        Assert.Equal(["a", "b"], again.Results.Cast<ConfigPut>().Select(p => p.Name));
    }

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle);
}
