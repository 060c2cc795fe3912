using System.Text.Json;
using Coordination.Client.Participants;
using Coordination.Client.Transactions;
using Coordination.Tests.Client;

namespace Coordination.Tests.Participants;

public sealed class ParticipantEngineTests : IDisposable
{
    private static readonly JsonElement Work = JsonDocument.Parse("""{"account":"alice","delta":-1}""").RootElement.Clone();
    private static readonly JsonElement AbortWork = JsonDocument.Parse("\"abort\"").RootElement.Clone();

    private readonly TempJournal _dir = new();
    private readonly RecordingParticipant _app = new();
    private readonly ManualTimeProvider _time = new();
    private ParticipantJournal _journal;
    private ParticipantEngine _engine;

    public ParticipantEngineTests()
    {
        _journal = ParticipantJournal.Open(_dir.Path);
        _engine = new ParticipantEngine(_app, _journal, Options());
    }

    public void Dispose()
    {
        _journal.Dispose();
        _dir.Dispose();
    }

    private TransactionParticipantOptions Options() => new() { JournalPath = _dir.Path, TimeProvider = _time, InDoubtAfter = TimeSpan.FromSeconds(30) };

    private void Restart()
    {
        _journal.Dispose();
        _journal = ParticipantJournal.Open(_dir.Path);
        _engine = new ParticipantEngine(_app, _journal, Options());
    }

    [Fact]
    public async Task A_repeated_prepare_returns_the_recorded_vote_without_asking_the_application_again_also_after_a_restart()
    {
        var first = await _engine.PrepareAsync("t1", "a", Work, default);
        var second = await _engine.PrepareAsync("t1", "a", Work, default);
        var refused = await _engine.PrepareAsync("t2", "a", AbortWork, default);
        Restart();
        var afterRestart = await _engine.PrepareAsync("t1", "a", Work, default);
        var refusedAgain = await _engine.PrepareAsync("t2", "a", AbortWork, default);

        Assert.True(first.IsCommit);
        Assert.True(second.IsCommit);
        Assert.True(afterRestart.IsCommit);
        Assert.False(refused.IsCommit);
        Assert.Equal("scripted", refusedAgain.Reason);
        Assert.Equal(["prepare t1", "prepare t2"], _app.Calls);
    }

    [Fact]
    public async Task Commit_and_abort_reach_the_application_once_however_often_they_are_delivered()
    {
        await _engine.PrepareAsync("c", "a", Work, default);
        await _engine.PrepareAsync("x", "a", Work, default);

        Assert.Equal(DecisionAnswer.Acknowledged, await _engine.CommitAsync("c", default));
        Assert.Equal(DecisionAnswer.Acknowledged, await _engine.CommitAsync("c", default));
        Assert.Equal(DecisionAnswer.Acknowledged, await _engine.AbortAsync("x", default));
        Restart();
        Assert.Equal(DecisionAnswer.Acknowledged, await _engine.CommitAsync("c", default));
        Assert.Equal(DecisionAnswer.Acknowledged, await _engine.AbortAsync("x", default));

        Assert.Equal(["prepare c", "prepare x", "commit c", "abort x"], _app.Calls);
    }

    [Fact]
    public async Task Abort_of_an_unknown_transaction_is_acknowledged_and_remembered_so_a_late_prepare_votes_abort()
    {
        Assert.Equal(DecisionAnswer.Acknowledged, await _engine.AbortAsync("late", default));
        Restart();
        var vote = await _engine.PrepareAsync("late", "a", Work, default);

        Assert.False(vote.IsCommit);
        // The application is told to release (a crashed prepare may have reserved), and never asked to prepare.
        Assert.Equal(["abort late"], _app.Calls);
    }

    [Fact]
    public async Task Commit_of_a_transaction_never_prepared_voted_abort_or_aborted_is_a_protocol_error()
    {
        await _engine.PrepareAsync("no", "a", AbortWork, default);
        await _engine.PrepareAsync("gone", "a", Work, default);
        await _engine.AbortAsync("gone", default);
        await _engine.PrepareAsync("done", "a", Work, default);
        await _engine.CommitAsync("done", default);

        Assert.Equal(DecisionAnswer.NotPrepared, await _engine.CommitAsync("never", default));
        Assert.Equal(DecisionAnswer.VotedAbort, await _engine.CommitAsync("no", default));
        Assert.Equal(DecisionAnswer.AlreadyAborted, await _engine.CommitAsync("gone", default));
        Assert.Equal(DecisionAnswer.AlreadyCommitted, await _engine.AbortAsync("done", default));
        Assert.Null(_journal.Find("never"));
    }

    [Fact]
    public async Task A_prepare_that_throws_records_nothing_so_the_retry_asks_the_application_again()
    {
        var failing = new FailingOnceParticipant();
        var engine = new ParticipantEngine(failing, _journal, Options());

        await Assert.ThrowsAsync<IOException>(() => engine.PrepareAsync("t", "a", Work, default));
        Assert.Null(_journal.Find("t"));
        var vote = await engine.PrepareAsync("t", "a", Work, default);

        Assert.True(vote.IsCommit);
        Assert.Equal(2, failing.Prepares);
    }

    [Fact]
    public async Task The_resolver_applies_the_coordinators_outcome_to_in_doubt_transactions_once_they_are_old_enough()
    {
        await _engine.PrepareAsync("to-commit", "a", Work, default);
        await _engine.PrepareAsync("to-abort", "a", Work, default);
        await _engine.PrepareAsync("pending", "a", Work, default);
        var coordinator = new FakeOutcomes { ["to-commit"] = TransactionOutcome.Commit, ["pending"] = TransactionOutcome.Pending };
        var resolver = new InDoubtResolver(_engine, coordinator, Options());

        var tooEarly = await resolver.ResolveOnceAsync(default);
        _time.Advance(TimeSpan.FromSeconds(30));
        var settled = await resolver.ResolveOnceAsync(default);
        var again = await resolver.ResolveOnceAsync(default);

        Assert.Equal(0, tooEarly);
        Assert.Equal(2, settled);
        Assert.Equal(0, again);
        Assert.Equal(ParticipantTransactionStatus.Committed, _journal.Find("to-commit")!.Status);
        // Unknown to the coordinator: presumed abort.
        Assert.Equal(ParticipantTransactionStatus.Aborted, _journal.Find("to-abort")!.Status);
        Assert.Equal(ParticipantTransactionStatus.Prepared, _journal.Find("pending")!.Status);
        Assert.Contains("commit to-commit", _app.Calls);
        Assert.Contains("abort to-abort", _app.Calls);
        Assert.Equal(["pending", "pending", "to-abort", "to-commit"], coordinator.Asked.Order());
    }

    [Fact]
    public async Task The_resolver_keeps_going_when_the_coordinator_cannot_be_asked()
    {
        await _engine.PrepareAsync("a", "p", Work, default);
        await _engine.PrepareAsync("b", "p", Work, default);
        var coordinator = new FakeOutcomes { ["b"] = TransactionOutcome.Commit, FailFor = "a" };
        var resolver = new InDoubtResolver(_engine, coordinator, Options());
        _time.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(1, await resolver.ResolveOnceAsync(default));
        Assert.Equal(ParticipantTransactionStatus.Prepared, _journal.Find("a")!.Status);
        Assert.Equal(ParticipantTransactionStatus.Committed, _journal.Find("b")!.Status);
    }

    [Fact]
    public async Task The_resolver_runs_on_its_interval_of_the_injected_clock()
    {
        await _engine.PrepareAsync("t", "a", Work, default);
        var coordinator = new FakeOutcomes { ["t"] = TransactionOutcome.Commit };
        var options = Options();
        options.ResolveInterval = TimeSpan.FromSeconds(10);
        options.InDoubtAfter = TimeSpan.FromSeconds(10);
        using var resolver = new InDoubtResolver(_engine, coordinator, options);

        await resolver.StartAsync(default);
        await _time.WaitForTimerAsync(TimeSpan.FromSeconds(10));
        Assert.Empty(coordinator.Asked);
        _time.Advance(TimeSpan.FromSeconds(10));
        // The next round's timer is armed only once this round has settled the transaction.
        await _time.WaitForTimerAsync(TimeSpan.FromSeconds(10));
        await resolver.StopAsync(default);

        Assert.Equal(["t"], coordinator.Asked);
        Assert.Equal(ParticipantTransactionStatus.Committed, _journal.Find("t")!.Status);
    }

    [Fact]
    public async Task Concurrent_prepares_of_one_transaction_ask_the_application_once_and_all_get_its_vote()
    {
        var gated = new GatedParticipant();
        var engine = new ParticipantEngine(gated, _journal, Options());

        var prepares = Enumerable.Range(0, 5).Select(_ => engine.PrepareAsync("same", "a", Work, default)).ToList();
        await gated.Entered.Task.WaitAsync(FakeHandler.WaitMax);
        gated.Release.SetResult();
        var votes = await Task.WhenAll(prepares).WaitAsync(FakeHandler.WaitMax);

        Assert.All(votes, v => Assert.True(v.IsCommit));
        Assert.Equal(1, gated.Prepares);
    }

    private sealed class GatedParticipant : ITransactionParticipant
    {
        private int _prepares;

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Prepares => Volatile.Read(ref _prepares);

        public async Task<ParticipantVote> PrepareAsync(string transactionId, JsonElement work, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _prepares);
            Entered.TrySetResult();
            await Release.Task;
            return ParticipantVote.Commit;
        }

        public Task CommitAsync(string transactionId, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task AbortAsync(string transactionId, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class FailingOnceParticipant : ITransactionParticipant
    {
        public int Prepares { get; private set; }

        public Task<ParticipantVote> PrepareAsync(string transactionId, JsonElement work, CancellationToken cancellationToken) =>
            ++Prepares == 1 ? Task.FromException<ParticipantVote>(new IOException("disk full")) : Task.FromResult(ParticipantVote.Commit);

        public Task CommitAsync(string transactionId, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task AbortAsync(string transactionId, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>A coordinator's outcome endpoint as a dictionary; unknown ids are abort (presumed abort).</summary>
internal sealed class FakeOutcomes : Dictionary<string, TransactionOutcome>, ITransactionOutcomeSource
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _asked = new();

    public string? FailFor { get; init; }

    public IReadOnlyList<string> Asked => [.. _asked];

    public Task<TransactionOutcome> GetOutcomeAsync(string transactionId, CancellationToken cancellationToken)
    {
        _asked.Enqueue(transactionId);
        return transactionId == FailFor
            ? Task.FromException<TransactionOutcome>(new HttpRequestException("coordinator unreachable (scripted)"))
            : Task.FromResult(TryGetValue(transactionId, out var outcome) ? outcome : TransactionOutcome.Abort);
    }
}
