using Coordination.Grains;

namespace Coordination.Tests.Grains;

/// <summary>The two-phase-commit coordinator's replicated state: decisions, presumed abort, acknowledgements, snapshots.</summary>
public class DistributedTransactionTests
{
    private ulong _index;
    private long _nowMs = 10_000;
    private CoordinationStateMachine _machine = new();

    private CommandResult Apply(Command command)
    {
        var result = _machine.Apply(++_index, _nowMs, CommandCodec.Decode(CommandCodec.Encode(command)));
        _machine.CheckInvariants();
        return result;
    }

    private DistributedTransactionView Ok(Command command) => Assert.IsType<DistributedTransactionResult>(Apply(command)).Transaction;

    private ErrorCode Refused(Command command) => Assert.IsType<Rejected>(Apply(command)).Code;

    private static byte[] Json(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    private static BeginDistributedTransaction Begin(string id, long timeoutMs = 5_000, params string[] participants) =>
        new(id, [.. (participants.Length == 0 ? ["a", "b"] : participants).Select(p => new ParticipantSpec(p, $"http://127.0.0.1:7000/{p}/tx", Json($$"""{"who":"{{p}}"}""")))], timeoutMs);

    [Fact]
    public void Every_commit_vote_decides_commit_in_the_entry_of_the_last_vote_and_acknowledgements_finish_it()
    {
        var begun = Ok(Begin("t1"));
        Assert.Equal(DistributedTransactionState.Preparing, begun.State);
        Assert.Equal(_nowMs + 5_000, begun.DeadlineMs);

        Assert.Equal(DistributedTransactionState.Preparing, Ok(new RecordParticipantVote("t1", "a", ParticipantVote.Commit, "")).State);
        var decided = Ok(new RecordParticipantVote("t1", "b", ParticipantVote.Commit, ""));
        Assert.Equal(DistributedTransactionState.Committing, decided.State);
        Assert.Equal(_nowMs, decided.DecidedMs);
        Assert.Null(_machine.NextDeadlineMs);

        Assert.Equal(DistributedTransactionState.Committing, Ok(new AcknowledgeDecision("t1", "b")).State);
        Assert.Equal(DistributedTransactionState.Committing, Ok(new AcknowledgeDecision("t1", "b")).State);
        var finished = Ok(new AcknowledgeDecision("t1", "a"));
        Assert.Equal(DistributedTransactionState.Committed, finished.State);
        Assert.All(finished.Participants, p => Assert.True(p.Acknowledged));
    }

    [Fact]
    public void One_abort_vote_decides_abort_at_once_and_later_votes_do_not_change_it()
    {
        Ok(Begin("t1", participants: ["a", "b", "c"]));
        Ok(new RecordParticipantVote("t1", "a", ParticipantVote.Commit, ""));
        var decided = Ok(new RecordParticipantVote("t1", "b", ParticipantVote.Abort, "insufficient funds"));
        Assert.Equal(DistributedTransactionState.Aborting, decided.State);
        Assert.Contains("insufficient funds", decided.Reason, StringComparison.Ordinal);
        Assert.True(decided.Participants.Single(p => p.Name == "b").Acknowledged);

        var late = Ok(new RecordParticipantVote("t1", "c", ParticipantVote.Commit, ""));
        Assert.Equal(DistributedTransactionState.Aborting, late.State);
        Assert.Equal(ParticipantVote.None, late.Participants.Single(p => p.Name == "c").Vote);
        Ok(new AcknowledgeDecision("t1", "a"));
        Assert.Equal(DistributedTransactionState.Aborted, Ok(new AcknowledgeDecision("t1", "c")).State);
    }

    [Fact]
    public void A_missing_vote_at_the_deadline_aborts_the_transaction_presumed_abort()
    {
        Ok(Begin("t1", timeoutMs: 1_000));
        Ok(new RecordParticipantVote("t1", "a", ParticipantVote.Commit, ""));
        Assert.Equal(_nowMs + 1_000, _machine.NextDeadlineMs);

        _nowMs += 999;
        Apply(new AdvanceTime());
        Assert.Equal(DistributedTransactionState.Preparing, _machine.GetDistributedTransaction("t1")!.State);

        _nowMs += 1;
        Apply(new AdvanceTime());
        var aborted = _machine.GetDistributedTransaction("t1")!;
        Assert.Equal(DistributedTransactionState.Aborting, aborted.State);
        Assert.Contains("'b'", aborted.Reason, StringComparison.Ordinal);

        // The vote arrives after the decision: it does not count.
        Assert.Equal(DistributedTransactionState.Aborting, Ok(new RecordParticipantVote("t1", "b", ParticipantVote.Commit, "")).State);
    }

    [Fact]
    public void A_commit_vote_applied_after_the_deadline_aborts_even_before_time_advances()
    {
        Ok(Begin("t1", timeoutMs: 1_000));
        Ok(new RecordParticipantVote("t1", "a", ParticipantVote.Commit, ""));
        _nowMs += 1_001;
        var decided = Ok(new RecordParticipantVote("t1", "b", ParticipantVote.Commit, ""));
        Assert.Equal(DistributedTransactionState.Aborting, decided.State);
        Assert.Null(_machine.NextDeadlineMs);
    }

    [Fact]
    public void Abort_on_request_works_until_commit_is_decided()
    {
        Ok(Begin("t1"));
        Assert.Equal(DistributedTransactionState.Aborting, Ok(new AbortDistributedTransaction("t1", "operator")).State);
        Assert.Equal(DistributedTransactionState.Aborting, Ok(new AbortDistributedTransaction("t1", "again")).State);

        Ok(Begin("t2"));
        Ok(new RecordParticipantVote("t2", "a", ParticipantVote.Commit, ""));
        Ok(new RecordParticipantVote("t2", "b", ParticipantVote.Commit, ""));
        Assert.Equal(ErrorCode.AlreadyDecided, Refused(new AbortDistributedTransaction("t2", "too late")));
        Assert.Equal(DistributedTransactionState.Committing, _machine.GetDistributedTransaction("t2")!.State);
    }

    [Fact]
    public void A_retried_begin_answers_the_transaction_and_a_different_one_under_the_same_id_is_refused()
    {
        Ok(Begin("t1"));
        Ok(new RecordParticipantVote("t1", "a", ParticipantVote.Commit, ""));
        var again = Ok(Begin("t1"));
        Assert.Equal(ParticipantVote.Commit, again.Participants[0].Vote);
        Assert.Equal(ErrorCode.AlreadyExists, Refused(Begin("t1", timeoutMs: 6_000)));
        Assert.Equal(ErrorCode.AlreadyExists, Refused(Begin("t1", participants: ["a", "c"])));
    }

    [Fact]
    public void Bad_requests_are_refused_and_change_nothing()
    {
        Ok(Begin("t1"));
        var before = _machine.EncodeState();
        Assert.Equal(ErrorCode.InvalidName, Refused(Begin("bad id")));
        Assert.Equal(ErrorCode.InvalidArgument, Refused(Begin("t2", timeoutMs: Limits.PrepareTimeoutMsMin - 1)));
        Assert.Equal(ErrorCode.InvalidArgument, Refused(Begin("t2", timeoutMs: Limits.PrepareTimeoutMsMax + 1)));
        Assert.Equal(ErrorCode.InvalidArgument, Refused(Begin("t2", participants: ["a", "a"])));
        Assert.Equal(ErrorCode.LimitExceeded, Refused(new BeginDistributedTransaction("t2", [], 1_000)));
        Assert.Equal(ErrorCode.LimitExceeded, Refused(Begin("t2", participants: [.. Enumerable.Range(0, Limits.ParticipantsPerTransactionMax + 1).Select(i => $"p{i}")])));
        Assert.Equal(ErrorCode.InvalidArgument, Refused(new BeginDistributedTransaction("t2", [new ParticipantSpec("a", "ftp://127.0.0.1/tx", Json("1"))], 1_000)));
        Assert.Equal(ErrorCode.InvalidArgument, Refused(new BeginDistributedTransaction("t2", [new ParticipantSpec("a", "/relative", Json("1"))], 1_000)));
        Assert.Equal(ErrorCode.InvalidArgument, Refused(new BeginDistributedTransaction("t2", [new ParticipantSpec("a", "http://127.0.0.1/tx", Json("{not json"))], 1_000)));
        Assert.Equal(ErrorCode.LimitExceeded, Refused(new BeginDistributedTransaction("t2", [new ParticipantSpec("a", "http://127.0.0.1/tx", Json($"\"{new string('x', Limits.ParticipantWorkBytesMax)}\""))], 1_000)));
        Assert.Equal(ErrorCode.NotFound, Refused(new RecordParticipantVote("t1", "zz", ParticipantVote.Commit, "")));
        Assert.Equal(ErrorCode.NotFound, Refused(new RecordParticipantVote("nope", "a", ParticipantVote.Commit, "")));
        Assert.Equal(ErrorCode.InvalidArgument, Refused(new RecordParticipantVote("t1", "a", ParticipantVote.None, "")));
        Assert.Equal(ErrorCode.InvalidArgument, Refused(new RecordParticipantVote("t1", "a", (ParticipantVote)9, "")));
        Assert.Equal(ErrorCode.InvalidArgument, Refused(new RecordParticipantVote("t1", "a", ParticipantVote.Abort, new string('x', Limits.TransactionReasonLengthMax + 1))));
        Assert.Equal(ErrorCode.InvalidArgument, Refused(new AcknowledgeDecision("t1", "a")));
        Assert.Equal(ErrorCode.NotFound, Refused(new AbortDistributedTransaction("nope", "")));
        Assert.Equal(before, _machine.EncodeState());
    }

    [Fact]
    public void Snapshots_keep_every_transaction_and_the_vote_deadline_of_the_undecided()
    {
        Ok(Begin("preparing", timeoutMs: 2_000));
        Ok(new RecordParticipantVote("preparing", "a", ParticipantVote.Commit, ""));
        Ok(Begin("delivering"));
        Ok(new RecordParticipantVote("delivering", "a", ParticipantVote.Commit, ""));
        Ok(new RecordParticipantVote("delivering", "b", ParticipantVote.Commit, ""));
        Ok(new AcknowledgeDecision("delivering", "a"));
        Ok(Begin("done"));
        Ok(new AbortDistributedTransaction("done", ""));
        Ok(new AcknowledgeDecision("done", "a"));
        Ok(new AcknowledgeDecision("done", "b"));

        var bytes = _machine.WriteSnapshot();
        _machine = CoordinationStateMachine.ReadSnapshot(bytes);
        Assert.Equal(bytes, _machine.WriteSnapshot());
        Assert.Equal(DistributedTransactionState.Committing, _machine.GetDistributedTransaction("delivering")!.State);
        Assert.Equal(DistributedTransactionState.Aborted, _machine.GetDistributedTransaction("done")!.State);
        Assert.Equal(_nowMs + 2_000, _machine.NextDeadlineMs);
        Assert.Equal(["delivering", "preparing"], _machine.ListDistributedTransactions(unfinishedOnly: true).Select(t => t.Id));
        Assert.Equal(["done"], _machine.ListDistributedTransactions(DistributedTransactionState.Aborted).Select(t => t.Id));

        _nowMs += 2_000;
        Apply(new AdvanceTime());
        Assert.Equal(DistributedTransactionState.Aborting, _machine.GetDistributedTransaction("preparing")!.State);
    }

    [Fact]
    public void Finished_transactions_beyond_the_retention_are_forgotten_oldest_first()
    {
        for (var i = 0; i < Limits.DistributedTransactionsFinishedRetained + 2; i++)
        {
            Ok(new BeginDistributedTransaction($"t{i}", [new ParticipantSpec("a", "http://127.0.0.1/tx", Json("1"))], 1_000));
            Ok(new RecordParticipantVote($"t{i}", "a", ParticipantVote.Abort, "no"));
        }

        Ok(Begin("open"));
        Assert.Null(_machine.GetDistributedTransaction("t0"));
        Assert.Null(_machine.GetDistributedTransaction("t1"));
        Assert.NotNull(_machine.GetDistributedTransaction("t2"));
        Assert.NotNull(_machine.GetDistributedTransaction("open"));
        Assert.Equal(Limits.DistributedTransactionsFinishedRetained, _machine.ListDistributedTransactions(DistributedTransactionState.Aborted, max: int.MaxValue).Count);
    }

    [Fact]
    public void Replicas_given_the_same_entries_end_in_the_same_state()
    {
        var commands = new Command[]
        {
            Begin("x"), new RecordParticipantVote("x", "b", ParticipantVote.Commit, ""), Begin("y", timeoutMs: 100),
            new AdvanceTime(), new RecordParticipantVote("x", "a", ParticipantVote.Commit, ""), new AcknowledgeDecision("x", "a"),
        };
        var first = new CoordinationStateMachine();
        var second = new CoordinationStateMachine();
        for (var i = 0; i < commands.Length; i++)
        {
            first.Apply((ulong)i + 1, 10_000 + (i * 100), commands[i]);
            second.Apply((ulong)i + 1, 10_000 + (i * 100), CommandCodec.Decode(CommandCodec.Encode(commands[i])));
        }

        Assert.Equal(first.WriteSnapshot(), second.WriteSnapshot());
        Assert.Equal(DistributedTransactionState.Aborting, first.GetDistributedTransaction("y")!.State);
    }
}
