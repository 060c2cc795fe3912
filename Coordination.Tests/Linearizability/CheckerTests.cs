using Coordination.Tests.Linearizability.Models;

namespace Coordination.Tests.Linearizability;

/// <summary>
/// Known histories for each model: linearizable ones must be accepted and violating ones rejected,
/// with operations whose outcome is unknown on both sides. Times are small integers; an operation
/// written (1, 3) is invoked at 1 and completes at 3.
/// </summary>
public class CheckerTests
{
    private static Operation<TIn, TOut> Ok<TIn, TOut>(int client, long invoke, long complete, TIn input, TOut output)
        where TOut : class => Operation<TIn, TOut>.Ok(client, input, output, invoke, complete);

    private static Operation<TIn, TOut> Unknown<TIn, TOut>(int client, long invoke, TIn input)
        where TOut : class => Operation<TIn, TOut>.Unknown(client, input, invoke);

    private static Verdict Check<TState, TIn, TOut>(IModel<TState, TIn, TOut> model, params Operation<TIn, TOut>[] history)
        where TState : notnull
        where TOut : class => LinearizabilityChecker.Check(model, history).Verdict;

    // --- config documents ---

    private static Operation<ConfigInput, ConfigOutput> Put(int c, long a, long b, string v, long version) =>
        Ok(c, a, b, new ConfigInput("doc", ConfigOp.Put, v), ConfigOutput.Written(version));

    private static Operation<ConfigInput, ConfigOutput> Cas(int c, long a, long b, long expected, string v, ConfigOutput output) =>
        Ok(c, a, b, new ConfigInput("doc", ConfigOp.CompareAndSet, v, expected), output);

    private static Operation<ConfigInput, ConfigOutput> Get(int c, long a, long b, long version, string? v) =>
        Ok(c, a, b, new ConfigInput("doc", ConfigOp.Get), ConfigOutput.Read(version, v));

    [Fact]
    public void Empty_history_is_linearizable() =>
        Assert.Equal(Verdict.Linearizable, Check(ConfigModel.Instance));

    [Fact]
    public void Concurrent_puts_may_be_ordered_either_way_and_a_read_sees_the_later() =>
        Assert.Equal(Verdict.Linearizable, Check(ConfigModel.Instance,
            Put(1, 0, 10, "a", 2), Put(2, 1, 9, "b", 1), Get(3, 11, 12, 2, "a")));

    [Fact]
    public void A_read_after_a_completed_write_that_sees_the_old_value_is_a_stale_read() =>
        Assert.Equal(Verdict.NotLinearizable, Check(ConfigModel.Instance,
            Put(1, 0, 1, "a", 1), Put(1, 2, 3, "b", 2), Get(2, 4, 5, 1, "a")));

    [Fact]
    public void A_read_concurrent_with_a_write_may_see_either_value() =>
        Assert.Equal(Verdict.Linearizable, Check(ConfigModel.Instance,
            Put(1, 0, 1, "a", 1), Put(1, 2, 10, "b", 2), Get(2, 3, 4, 1, "a"), Get(3, 5, 6, 2, "b")));

    [Fact]
    public void Two_reads_may_not_see_a_write_undone() =>
        Assert.Equal(Verdict.NotLinearizable, Check(ConfigModel.Instance,
            Put(1, 0, 1, "a", 1), Put(1, 2, 10, "b", 2), Get(2, 3, 4, 2, "b"), Get(3, 5, 6, 1, "a")));

    [Fact]
    public void Two_compare_and_sets_at_the_same_version_cannot_both_succeed() =>
        Assert.Equal(Verdict.NotLinearizable, Check(ConfigModel.Instance,
            Put(1, 0, 1, "a", 1), Cas(1, 2, 5, 1, "b", ConfigOutput.Written(2)), Cas(2, 2, 5, 1, "c", ConfigOutput.Written(2))));

    [Fact]
    public void A_compare_and_set_loses_to_a_concurrent_one_with_a_mismatch() =>
        Assert.Equal(Verdict.Linearizable, Check(ConfigModel.Instance,
            Put(1, 0, 1, "a", 1), Cas(1, 2, 5, 1, "b", ConfigOutput.Written(2)), Cas(2, 2, 5, 1, "c", ConfigOutput.Mismatch), Get(3, 6, 7, 2, "b")));

    [Fact]
    public void A_mismatch_at_the_current_version_is_a_violation() =>
        Assert.Equal(Verdict.NotLinearizable, Check(ConfigModel.Instance,
            Put(1, 0, 1, "a", 1), Cas(1, 2, 3, 1, "b", ConfigOutput.Mismatch)));

    [Fact]
    public void A_timed_out_write_may_take_effect_later_than_its_timeout() =>
        Assert.Equal(Verdict.Linearizable, Check(ConfigModel.Instance,
            Put(1, 0, 1, "a", 1), Unknown<ConfigInput, ConfigOutput>(2, 2, new ConfigInput("doc", ConfigOp.Put, "x")),
            Get(3, 10, 11, 1, "a"), Get(3, 12, 13, 2, "x"), Get(3, 14, 15, 2, "x")));

    [Fact]
    public void A_timed_out_write_may_never_take_effect() =>
        Assert.Equal(Verdict.Linearizable, Check(ConfigModel.Instance,
            Put(1, 0, 1, "a", 1), Unknown<ConfigInput, ConfigOutput>(2, 2, new ConfigInput("doc", ConfigOp.Put, "x")), Get(3, 10, 11, 1, "a")));

    [Fact]
    public void A_timed_out_write_cannot_take_effect_before_its_invoke() =>
        Assert.Equal(Verdict.NotLinearizable, Check(ConfigModel.Instance,
            Get(3, 0, 1, 1, "x"), Unknown<ConfigInput, ConfigOutput>(2, 2, new ConfigInput("doc", ConfigOp.Put, "x"))));

    [Fact]
    public void A_timed_out_write_takes_effect_at_most_once() =>
        Assert.Equal(Verdict.NotLinearizable, Check(ConfigModel.Instance,
            Unknown<ConfigInput, ConfigOutput>(2, 0, new ConfigInput("doc", ConfigOp.Put, "x")),
            Get(3, 1, 2, 1, "x"), Put(1, 3, 4, "a", 2), Get(3, 5, 6, 3, "x")));

    [Fact]
    public void A_failed_write_never_takes_effect() =>
        Assert.Equal(Verdict.NotLinearizable, Check(ConfigModel.Instance,
            Operation<ConfigInput, ConfigOutput>.Fail(2, new ConfigInput("doc", ConfigOp.Put, "x"), 0, 1), Get(3, 2, 3, 1, "x")));

    [Fact]
    public void Documents_are_checked_apart_and_one_bad_document_fails_the_whole_history()
    {
        var history = new[]
        {
            Put(1, 0, 1, "a", 1),
            Ok(2, 0, 1, new ConfigInput("other", ConfigOp.Put, "z"), ConfigOutput.Written(1)),
            Ok(2, 2, 3, new ConfigInput("other", ConfigOp.Get), ConfigOutput.Read(0, null)),
        };
        var result = LinearizabilityChecker.Check(ConfigModel.Instance, history);
        Assert.Equal(Verdict.NotLinearizable, result.Verdict);
        Assert.Equal(["doc", "other"], result.Partitions.Select(p => p.Partition));
        Assert.Equal([Verdict.Linearizable, Verdict.NotLinearizable], result.Partitions.Select(p => p.Verdict));
        Assert.Equal("other", result.FirstFailure!.Partition);
        Assert.Equal(2, result.FirstFailure.Stuck);
    }

    [Fact]
    public void A_search_over_its_step_budget_answers_unknown_never_linearizable()
    {
        // Twenty concurrent puts with distinct versions: linearizable, but not in ten steps.
        var history = Enumerable.Range(1, 20).Select(i => Put(i, 0, 100, $"v{i}", 21 - i)).ToArray();
        Assert.Equal(Verdict.Unknown, LinearizabilityChecker.Check(ConfigModel.Instance, history, new CheckOptions { StepsPerPartitionMax = 10 }).Verdict);
        Assert.Equal(Verdict.Linearizable, LinearizabilityChecker.Check(ConfigModel.Instance, history).Verdict);
    }

    [Fact]
    public void A_partition_over_its_operation_limit_answers_unknown()
    {
        var history = Enumerable.Range(1, 5).Select(i => Put(1, 2 * i, 2 * i + 1, "v", i)).ToArray();
        Assert.Equal(Verdict.Unknown, LinearizabilityChecker.Check(ConfigModel.Instance, history, new CheckOptions { OperationsPerPartitionMax = 4 }).Verdict);
    }

    [Fact]
    public void The_cache_makes_concurrent_writes_cost_subsets_not_orders()
    {
        // 14 concurrent unknown writes and an impossible read: refuting it means trying every
        // subset of writes before the read. With the cache of (linearized set, state) pairs that is
        // 2^14 sets; without it, every order of every subset (more than 14! = 8.7e10).
        var history = Enumerable.Range(0, 14).Select(i => Unknown<ConfigInput, ConfigOutput>(i, 0, new ConfigInput("doc", ConfigOp.Put, "x")))
            .Append(Get(99, 1, 2, 15, "x")).ToArray();
        var result = LinearizabilityChecker.Check(ConfigModel.Instance, history, new CheckOptions { StepsPerPartitionMax = 1_000_000 });
        Assert.Equal(Verdict.NotLinearizable, result.Verdict);
        Assert.Equal(14, result.FirstFailure!.Stuck);
    }

    [Fact]
    public void Operations_that_change_nothing_are_taken_without_branching()
    {
        // 40 reads that span the whole history and a stale read at the end: with a branch per
        // read the search would try 2^40 sets of reads before refuting it.
        var history = Enumerable.Range(0, 40).Select(i => Get(i, 0, 100, 0, null))
            .Append(Put(98, 1, 2, "a", 1)).Append(Get(99, 3, 4, 0, null)).ToArray();
        var result = LinearizabilityChecker.Check(ConfigModel.Instance, history, new CheckOptions { StepsPerPartitionMax = 10_000 });
        Assert.Equal(Verdict.NotLinearizable, result.Verdict);
    }

    // --- locks with fencing ---

    private static Operation<LockInput, LockOutput> Acquire(int c, long a, long b, long session, LockOutput output) =>
        Ok(c, a, b, new LockInput("l", LockOp.Acquire, session), output);

    private static Operation<LockInput, LockOutput> Release(int c, long a, long b, long session, long token, LockOutput output) =>
        Ok(c, a, b, new LockInput("l", LockOp.Release, session, token), output);

    [Fact]
    public void Lock_grants_in_turn_with_increasing_tokens_are_linearizable() =>
        Assert.Equal(Verdict.Linearizable, Check(LockModel.Instance,
            Acquire(1, 0, 1, 1, LockOutput.Granted(5)), Acquire(2, 2, 3, 2, LockOutput.Busy),
            Release(1, 4, 5, 1, 5, LockOutput.Released), Acquire(2, 6, 7, 2, LockOutput.Granted(9))));

    [Fact]
    public void Lock_two_holders_at_once_is_a_violation() =>
        Assert.Equal(Verdict.NotLinearizable, Check(LockModel.Instance,
            Acquire(1, 0, 1, 1, LockOutput.Granted(5)), Acquire(2, 2, 3, 2, LockOutput.Granted(7))));

    [Fact]
    public void Lock_token_that_does_not_increase_is_a_violation() =>
        Assert.Equal(Verdict.NotLinearizable, Check(LockModel.Instance,
            Acquire(1, 0, 1, 1, LockOutput.Granted(5)), Release(1, 2, 3, 1, 5, LockOutput.Released), Acquire(2, 4, 5, 2, LockOutput.Granted(5))));

    [Fact]
    public void Lock_busy_when_free_is_a_violation() =>
        Assert.Equal(Verdict.NotLinearizable, Check(LockModel.Instance,
            Acquire(1, 0, 1, 1, LockOutput.Granted(5)), Release(1, 2, 3, 1, 5, LockOutput.Released), Acquire(2, 4, 5, 2, LockOutput.Busy)));

    [Fact]
    public void Lock_held_by_an_ended_session_may_be_granted_to_another() =>
        Assert.Equal(Verdict.Linearizable, Check(LockModel.Instance,
            Acquire(1, 0, 1, 1, LockOutput.Granted(5)),
            Ok(9, 2, 20, new LockInput("l", LockOp.SessionEnded, 1), LockOutput.Ended),
            Acquire(2, 10, 11, 2, LockOutput.Granted(8))));

    [Fact]
    public void Lock_session_end_that_is_a_no_op_when_invoked_may_still_free_a_later_grant() =>
        // Found by the fault harness (seed 1): a pruning that took every momentary no-op at once
        // spent the session end before the grant it had to undo.
        Assert.Equal(Verdict.Linearizable, Check(LockModel.Instance,
            Ok(9, 0, 20, new LockInput("l", LockOp.SessionEnded, 1), LockOutput.Ended),
            Acquire(1, 1, 2, 1, LockOutput.Granted(5)),
            Acquire(2, 10, 11, 2, LockOutput.Granted(8)),
            Release(1, 12, 13, 1, 5, LockOutput.NotHolder)));

    [Fact]
    public void Lock_held_by_a_live_session_is_not_granted_to_another_even_if_the_session_ends_later() =>
        Assert.Equal(Verdict.NotLinearizable, Check(LockModel.Instance,
            Acquire(1, 0, 1, 1, LockOutput.Granted(5)),
            Acquire(2, 2, 3, 2, LockOutput.Granted(8)),
            Ok(9, 4, 20, new LockInput("l", LockOp.SessionEnded, 1), LockOutput.Ended)));

    [Fact]
    public void Lock_timed_out_acquire_may_hold_the_lock_so_others_see_busy() =>
        Assert.Equal(Verdict.Linearizable, Check(LockModel.Instance,
            Unknown<LockInput, LockOutput>(1, 0, new LockInput("l", LockOp.Acquire, 1)), Acquire(2, 2, 3, 2, LockOutput.Busy)));

    [Fact]
    public void Lock_timed_out_acquire_cannot_explain_a_busy_before_it_was_invoked() =>
        Assert.Equal(Verdict.NotLinearizable, Check(LockModel.Instance,
            Acquire(2, 0, 1, 2, LockOutput.Busy), Unknown<LockInput, LockOutput>(1, 2, new LockInput("l", LockOp.Acquire, 1))));

    [Fact]
    public void Lock_read_reveals_the_token_of_a_timed_out_grant_and_later_tokens_must_exceed_it() =>
        Assert.Equal(Verdict.NotLinearizable, Check(LockModel.Instance,
            Acquire(1, 0, 1, 1, LockOutput.Granted(3)), Release(1, 2, 3, 1, 3, LockOutput.Released),
            Unknown<LockInput, LockOutput>(1, 4, new LockInput("l", LockOp.Acquire, 1)),
            Ok(2, 5, 6, new LockInput("l", LockOp.Read, 0), LockOutput.Read(1, 10)),
            Ok(9, 7, 8, new LockInput("l", LockOp.SessionEnded, 1), LockOutput.Ended),
            Acquire(2, 9, 10, 2, LockOutput.Granted(10))));

    // --- semaphore ---

    private static readonly SemaphoreModel Two = new(2);

    private static Operation<SemaphoreInput, SemaphoreOutput> Sem(int c, long a, long b, SemaphoreOp op, long session, SemaphoreResult result) =>
        Ok(c, a, b, new SemaphoreInput("s", op, session), new SemaphoreOutput(result));

    [Fact]
    public void Semaphore_grants_up_to_its_permits_then_busy() =>
        Assert.Equal(Verdict.Linearizable, Check(Two,
            Sem(1, 0, 5, SemaphoreOp.Acquire, 1, SemaphoreResult.Granted), Sem(2, 0, 5, SemaphoreOp.Acquire, 2, SemaphoreResult.Granted),
            Sem(3, 0, 5, SemaphoreOp.Acquire, 3, SemaphoreResult.Busy), Sem(1, 6, 7, SemaphoreOp.Release, 1, SemaphoreResult.Released),
            Sem(3, 8, 9, SemaphoreOp.Acquire, 3, SemaphoreResult.Granted)));

    [Fact]
    public void Semaphore_three_holders_of_two_permits_is_a_violation() =>
        Assert.Equal(Verdict.NotLinearizable, Check(Two,
            Sem(1, 0, 5, SemaphoreOp.Acquire, 1, SemaphoreResult.Granted), Sem(2, 0, 5, SemaphoreOp.Acquire, 2, SemaphoreResult.Granted),
            Sem(3, 0, 5, SemaphoreOp.Acquire, 3, SemaphoreResult.Granted)));

    [Fact]
    public void Semaphore_timed_out_acquires_may_fill_the_permits() =>
        Assert.Equal(Verdict.Linearizable, Check(Two,
            Unknown<SemaphoreInput, SemaphoreOutput>(1, 0, new SemaphoreInput("s", SemaphoreOp.Acquire, 1)),
            Sem(2, 1, 2, SemaphoreOp.Acquire, 2, SemaphoreResult.Granted), Sem(3, 3, 4, SemaphoreOp.Acquire, 3, SemaphoreResult.Busy)));

    [Fact]
    public void Semaphore_timed_out_acquire_does_not_excuse_a_busy_with_a_free_permit() =>
        Assert.Equal(Verdict.NotLinearizable, Check(Two,
            Unknown<SemaphoreInput, SemaphoreOutput>(1, 0, new SemaphoreInput("s", SemaphoreOp.Acquire, 1)),
            Sem(3, 3, 4, SemaphoreOp.Acquire, 3, SemaphoreResult.Busy)));

    // --- sequences ---

    private static Operation<SequenceInput, SequenceOutput> Next(int c, long a, long b, int count, long first) =>
        Ok(c, a, b, new SequenceInput("q", count), new SequenceOutput(first));

    [Fact]
    public void Sequence_ranges_that_increase_with_gaps_are_linearizable() =>
        Assert.Equal(Verdict.Linearizable, Check(SequenceModel.Instance,
            Next(1, 0, 1, 10, 1), Next(2, 2, 9, 1, 30), Next(3, 3, 8, 5, 12), Next(1, 10, 11, 1, 31)));

    [Fact]
    public void Sequence_overlapping_ranges_are_a_violation() =>
        Assert.Equal(Verdict.NotLinearizable, Check(SequenceModel.Instance,
            Next(1, 0, 5, 10, 1), Next(2, 0, 5, 1, 7)));

    [Fact]
    public void Sequence_value_lower_than_a_completed_earlier_one_is_a_violation() =>
        Assert.Equal(Verdict.NotLinearizable, Check(SequenceModel.Instance,
            Next(1, 0, 1, 1, 20), Next(2, 2, 3, 1, 19)));

    [Fact]
    public void Sequence_timed_out_call_does_not_excuse_a_duplicate() =>
        Assert.Equal(Verdict.NotLinearizable, Check(SequenceModel.Instance,
            Next(1, 0, 1, 1, 20), Unknown<SequenceInput, SequenceOutput>(3, 0, new SequenceInput("q", 1)), Next(2, 2, 3, 1, 20)));

    [Fact]
    public void Sequence_timed_out_call_may_leave_a_gap() =>
        Assert.Equal(Verdict.Linearizable, Check(SequenceModel.Instance,
            Next(1, 0, 1, 1, 20), Unknown<SequenceInput, SequenceOutput>(3, 1, new SequenceInput("q", 1)), Next(2, 2, 3, 1, 22)));

    // --- membership ---

    private static Operation<MembershipInput, MembershipOutput> Member(int c, long a, long b, MembershipOp op, string member, long session, MembershipResult result) =>
        Ok(c, a, b, new MembershipInput("g", op, member, session), new MembershipOutput(result));

    private static Operation<MembershipInput, MembershipOutput> List(int c, long a, long b, params string[] members) =>
        Ok(c, a, b, new MembershipInput("g", MembershipOp.List), MembershipOutput.Listed(members));

    [Fact]
    public void Membership_joins_and_leaves_show_in_lists() =>
        Assert.Equal(Verdict.Linearizable, Check(MembershipModel.Instance,
            Member(1, 0, 1, MembershipOp.Join, "a", 1, MembershipResult.Joined), Member(2, 0, 3, MembershipOp.Join, "b", 2, MembershipResult.Joined),
            List(3, 2, 3, "a"), List(3, 4, 5, "a", "b"), Member(2, 6, 7, MembershipOp.Join, "a", 2, MembershipResult.AlreadyExists),
            Member(1, 8, 9, MembershipOp.Leave, "a", 1, MembershipResult.Left), List(3, 10, 11, "b"),
            Member(1, 12, 13, MembershipOp.Leave, "a", 1, MembershipResult.NotFound)));

    [Fact]
    public void Membership_list_missing_a_joined_member_is_a_violation() =>
        Assert.Equal(Verdict.NotLinearizable, Check(MembershipModel.Instance,
            Member(1, 0, 1, MembershipOp.Join, "a", 1, MembershipResult.Joined), List(3, 2, 3)));

    [Fact]
    public void Membership_two_joins_of_one_id_cannot_both_succeed() =>
        Assert.Equal(Verdict.NotLinearizable, Check(MembershipModel.Instance,
            Member(1, 0, 5, MembershipOp.Join, "a", 1, MembershipResult.Joined), Member(2, 0, 5, MembershipOp.Join, "a", 2, MembershipResult.Joined)));

    [Fact]
    public void Membership_members_of_an_ended_session_leave_with_it() =>
        Assert.Equal(Verdict.Linearizable, Check(MembershipModel.Instance,
            Member(1, 0, 1, MembershipOp.Join, "a", 1, MembershipResult.Joined), Member(2, 0, 1, MembershipOp.Join, "b", 2, MembershipResult.Joined),
            Ok(9, 2, 10, new MembershipInput("g", MembershipOp.SessionEnded, Session: 1), new MembershipOutput(MembershipResult.Ended)),
            List(3, 11, 12, "b")));

    [Fact]
    public void Membership_timed_out_leave_may_or_may_not_have_happened_but_not_both() =>
        Assert.Equal(Verdict.NotLinearizable, Check(MembershipModel.Instance,
            Member(1, 0, 1, MembershipOp.Join, "a", 1, MembershipResult.Joined),
            Unknown<MembershipInput, MembershipOutput>(1, 2, new MembershipInput("g", MembershipOp.Leave, "a", 1)),
            List(3, 3, 4), List(3, 5, 6, "a")));

    [Fact]
    public void Membership_timed_out_join_may_show_up_late() =>
        Assert.Equal(Verdict.Linearizable, Check(MembershipModel.Instance,
            Unknown<MembershipInput, MembershipOutput>(1, 0, new MembershipInput("g", MembershipOp.Join, "a", 1)),
            List(3, 3, 4), List(3, 5, 6, "a")));

    // --- saving ---

    [Fact]
    public void A_failed_assertion_saves_the_history_and_names_the_file_and_seed()
    {
        Operation<SequenceInput, SequenceOutput>[] history = [Next(1, 0, 1, 1, 5), Next(2, 2, 3, 1, 5)];
        var error = Assert.ThrowsAny<Exception>(() => LinearizabilityAssert.Linearizable(SequenceModel.Instance, history, "unit-saving", 4242));
        var path = error.Message[(error.Message.IndexOf("saved to ", StringComparison.Ordinal) + "saved to ".Length)..];
        try
        {
            Assert.Contains("seed 4242", error.Message, StringComparison.Ordinal);
            var lines = File.ReadAllLines(path);
            Assert.Equal(3, lines.Length);
            Assert.Contains("\"verdict\":\"NotLinearizable\"", lines[0], StringComparison.Ordinal);
            Assert.Contains("\"First\":5", lines[2], StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
