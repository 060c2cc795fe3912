using Coordination.Grains;

namespace Coordination.Tests.Grains;

public class MembershipTests
{
    private readonly GrainHarness _h = new();

    [Fact]
    public void A_member_joins_with_metadata_and_is_listed()
    {
        var s = _h.Session();
        var joined = _h.Expect<MemberJoined>(new JoinGroup("workers", s, "w1", GrainHarness.Json("{\"zone\":\"a\"}")));
        Assert.Equal("w1", joined.MemberId);
        var member = Assert.Single(_h.Machine.ListMembers("workers"));
        Assert.Equal(new Member("w1", s, member.Metadata, _h.Index, _h.Index), member);
        Assert.Equal("{\"zone\":\"a\"}"u8.ToArray(), member.Metadata);
    }

    [Fact]
    public void An_empty_member_id_gets_a_generated_unique_one()
    {
        var a = _h.Session();
        var b = _h.Session();
        var first = _h.Expect<MemberJoined>(new JoinGroup("workers", a, "", [])).MemberId;
        var second = _h.Expect<MemberJoined>(new JoinGroup("workers", b, "", [])).MemberId;
        Assert.NotEqual(first, second);
        Assert.StartsWith("_", first);
    }

    [Fact]
    public void Join_rejections_leave_the_group_unchanged()
    {
        var a = _h.Session();
        var b = _h.Session();
        _h.Reject(new JoinGroup("workers", a, "_reserved", []), ErrorCode.InvalidName);
        _h.Reject(new JoinGroup("workers", a, "bad id", []), ErrorCode.InvalidName);
        _h.Reject(new JoinGroup("workers", a, "w1", GrainHarness.Json("{not json")), ErrorCode.InvalidArgument);
        _h.Reject(new JoinGroup("workers", a, "w1", new byte[Limits.MetadataBytesMax + 1]), ErrorCode.LimitExceeded);
        _h.Reject(new JoinGroup("workers", 777, "w1", []), ErrorCode.SessionNotFound);
        _h.Expect<MemberJoined>(new JoinGroup("workers", a, "w1", []));
        _h.Reject(new JoinGroup("workers", b, "w1", []), ErrorCode.AlreadyExists);
        _h.Reject(new JoinGroup("workers", a, "w2", []), ErrorCode.AlreadyExists);
    }

    [Fact]
    public void A_group_accepts_at_most_the_member_limit()
    {
        _h.CheckEveryStep = false;
        for (var i = 0; i < Limits.MembersPerGroupMax; i++)
        {
            _h.Expect<MemberJoined>(new JoinGroup("workers", _h.Session(), "", []));
        }

        _h.CheckEveryStep = true;
        _h.Machine.CheckInvariants();
        _h.Reject(new JoinGroup("workers", _h.Session(), "", []), ErrorCode.LimitExceeded);
    }

    [Fact]
    public void Metadata_is_updated_and_the_update_is_an_event()
    {
        var s = _h.Session();
        _h.Expect<MemberJoined>(new JoinGroup("workers", s, "w1", []));
        _h.Expect<MemberUpdated>(new UpdateMember("workers", "w1", GrainHarness.Json("[1,2]")));
        var member = Assert.Single(_h.Machine.ListMembers("workers"));
        Assert.Equal("[1,2]"u8.ToArray(), member.Metadata);
        Assert.Equal(_h.Index, member.UpdatedRevision);
        Assert.Equal(EventType.MemberUpdated, Assert.Single(_h.EventsAt(_h.Index)).Type);
    }

    [Fact]
    public void Update_rejections_leave_the_member_unchanged()
    {
        var s = _h.Session();
        _h.Expect<MemberJoined>(new JoinGroup("workers", s, "w1", []));
        _h.Reject(new UpdateMember("workers", "w2", []), ErrorCode.NotFound);
        _h.Reject(new UpdateMember("workers", "w1", GrainHarness.Json("{")), ErrorCode.InvalidArgument);
        _h.Reject(new UpdateMember("workers", "w1", new byte[Limits.MetadataBytesMax + 1]), ErrorCode.LimitExceeded);
    }

    [Fact]
    public void A_member_leaves_and_its_session_is_free_to_join_again()
    {
        var s = _h.Session();
        _h.Expect<MemberJoined>(new JoinGroup("workers", s, "w1", []));
        _h.Expect<MemberLeft>(new LeaveGroup("workers", "w1"));
        Assert.Empty(_h.Machine.ListMembers("workers"));
        Assert.Equal(0, _h.Machine.Counts.Groups);
        _h.Reject(new LeaveGroup("workers", "w1"), ErrorCode.NotFound);
        _h.Expect<MemberJoined>(new JoinGroup("workers", s, "w1", []));
    }

    [Fact]
    public void A_member_expires_with_its_session()
    {
        var s = _h.Session(5_000);
        _h.Expect<MemberJoined>(new JoinGroup("workers", s, "w1", []));
        _h.Tick(5_000);
        Assert.Empty(_h.Machine.ListMembers("workers"));
        Assert.Contains(_h.EventsAt(_h.Index), e => e.Type == EventType.MemberExpired && e.Subject == "w1");
    }
}
