using Coordination.Client.Transactions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordination.Client.Participants;

/// <summary>Where the in-doubt resolver learns a transaction's decision.</summary>
public interface ITransactionOutcomeSource
{
    /// <summary>The coordinator's decision (<c>GET /v1/distributed-transactions/{id}/outcome</c>); unknown ids are abort (presumed abort).</summary>
    Task<TransactionOutcome> GetOutcomeAsync(string transactionId, CancellationToken cancellationToken);
}

/// <summary>Asks the coordinator through a <see cref="CoordinationClient"/> (leader discovery, retries).</summary>
public sealed class CoordinationOutcomeSource(CoordinationClient client) : ITransactionOutcomeSource
{
    public Task<TransactionOutcome> GetOutcomeAsync(string transactionId, CancellationToken cancellationToken) =>
        client.GetDistributedTransactionOutcomeAsync(transactionId, cancellationToken);
}

/// <summary>
/// Settles transactions this participant voted commit on but never heard the decision of (the coordinator's
/// redelivery normally arrives first; this covers a coordinator that lost the participant's address or a long
/// partition). Every <see cref="TransactionParticipantOptions.ResolveInterval"/> it asks the coordinator for the
/// outcome of each transaction prepared longer than <see cref="TransactionParticipantOptions.InDoubtAfter"/> ago and
/// applies commit or abort through the <see cref="ParticipantEngine"/>; pending ones wait for the next round.
/// </summary>
public sealed partial class InDoubtResolver : BackgroundService
{
    /// <summary>The most transactions one round asks about; the rest wait for the next round.</summary>
    public const int TransactionsPerRoundMax = 256;

    private readonly ParticipantEngine _engine;
    private readonly ITransactionOutcomeSource? _outcomes;
    private readonly TransactionParticipantOptions _options;
    private readonly ILogger _logger;

    public InDoubtResolver(ParticipantEngine engine, ITransactionOutcomeSource? outcomes, TransactionParticipantOptions options, ILogger<InDoubtResolver>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(options);
        _engine = engine;
        _outcomes = outcomes;
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>
    /// One round: asks about every in-doubt transaction (up to <see cref="TransactionsPerRoundMax"/>) and applies the
    /// decisions. Returns how many were settled. A failed question is logged and retried next round.
    /// </summary>
    public async Task<int> ResolveOnceAsync(CancellationToken cancellationToken)
    {
        if (_outcomes is null)
        {
            return 0;
        }

        var cutoff = _options.TimeProvider.GetUtcNow() - _options.InDoubtAfter;
        var settled = 0;
        foreach (var record in _engine.Journal.InDoubt(cutoff.ToUnixTimeMilliseconds()).Take(TransactionsPerRoundMax))
        {
            try
            {
                var outcome = await _outcomes.GetOutcomeAsync(record.TransactionId, cancellationToken).ConfigureAwait(false);
                var answer = outcome switch
                {
                    TransactionOutcome.Commit => await _engine.CommitAsync(record.TransactionId, cancellationToken).ConfigureAwait(false),
                    TransactionOutcome.Abort => await _engine.AbortAsync(record.TransactionId, cancellationToken).ConfigureAwait(false),
                    _ => (DecisionAnswer?)null,
                };
                if (answer is not null)
                {
                    settled++;
                    LogResolved(record.TransactionId, outcome);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogFailed(e, record.TransactionId);
            }
        }

        return settled;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_outcomes is null)
        {
            LogIdle();
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.ResolveInterval, _options.TimeProvider, stoppingToken).ConfigureAwait(false);
                await ResolveOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "In-doubt transaction {TransactionId} resolved as {Outcome} by asking the coordinator")]
    private partial void LogResolved(string transactionId, TransactionOutcome outcome);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not resolve in-doubt transaction {TransactionId}; will ask again")]
    private partial void LogFailed(Exception exception, string transactionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The in-doubt resolver is idle: no coordinator endpoints, outcome source or CoordinationClient is configured")]
    private partial void LogIdle();
}
