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
        var newMember = _restored.Expect<MemberJoined>(new JoinGroup("svc", newSession, "", GrainHarness.Json("{}")));
        Assert.NotEqual(lateMember.MemberId, newMember.MemberId);

        // The skipped state survives a snapshot of its own.
        var before = _restored.Machine.EncodeState();
        _restored.Restore();
        Assert.Equal(before, _restored.Machine.EncodeState());
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
