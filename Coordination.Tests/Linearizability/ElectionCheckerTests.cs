using Coordination.Tests.Linearizability.Models;

namespace Coordination.Tests.Linearizability;

/// <summary>
/// Known election histories: linearizable ones are accepted and violating ones rejected, with
/// unknown outcomes on both sides. An operation written (1, 3) is invoked at 1 and completes at 3.
/// </summary>
public class ElectionCheckerTests
{
    private static Operation<ElectionInput, ElectionOutput> Op(int client, long invoke, long complete, ElectionInput input, ElectionOutput output) =>
        Operation<ElectionInput, ElectionOutput>.Ok(client, input, output, invoke, complete);

    private static Operation<ElectionInput, ElectionOutput> Unknown(int client, long invoke, ElectionInput input) =>
        Operation<ElectionInput, ElectionOutput>.Unknown(client, input, invoke);

    private static ElectionInput Campaign(long session, string value) => new("e", ElectionOp.Campaign, session, Value: value);

    private static ElectionInput Resign(long session) => new("e", ElectionOp.Resign, session);

    private static ElectionInput Proclaim(long token, string value) => new("e", ElectionOp.Proclaim, Token: token, Value: value);

    private static ElectionInput Ended(long session) => new("e", ElectionOp.SessionEnded, session);

    private static ElectionInput Observe { get; } = new("e", ElectionOp.Observe);

    private static Operation<ElectionInput, ElectionOutput> Sees(int client, long invoke, long complete, long leader, long token, string value, params long[] candidates) =>
        Op(client, invoke, complete, Observe, ElectionOutput.Observed(leader, token, value, candidates));

    private static Operation<ElectionInput, ElectionOutput> SeesNoLeader(int client, long invoke, long complete) =>
        Op(client, invoke, complete, Observe, ElectionOutput.NoLeader);

    private static Verdict Check(params Operation<ElectionInput, ElectionOutput>[] history) =>
        LinearizabilityChecker.Check(ElectionModel.Instance, history).Verdict;

    [Fact]
    public void Campaign_proclaim_resign_and_succession_in_order_are_linearizable() =>
        Assert.Equal(Verdict.Linearizable, Check(
            SeesNoLeader(3, 0, 1),
            Op(1, 2, 3, Campaign(1, "a"), ElectionOutput.Elected(10)),
            Op(2, 4, 5, Campaign(2, "b"), ElectionOutput.Queued(1)),
            Sees(3, 6, 7, 1, 10, "a", 1, 2),
            Op(1, 8, 9, Proclaim(10, "a2"), ElectionOutput.Proclaimed(10)),
            Sees(3, 10, 11, 1, 10, "a2", 1, 2),
            Op(1, 12, 13, Resign(1), ElectionOutput.Resigned(true)),
            Op(1, 14, 15, Proclaim(10, "a3"), ElectionOutput.WrongToken),
            Sees(3, 16, 17, 2, 14, "b", 2),
            Op(2, 18, 19, Resign(2), ElectionOutput.Resigned(true)),
            Op(2, 20, 21, Resign(2), ElectionOutput.NotFound),
            Op(1, 22, 23, Proclaim(14, "x"), ElectionOutput.NotFound),
            SeesNoLeader(3, 24, 25)));

    [Fact]
    public void Two_concurrent_campaigns_into_an_empty_election_cannot_both_lead() =>
        Assert.Equal(Verdict.NotLinearizable, Check(
            Op(1, 0, 5, Campaign(1, "a"), ElectionOutput.Elected(10)),
            Op(2, 1, 6, Campaign(2, "b"), ElectionOutput.Elected(11))));

    [Fact]
    public void Concurrent_campaigns_lead_and_queue_in_either_order() =>
        Assert.Equal(Verdict.Linearizable, Check(
            Op(1, 0, 5, Campaign(1, "a"), ElectionOutput.Queued(1)),
            Op(2, 1, 6, Campaign(2, "b"), ElectionOutput.Elected(11)),
            Sees(3, 7, 8, 2, 11, "b", 2, 1)));

    [Fact]
    public void A_successor_whose_term_is_not_above_the_resigned_leaders_is_a_violation() =>
        Assert.Equal(Verdict.NotLinearizable, Check(
            Op(1, 0, 1, Campaign(1, "a"), ElectionOutput.Elected(10)),
            Op(2, 2, 3, Campaign(2, "b"), ElectionOutput.Queued(1)),
            Op(1, 4, 5, Resign(1), ElectionOutput.Resigned(true)),
            Sees(3, 6, 7, 2, 10, "b", 2)));

    [Fact]
    public void No_leader_while_a_candidate_is_known_to_stand_is_a_violation() =>
        Assert.Equal(Verdict.NotLinearizable, Check(
            Op(1, 0, 1, Campaign(1, "a"), ElectionOutput.Elected(10)),
            SeesNoLeader(2, 2, 3)));

    [Fact]
    public void A_proclaim_with_a_term_that_ended_is_a_violation() =>
        Assert.Equal(Verdict.NotLinearizable, Check(
            Op(1, 0, 1, Campaign(1, "a"), ElectionOutput.Elected(10)),
            Op(2, 2, 3, Campaign(2, "b"), ElectionOutput.Queued(1)),
            Op(1, 4, 5, Resign(1), ElectionOutput.Resigned(true)),
            Op(1, 6, 7, Proclaim(10, "late"), ElectionOutput.Proclaimed(10))));

    [Fact]
    public void An_observation_must_see_the_proclaimed_value_once_the_proclaim_completed() =>
        Assert.Equal(Verdict.NotLinearizable, Check(
            Op(1, 0, 1, Campaign(1, "a"), ElectionOutput.Elected(10)),
            Op(1, 2, 3, Proclaim(10, "a2"), ElectionOutput.Proclaimed(10)),
            Sees(2, 4, 5, 1, 10, "a", 1)));

    [Fact]
    public void A_campaign_with_an_unknown_outcome_may_lead_with_a_term_nobody_saw() =>
        Assert.Equal(Verdict.Linearizable, Check(
            Unknown(1, 0, Campaign(1, "a")),
            Op(2, 5, 6, Campaign(2, "b"), ElectionOutput.Queued(1)),
            Sees(3, 7, 8, 1, 7, "a", 1, 2),
            Op(3, 9, 10, Proclaim(7, "c"), ElectionOutput.Proclaimed(7)),
            Sees(3, 11, 12, 1, 7, "c", 1, 2)));

    [Fact]
    public void A_campaign_with_an_unknown_outcome_may_never_take_effect() =>
        Assert.Equal(Verdict.Linearizable, Check(
            Unknown(1, 0, Campaign(1, "a")),
            Op(2, 5, 6, Campaign(2, "b"), ElectionOutput.Elected(9)),
            Sees(3, 7, 8, 2, 9, "b", 2)));

    [Fact]
    public void A_hidden_term_once_seen_is_fixed() =>
        Assert.Equal(Verdict.NotLinearizable, Check(
            Unknown(1, 0, Campaign(1, "a")),
            Sees(3, 7, 8, 1, 7, "a", 1),
            Sees(3, 9, 10, 1, 8, "a", 1)));

    [Fact]
    public void A_resignation_with_an_unknown_outcome_may_hand_over_but_a_leader_never_comes_back() =>
        Assert.Equal(Verdict.NotLinearizable, Check(
            Op(1, 0, 1, Campaign(1, "a"), ElectionOutput.Elected(5)),
            Op(2, 2, 3, Campaign(2, "b"), ElectionOutput.Queued(1)),
            Unknown(1, 4, Resign(1)),
            Sees(3, 6, 7, 2, 9, "b", 2),
            Sees(3, 8, 9, 1, 5, "a", 1, 2)));

    [Fact]
    public void A_resignation_with_an_unknown_outcome_may_hand_over() =>
        Assert.Equal(Verdict.Linearizable, Check(
            Op(1, 0, 1, Campaign(1, "a"), ElectionOutput.Elected(5)),
            Op(2, 2, 3, Campaign(2, "b"), ElectionOutput.Queued(1)),
            Unknown(1, 4, Resign(1)),
            Sees(3, 6, 7, 1, 5, "a", 1, 2),
            Sees(3, 8, 9, 2, 9, "b", 2)));

    [Fact]
    public void A_session_end_removes_the_leader_anywhere_in_its_window_but_not_after() =>
        Assert.Equal(
            (Verdict.Linearizable, Verdict.NotLinearizable),
            (Check(
                Op(1, 0, 1, Campaign(1, "a"), ElectionOutput.Elected(3)),
                Op(2, 2, 3, Campaign(2, "b"), ElectionOutput.Queued(1)),
                Op(1, 4, 10, Ended(1), ElectionOutput.Ended),
                Sees(3, 5, 6, 1, 3, "a", 1, 2),
                Sees(3, 11, 12, 2, 8, "b", 2)),
            Check(
                Op(1, 0, 1, Campaign(1, "a"), ElectionOutput.Elected(3)),
                Op(2, 2, 3, Campaign(2, "b"), ElectionOutput.Queued(1)),
                Op(1, 4, 10, Ended(1), ElectionOutput.Ended),
                Sees(3, 11, 12, 1, 3, "a", 1, 2))));

    [Fact]
    public void A_queued_position_must_count_the_candidates_ahead() =>
        Assert.Equal(Verdict.NotLinearizable, Check(
            Op(1, 0, 1, Campaign(1, "a"), ElectionOutput.Elected(3)),
            Op(2, 2, 3, Campaign(2, "b"), ElectionOutput.Queued(1)),
            Op(3, 4, 5, Campaign(3, "c"), ElectionOutput.Queued(1))));

    [Fact]
    public void A_second_campaign_by_a_candidate_is_refused() =>
        Assert.Equal(
            (Verdict.Linearizable, Verdict.NotLinearizable),
            (Check(
                Op(1, 0, 1, Campaign(1, "a"), ElectionOutput.Elected(3)),
                Op(1, 2, 3, Campaign(1, "a"), ElectionOutput.AlreadyCandidate)),
            Check(
                Op(1, 0, 1, Campaign(1, "a"), ElectionOutput.Elected(3)),
                Op(1, 2, 3, Campaign(1, "a"), ElectionOutput.Queued(1)))));

    [Fact]
    public void A_proclaim_with_an_unknown_outcome_may_or_may_not_change_the_value() =>
        Assert.Equal(
            (Verdict.Linearizable, Verdict.Linearizable, Verdict.NotLinearizable),
            (Check(
                Op(1, 0, 1, Campaign(1, "a"), ElectionOutput.Elected(3)),
                Unknown(1, 2, Proclaim(3, "b")),
                Sees(2, 4, 5, 1, 3, "a", 1),
                Sees(2, 6, 7, 1, 3, "b", 1)),
            Check(
                Op(1, 0, 1, Campaign(1, "a"), ElectionOutput.Elected(3)),
                Unknown(1, 2, Proclaim(3, "b")),
                Sees(2, 4, 5, 1, 3, "a", 1)),
            Check(
                Op(1, 0, 1, Campaign(1, "a"), ElectionOutput.Elected(3)),
                Unknown(1, 2, Proclaim(3, "b")),
                Sees(2, 4, 5, 1, 3, "b", 1),
                Sees(2, 6, 7, 1, 3, "a", 1))));
}
