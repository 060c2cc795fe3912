using Coordination.Grains;
using Coordination.Silo.Grains;

namespace Coordination.Tests.Silo;

/// <summary>What a new leader proposes for the sessions: by the time without a leader once every member decodes it.</summary>
public sealed class LeaderDutiesTests
{
    private static Command Proposed(GrainStateMachineAdapter adapter, TimeSpan? leaderless)
    {
        var (key, command) = RequestEnvelope.Decode(Assert.Single(adapter.OnBecameLeader(leaderless)));
        Assert.Equal(0, key.Length);
        return CommandCodec.Decode(command.Span);
    }

    [Fact]
    public void At_command_level_3_a_new_leader_extends_sessions_by_the_time_it_went_without_a_leader()
    {
        var adapter = new GrainStateMachineAdapter { ProposableLevel = () => 3, ClockAhead = () => TimeSpan.Zero };

        Assert.Equal(new ExtendSessionsBy(313), Proposed(adapter, TimeSpan.FromMilliseconds(312.4)));
        // Never heard from a leader since it started (a whole cluster restarted): a whole TTL, as before.
        Assert.IsType<ExtendAllSessions>(Proposed(adapter, null));
    }

    [Fact]
    public void A_new_leader_whose_clock_is_ahead_adds_the_jump_its_stamps_make_in_log_time()
    {
        // Its stamps move log time on by as much as its clock is ahead of the silo it takes over from:
        // without this, every deadline would come that much sooner than the clients were told.
        var ahead = new GrainStateMachineAdapter { ProposableLevel = () => 3, ClockAhead = () => TimeSpan.FromSeconds(2) };
        Assert.Equal(new ExtendSessionsBy(2_300), Proposed(ahead, TimeSpan.FromMilliseconds(300)));

        // A member's clock not measured yet: how far log time jumps is unknown, so a whole TTL.
        var unknown = new GrainStateMachineAdapter { ProposableLevel = () => 3, ClockAhead = () => null };
        Assert.IsType<ExtendAllSessions>(Proposed(unknown, TimeSpan.FromMilliseconds(300)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Before_every_member_decodes_level_3_a_new_leader_gives_each_session_a_whole_ttl(int level)
    {
        var adapter = new GrainStateMachineAdapter { ProposableLevel = () => level, ClockAhead = () => TimeSpan.Zero };

        Assert.IsType<ExtendAllSessions>(Proposed(adapter, TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public void Until_the_member_survey_sets_the_level_a_new_leader_proposes_nothing_an_older_member_cannot_decode()
    {
        Assert.IsType<ExtendAllSessions>(Proposed(new GrainStateMachineAdapter(), TimeSpan.FromMilliseconds(300)));
    }
}
