using System.Buffers.Binary;
using Coordination.Grains;

namespace Coordination.Tests.Grains;

/// <summary>
/// A new cluster started from a saved state, while the old cluster went on after the save: nothing
/// the old one handed out after the save may be handed out again, and its watchers must be told.
/// </summary>
public sealed class RestoreSkipTests
{
    private const ulong Skip = 1_000;
    private readonly GrainHarness _old = new();
    private readonly GrainHarness _restored = new();

    [Fact]
    public void Skipping_revisions_hands_out_no_revision_token_session_or_sequence_value_the_old_cluster_did()
    {
        var holder = _old.Session();
        var firstToken = _old.Lock("db", holder);
        _old.Expect<SequenceReserved>(new ReserveSequence("ids", 5));
        var saved = _old.Machine.WriteSnapshot();
        var savedIndex = _old.Index;

        // The old cluster goes on after the save.
        _old.Expect<LockReleased>(new ReleaseLock("db", holder, firstToken));
        var lateSession = _old.Session();
        var lateToken = _old.Lock("db", lateSession);
        var lateIds = _old.Expect<SequenceReserved>(new ReserveSequence("ids", 3));
        var newSequence = _old.Expect<SequenceReserved>(new ReserveSequence("orders", 1_000));
        var lateMember = _old.Expect<MemberJoined>(new JoinGroup("svc", lateSession, "", GrainHarness.Json("{}")));

        _restored.Load(saved);
        _restored.SkipRevisions(Skip);
        Assert.Equal(savedIndex + Skip, _restored.Index);
        _restored.Machine.CheckInvariants();

        // Watchers resuming from any revision before the new start are told to start over.
        Assert.True(_restored.Machine.EventsSince(savedIndex, EventFilter.All).Compacted);
        Assert.True(_restored.Machine.EventsSince(_old.Index, EventFilter.All).Compacted);
        Assert.False(_restored.Machine.EventsSince(_restored.Index, EventFilter.All).Compacted);

        // The saved holder still holds with its token; the next grant's token is above the old cluster's.
        _restored.Expect<LockReleased>(new ReleaseLock("db", holder, firstToken));
        var newSession = _restored.Session();
        Assert.True(newSession > lateSession, $"session id {newSession} after the old cluster's {lateSession}");
        Assert.True(_restored.Lock("db", newSession) > lateToken);
        var newIds = _restored.Expect<SequenceReserved>(new ReserveSequence("ids", 1));
        Assert.True(newIds.First > lateIds.First + (ulong)lateIds.Count - 1, $"sequence value {newIds.First} after the old cluster's {lateIds.First + 2}");
        var orders = _restored.Expect<SequenceReserved>(new ReserveSequence("orders", 1));
        Assert.True(orders.First > newSequence.First + 999, $"a sequence first used after the save starts above the floor, at {orders.First}");
        Assert.Equal(orders.First, _restored.Machine.GetSequence("orders"));
        Assert.Equal(Skip, _restored.Machine.GetSequence("never-used"));
        var newMember = _restored.Expect<MemberJoined>(new JoinGroup("svc", newSession, "", GrainHarness.Json("{}")));
        Assert.NotEqual(lateMember.MemberId, newMember.MemberId);

        // The skipped state survives a snapshot of its own (version 3: it records the floor).
        var before = _restored.Machine.EncodeState();
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(_restored.Machine.WriteSnapshot().AsSpan(4)));
        _restored.Restore();
        Assert.Equal(before, _restored.Machine.EncodeState());
        Assert.Equal(Skip, _restored.Machine.SequenceFloor);
        Assert.True(_restored.Expect<SequenceReserved>(new ReserveSequence("later", 1)).First > Skip);
    }

    [Fact]
    public void A_state_without_a_floor_is_still_written_in_the_previous_format()
    {
        _old.Expect<SequenceReserved>(new ReserveSequence("ids", 5));
        var snapshot = _old.Machine.WriteSnapshot();
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(snapshot.AsSpan(4)));
        _old.Load(snapshot);
        Assert.Equal(0UL, _old.Machine.SequenceFloor);
        Assert.Equal(6UL, _old.Expect<SequenceReserved>(new ReserveSequence("ids", 1)).First);
    }

    [Fact]
    public void Skipping_nothing_changes_nothing()
    {
        var session = _old.Session();
        _old.Lock("db", session);
        _old.Load(_old.Machine.WriteSnapshot());
        var before = _old.Machine.EncodeState();
        _old.SkipRevisions(0);
        Assert.Equal(before, _old.Machine.EncodeState());
        Assert.False(_old.Machine.EventsSince(0, EventFilter.All).Compacted);
    }
}
