using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace Coordination.Client.Participants;

/// <summary>Maps the coordinator → participant protocol (docs/client.md, "Participant library").</summary>
public static partial class ParticipantEndpointRouteBuilderExtensions
{
    private static readonly JsonElement NullWork = JsonDocument.Parse("null").RootElement.Clone();

    /// <summary>
    /// Maps <c>POST {prefix}/prepare</c>, <c>{prefix}/commit</c> and <c>{prefix}/abort</c>; name <c>http(s)://host:port{prefix}</c>
    /// as the participant's endpoint when beginning a distributed transaction. Needs
    /// <see cref="ParticipantServiceCollectionExtensions.AddTransactionParticipant{T}"/>.
    /// </summary>
    /// <remarks>
    /// Answers: prepare <c>200 {"vote":"commit"}</c> or <c>200 {"vote":"abort","reason"}</c>; commit and abort <c>200</c> when applied
    /// (also when applied before). Refusals are <c>application/problem+json</c> with a <c>code</c>: <c>400 validation</c>,
    /// <c>400 malformed-json</c>, <c>413 body-too-large</c>, <c>409 not-prepared</c> / <c>voted-abort</c> / <c>already-aborted</c>
    /// (commit), <c>409 already-committed</c> (abort), <c>503 limit-exceeded</c> (journal full), <c>500 participant-failed</c>
    /// (the application threw: the coordinator retries).
    /// </remarks>
    public static RouteGroupBuilder MapTransactionParticipant(this IEndpointRouteBuilder endpoints, string prefix)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var group = endpoints.MapGroup(prefix);
        group.MapPost("/prepare", Prepare);
        group.MapPost("/commit", (HttpContext http, ParticipantEngine engine, TransactionParticipantOptions options, ILoggerFactory logs) =>
            Decide(http, engine, options, logs, commit: true));
        group.MapPost("/abort", (HttpContext http, ParticipantEngine engine, TransactionParticipantOptions options, ILoggerFactory logs) =>
            Decide(http, engine, options, logs, commit: false));
        return group;
    }

    private static async Task<IResult> Prepare(HttpContext http, ParticipantEngine engine, TransactionParticipantOptions options, ILoggerFactory logs)
    {
        var (call, refused) = await ReadAsync(http, options, ParticipantJsonContext.Default.PrepareCall).ConfigureAwait(false);
        if (refused is not null)
        {
            return refused;
        }

        if (!ParticipantJournal.IsValidTransactionId(call!.TransactionId))
        {
            return InvalidId();
        }

        try
        {
            var vote = await engine.PrepareAsync(call.TransactionId!, call.Participant, call.Work ?? NullWork, http.RequestAborted).ConfigureAwait(false);
            return TypedResults.Json(new VoteAnswer(vote.IsCommit ? "commit" : "abort", vote.Reason), ParticipantJsonContext.Default.VoteAnswer);
        }
        catch (InvalidOperationException e) when (e.Message.Contains("TransactionsMax", StringComparison.Ordinal))
        {
            return Problem(503, "limit-exceeded", e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException || !http.RequestAborted.IsCancellationRequested)
        {
            LogFailed(logs.CreateLogger(typeof(ParticipantEngine)), e, "prepare", call.TransactionId!);
            return Problem(500, "participant-failed", $"The participant could not prepare: {e.Message}");
        }
    }

    private static async Task<IResult> Decide(HttpContext http, ParticipantEngine engine, TransactionParticipantOptions options, ILoggerFactory logs, bool commit)
    {
        var (call, refused) = await ReadAsync(http, options, ParticipantJsonContext.Default.DecisionCall).ConfigureAwait(false);
        if (refused is not null)
        {
            return refused;
        }

        if (!ParticipantJournal.IsValidTransactionId(call!.TransactionId))
        {
            return InvalidId();
        }

        var id = call.TransactionId!;
        DecisionAnswer answer;
        try
        {
            answer = commit
                ? await engine.CommitAsync(id, http.RequestAborted).ConfigureAwait(false)
                : await engine.AbortAsync(id, http.RequestAborted).ConfigureAwait(false);
        }
        catch (InvalidOperationException e) when (e.Message.Contains("TransactionsMax", StringComparison.Ordinal))
        {
            // An abort of a transaction never prepared here is journaled too; a full journal is the 503 prepare answers.
            return Problem(503, "limit-exceeded", e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException || !http.RequestAborted.IsCancellationRequested)
        {
            LogFailed(logs.CreateLogger(typeof(ParticipantEngine)), e, commit ? "commit" : "abort", id);
            return Problem(500, "participant-failed", $"The participant could not {(commit ? "commit" : "abort")}: {e.Message}");
        }

        return answer switch
        {
            DecisionAnswer.Acknowledged => TypedResults.Json(new DecisionAcknowledged(id, commit ? "committed" : "aborted"), ParticipantJsonContext.Default.DecisionAcknowledged),
            DecisionAnswer.NotPrepared => Problem(409, "not-prepared", $"Transaction '{id}' was never prepared here."),
            DecisionAnswer.VotedAbort => Problem(409, "voted-abort", $"This participant voted abort on transaction '{id}'."),
            DecisionAnswer.AlreadyAborted => Problem(409, "already-aborted", $"Transaction '{id}' was aborted here."),
            _ => Problem(409, "already-committed", $"Transaction '{id}' was committed here."),
        };
    }

    private static async Task<(T? Call, IResult? Refused)> ReadAsync<T>(HttpContext http, TransactionParticipantOptions options, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : class
    {
        if (http.Request.ContentLength > options.RequestBodyBytesMax)
        {
            return (null, Problem(413, "body-too-large", $"A request body may hold at most {options.RequestBodyBytesMax} bytes."));
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = options.RequestBodyBytesMax;
        }

        try
        {
            var call = await JsonSerializer.DeserializeAsync(http.Request.Body, type, http.RequestAborted).ConfigureAwait(false);
            return call is null ? (null, Problem(400, "malformed-json", "The body must be a JSON object.")) : (call, null);
        }
        catch (JsonException e)
        {
            return (null, Problem(400, "malformed-json", e.Message));
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Problem(413, "body-too-large", $"A request body may hold at most {options.RequestBodyBytesMax} bytes."));
        }
    }

    private static IResult InvalidId() =>
        Problem(400, "validation", $"transactionId must be 1..{ParticipantJournal.TransactionIdLengthMax} characters of A-Z a-z 0-9 . _ - :.");

    private static IResult Problem(int status, string code, string detail) =>
        TypedResults.Problem(detail, statusCode: status, title: code, extensions: new Dictionary<string, object?> { ["code"] = code });

    [LoggerMessage(Level = LogLevel.Error, Message = "The participant failed to {Phase} transaction {TransactionId}")]
    private static partial void LogFailed(ILogger logger, Exception exception, string phase, string transactionId);
}

/// <summary>Registers the participant library.</summary>
public static class ParticipantServiceCollectionExtensions
{
    /// <summary>
    /// Registers <typeparamref name="T"/> (a singleton, unless the application registered it already) as this process's <see cref="ITransactionParticipant"/>, the journal
    /// at <see cref="TransactionParticipantOptions.JournalPath"/> (opened and replayed when first needed), the
    /// <see cref="ParticipantEngine"/> and the <see cref="InDoubtResolver"/> hosted service. One participant per container.
    /// Map the protocol with <see cref="ParticipantEndpointRouteBuilderExtensions.MapTransactionParticipant"/>.
    /// </summary>
    public static IServiceCollection AddTransactionParticipant<T>(this IServiceCollection services, Action<TransactionParticipantOptions> configure)
        where T : class, ITransactionParticipant
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new TransactionParticipantOptions();
        configure(options);
        options.Validate();
        services.AddSingleton(options);
        // An instance (or factory) the application registered itself wins.
        services.TryAddSingleton<T>();
        services.AddSingleton<ITransactionParticipant>(sp => sp.GetRequiredService<T>());
        services.AddSingleton(sp => ParticipantJournal.Open(
            options.JournalPath, (options.TimeProvider.GetUtcNow() - options.FinishedRetention).ToUnixTimeMilliseconds()));
        services.AddSingleton(sp => new ParticipantEngine(sp.GetRequiredService<ITransactionParticipant>(), sp.GetRequiredService<ParticipantJournal>(), options));
        services.AddSingleton(sp => new OwnedOutcomeSource(options.CoordinatorEndpoints is { Count: > 0 } endpoints
            ? new CoordinationClient(new CoordinationClientOptions { Endpoints = endpoints, TimeProvider = options.TimeProvider })
            : null));
        if (!options.ResolveInDoubt)
        {
            return services;
        }

        services.AddHostedService(sp => new InDoubtResolver(
            sp.GetRequiredService<ParticipantEngine>(),
            sp.GetService<ITransactionOutcomeSource>()
                ?? (sp.GetRequiredService<OwnedOutcomeSource>().Client ?? sp.GetService<CoordinationClient>()) switch
                {
                    { } client => new CoordinationOutcomeSource(client),
                    null => null,
                },
            options,
            sp.GetService<ILogger<InDoubtResolver>>()));
        return services;
    }

    /// <summary>The client the library made from <see cref="TransactionParticipantOptions.CoordinatorEndpoints"/>, disposed with the container.</summary>
    internal sealed class OwnedOutcomeSource(CoordinationClient? client) : IDisposable
    {
        public CoordinationClient? Client { get; } = client;

        public void Dispose() => Client?.Dispose();
    }
}
