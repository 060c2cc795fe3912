using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text.Json;
using Coordination.Api;
using Coordination.Consensus;
using Coordination.Grains;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace Coordination.Silo.Transactions;

/// <summary>Tuning of the coordinator driver; every wait is bounded.</summary>
public sealed class TransactionCoordinatorOptions
{
    public const string Section = "Coordination:Transactions";

    /// <summary>How often the leader looks for unfinished transactions without being woken (after a failover, for instance).</summary>
    public TimeSpan ScanInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>One prepare request's timeout (never beyond the vote deadline).</summary>
    public TimeSpan PrepareAttemptTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>One commit or abort delivery's timeout.</summary>
    public TimeSpan DeliveryAttemptTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>First retry delay; doubles with jitter up to <see cref="RetryDelayMax"/>.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    public TimeSpan RetryDelayMax { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Transactions driven at once; the rest wait for a slot. Preparing transactions are picked first
    /// (they have a vote deadline), decided ones in a rotating id order.
    /// </summary>
    public int DrivenMax { get; set; } = 1_024;

    /// <summary>
    /// Longest a driver keeps delivering a decision before it gives its slot up (a later scan resumes
    /// it): a participant gone for good must not hold a slot forever.
    /// </summary>
    public TimeSpan DeliveryRoundMax { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Slots that drivers started for decided transactions may hold: the rest stay free for prepares.</summary>
    public int DeliveringMax => Math.Max(1, DrivenMax * 3 / 4);
}

/// <summary>
/// The leader's half of the two-phase-commit coordinator: it reads unfinished transactions from
/// the replicated state and talks to their participants, proposing every vote and acknowledgement
/// it hears. It keeps no state of its own, so a new leader resumes exactly where the replicated
/// state says: unfinished prepare rounds are asked again (prepare is idempotent at participants),
/// undelivered decisions are delivered again. The decision itself is made by the state machine in
/// the entry that records the deciding vote (or the vote deadline), so it is durable on a majority
/// before any participant hears it.
/// </summary>
public sealed class TransactionCoordinator : BackgroundService
{
    public const string HttpClientName = "transaction-participants";

    /// <summary>Length of a participant's abort reason kept (longer text is cut).</summary>
    private const int ReasonLengthKept = 512;

    private readonly SiloRuntime _silo;
    private readonly ICoordinationGateway _gateway;
    private readonly IHttpClientFactory _http;
    private readonly ILogger<TransactionCoordinator> _logger;
    private readonly TransactionCoordinatorOptions _options;
    private readonly ResiliencePipeline _retry;
    private readonly ConcurrentDictionary<string, Task> _driving = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _wake = new(0, 1);
    private CancellationTokenSource? _leadership;
    private ulong _leaderTerm;
    // Drivers started for decided transactions, and where the next scan of decided ones begins.
    private int _delivering;
    private string _deliveryCursor = "";

    public TransactionCoordinator(SiloRuntime silo, ICoordinationGateway gateway, IHttpClientFactory http, TimeProvider time, IOptions<TransactionCoordinatorOptions> options, ILogger<TransactionCoordinator> logger)
    {
        _silo = silo;
        _gateway = gateway;
        _http = http;
        _logger = logger;
        _options = options.Value;
        _retry = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                // Until it works or the caller's token ends it (vote deadline, leadership lost, shutdown).
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.RetryDelay,
                MaxDelay = _options.RetryDelayMax,
                // Cancellation is the caller's token ending the work; everything else (no answer, a refusal, a lost leader) is worth another try.
                ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is not OperationCanceledException),
            })
            .Build();
        silo.State.DistributedTransactionBegun += Wake;
    }

    /// <summary>Transactions this silo is driving now (tests and metrics).</summary>
    public int Driving => _driving.Count;

    private void Wake()
    {
        if (_wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already awake.
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ScanAsync(stoppingToken);
            }
            catch (Exception e) when (e is NoLeaderException or Api.OverloadedException or CommitTimeoutException)
            {
                // Leadership is changing; the next scan sees who leads.
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                _logger.LogError(e, "The transaction coordinator's scan failed; retrying");
            }

            try
            {
                await _wake.WaitAsync(_options.ScanInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        StopDriving();
        await Task.WhenAll(_driving.Values).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task ScanAsync(CancellationToken stoppingToken)
    {
        var status = _silo.Host.Status;
        if (status.Role != RaftRole.Leader)
        {
            StopDriving();
            return;
        }

        if (_leaderTerm != status.Term || _leadership is null)
        {
            StopDriving();
            _leadership = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            _leaderTerm = status.Term;
        }

        if (_driving.Count >= _options.DrivenMax)
        {
            return;
        }

        // The leader's own state: it has applied every entry it proposed, and anything newer only adds work.
        // Preparing transactions first: each has a vote deadline, and must not wait behind deliveries.
        var leadership = _leadership.Token;
        var (preparing, _) = await _gateway.ReadAsync(sm => sm.ListDistributedTransactions(DistributedTransactionState.Preparing, max: _options.DrivenMax), ReadConsistency.Stale, stoppingToken);
        foreach (var transaction in preparing.TakeWhile(_ => _driving.Count < _options.DrivenMax))
        {
            Start(transaction.Id, delivering: false, leadership);
        }

        // Then decided ones, at most DeliveringMax at once, from where the last scan stopped (wrapping),
        // so deliveries to participants that are gone take turns with the others.
        var cursor = _deliveryCursor;
        var (after, _) = await _gateway.ReadAsync(sm => sm.ListDistributedTransactions(unfinishedOnly: true, afterId: cursor, max: _options.DrivenMax), ReadConsistency.Stale, stoppingToken);
        var (from, _) = cursor.Length == 0 ? ([], default) : await _gateway.ReadAsync(sm => sm.ListDistributedTransactions(unfinishedOnly: true, max: _options.DrivenMax), ReadConsistency.Stale, stoppingToken);
        foreach (var transaction in after.Concat(from.TakeWhile(t => string.CompareOrdinal(t.Id, cursor) <= 0)).Where(t => t.Decided))
        {
            if (_driving.Count >= _options.DrivenMax || Volatile.Read(ref _delivering) >= _options.DeliveringMax)
            {
                break;
            }

            Start(transaction.Id, delivering: true, leadership);
            _deliveryCursor = transaction.Id;
        }
    }

    /// <summary>Starts driving <paramref name="id"/> unless a driver is registered for it; the driver unregisters itself (and only itself) when it ends.</summary>
    private void Start(string id, bool delivering, CancellationToken leadership)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var driver = DriveOnceRegisteredAsync(gate.Task, id, leadership);
        if (!_driving.TryAdd(id, driver))
        {
            gate.SetCanceled(CancellationToken.None);
            return;
        }

        if (delivering)
        {
            Interlocked.Increment(ref _delivering);
        }

        gate.SetResult();
        _ = driver.ContinueWith(
            finished =>
            {
                _driving.TryRemove(KeyValuePair.Create(id, finished));
                if (delivering)
                {
                    Interlocked.Decrement(ref _delivering);
                }

                Wake();
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private async Task DriveOnceRegisteredAsync(Task registered, string id, CancellationToken leadership)
    {
        try
        {
            await registered;
        }
        catch (OperationCanceledException)
        {
            return;
        }

        await DriveAsync(id, leadership);
    }

    private void StopDriving()
    {
        if (_leadership is not null)
        {
            _leadership.Cancel();
            _leadership.Dispose();
            _leadership = null;
            _leaderTerm = 0;
        }
    }

    private async Task DriveAsync(string id, CancellationToken leadership)
    {
        try
        {
            while (!leadership.IsCancellationRequested)
            {
                var (view, meta) = await _gateway.ReadAsync(sm => sm.GetDistributedTransaction(id), ReadConsistency.Stale, leadership);
                if (view is null || view.Finished)
                {
                    return;
                }

                if (!view.Decided)
                {
                    await PrepareAllAsync(view, leadership);
                    if (!(await _gateway.ReadAsync(sm => sm.GetDistributedTransaction(id), ReadConsistency.Stale, leadership)).Value!.Decided)
                    {
                        // Every prepare ended without deciding: the vote deadline passed and the
                        // leader's AdvanceTime is about to abort it. Wait for that entry.
                        using var wait = CancellationTokenSource.CreateLinkedTokenSource(leadership);
                        wait.CancelAfter(_options.ScanInterval);
                        await _gateway.WaitForRevisionAsync(meta.AppliedIndex, wait.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    }

                    continue;
                }

                using var round = CancellationTokenSource.CreateLinkedTokenSource(leadership);
                round.CancelAfter(_options.DeliveryRoundMax);
                try
                {
                    await Task.WhenAll(view.Participants.Where(p => !p.Acknowledged).Select(p => DeliverAsync(view, p, round.Token)));
                }
                catch (OperationCanceledException) when (round.IsCancellationRequested && !leadership.IsCancellationRequested)
                {
                    // Someone is not answering: give the slot up; a later scan delivers again.
                    _logger.LogDebug("Delivering the decision of {Transaction} took over {Limit}; yielding its slot", id, _options.DeliveryRoundMax);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (leadership.IsCancellationRequested)
        {
            // No longer the leader (or stopping): the next leader resumes from the replicated state.
        }
        catch (Exception e) when (e is NoLeaderException or Api.OverloadedException or CommitTimeoutException)
        {
            _logger.LogDebug("Stopped driving {Transaction}: {Reason}", id, e.Message);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Driving distributed transaction {Transaction} failed; the next scan retries", id);
        }
    }

    /// <summary>Asks every participant without a vote to prepare, until all voted, the decision is made, or the vote deadline passes.</summary>
    private async Task PrepareAllAsync(DistributedTransactionView view, CancellationToken leadership)
    {
        using var round = CancellationTokenSource.CreateLinkedTokenSource(leadership);
        var remaining = TimeSpan.FromMilliseconds(view.DeadlineMs - _silo.Host.ClockNowMs());
        round.CancelAfter(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
        await Task.WhenAll(view.Participants.Where(p => p.Vote == ParticipantVote.None).Select(async participant =>
        {
            try
            {
                var decided = await _retry.ExecuteAsync(async token =>
                {
                    var (vote, reason) = await AskAsync(participant, "prepare", view.Id, _options.PrepareAttemptTimeout, token);
                    var (result, _) = await _gateway.ExecuteAsync(new RecordParticipantVote(view.Id, participant.Name, vote, reason), null, token);
                    return result is DistributedTransactionResult { Transaction.Decided: true };
                }, round.Token);
                if (decided)
                {
                    // The deciding vote (or the first abort) is in the log: the other prepares are moot.
                    await round.CancelAsync();
                }
            }
            catch (OperationCanceledException) when (round.IsCancellationRequested)
            {
                // Deadline, decision or leadership: the caller looks at the state again.
            }
        }));
    }

    /// <summary>Delivers the decision to one participant until it acknowledges, then records the acknowledgement.</summary>
    private Task DeliverAsync(DistributedTransactionView view, ParticipantView participant, CancellationToken leadership) =>
        _retry.ExecuteAsync(async token =>
        {
            await AskAsync(participant, view.Commits ? "commit" : "abort", view.Id, _options.DeliveryAttemptTimeout, token);
            await _gateway.ExecuteAsync(new AcknowledgeDecision(view.Id, participant.Name), null, token);
        }, leadership).AsTask();

    /// <summary>One request to a participant: POST {endpoint}/{action}. Throws on anything but a 2xx (and, for prepare, a readable vote).</summary>
    private async Task<(ParticipantVote Vote, string Reason)> AskAsync(ParticipantView participant, string action, string transactionId, TimeSpan timeout, CancellationToken cancellation)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        attempt.CancelAfter(timeout);
        using var content = new ByteArrayContent(RequestBody(transactionId, participant, includeWork: action == "prepare"));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var client = _http.CreateClient(HttpClientName);
        HttpResponseMessage response;
        try
        {
            response = await client.PostAsync(new Uri(participant.Endpoint.TrimEnd('/') + "/" + action), content, attempt.Token);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new TimeoutException($"{participant.Name} did not answer {action} within {timeout.TotalMilliseconds} ms.");
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"{participant.Name} answered {action} with {(int)response.StatusCode}.", null, response.StatusCode);
            }

            if (action != "prepare")
            {
                return (ParticipantVote.None, "");
            }

            using var answer = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(attempt.Token));
            var vote = answer.RootElement.TryGetProperty("vote", out var v) ? v.GetString() : null;
            var reason = answer.RootElement.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : "";
            reason = reason.Length > ReasonLengthKept ? reason[..ReasonLengthKept] : reason;
            return vote switch
            {
                "commit" => (ParticipantVote.Commit, ""),
                "abort" => (ParticipantVote.Abort, reason.Length == 0 ? "no reason given" : reason),
                _ => throw new JsonException($"{participant.Name} answered prepare without a vote of 'commit' or 'abort'."),
            };
        }
    }

    private static byte[] RequestBody(string transactionId, ParticipantView participant, bool includeWork)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("transactionId", transactionId);
            json.WriteString("participant", participant.Name);
            if (includeWork)
            {
                json.WritePropertyName("work");
                json.WriteRawValue(participant.Work, skipInputValidation: true);
            }

            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public override void Dispose()
    {
        _silo.State.DistributedTransactionBegun -= Wake;
        StopDriving();
        _wake.Dispose();
        base.Dispose();
    }
}
