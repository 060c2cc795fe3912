using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Coordination.Client.Wire;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Coordination.Client.Http;

/// <summary>
/// Sends <see cref="CoordinationRequest"/>s to the cluster: picks the silo (<see cref="EndpointSelector"/>),
/// retries what is safe to retry with jittered exponential backoff and a per-attempt timeout (Polly), and
/// turns every refusal into a <see cref="CoordinationException"/>. Thread-safe; used concurrently by sessions and watches.
/// </summary>
internal sealed class CoordinationTransport
{
    private const string IdempotencyKeyHeader = "Idempotency-Key";

    private static readonly ResiliencePropertyKey<TimeSpan> AttemptTimeoutKey = new("coordination.attempt-timeout");
    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json") { CharSet = "utf-8" };

    private readonly HttpClient _http;
    private readonly CoordinationClientOptions _options;
    private readonly ResiliencePipeline _retrying;
    private readonly ResiliencePipeline _retryingUnsent;
    private readonly ResiliencePipeline _once;

    public CoordinationTransport(HttpClient http, CoordinationClientOptions options)
    {
        _http = http;
        _options = options;
        Endpoints = new EndpointSelector(options.Endpoints, options.UseHttp2);
        _retrying = Build(options, retry: options.RetryAttemptsMax > 0);
        _retryingUnsent = Build(options, retry: options.RetryAttemptsMax > 0, unsentOnly: true);
        _once = Build(options, retry: false);
    }

    public EndpointSelector Endpoints { get; }

    /// <summary>A fresh idempotency key for one logical write, or null when keys are switched off.</summary>
    public string? NewIdempotencyKey() => _options.UseIdempotencyKeys ? Guid.NewGuid().ToString("N") : null;

    /// <summary>Sends <paramref name="request"/> and reads the answer as <typeparamref name="T"/> (<see cref="Empty"/> skips the body; <c>byte[]</c> takes it raw).</summary>
    /// <exception cref="CoordinationException">The cluster refused the request, or no attempt reached a silo.</exception>
    public async Task<(T Value, ReadMetadata Read)> SendAsync<T>(CoordinationRequest request, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        var pipeline = !request.IsRetryable ? _once : request.RetryUnsentOnly ? _retryingUnsent : _retrying;
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(AttemptTimeoutKey, request.AttemptTimeout ?? _options.AttemptTimeout);
        try
        {
            return await pipeline.ExecuteAsync(
                static (ctx, state) => state.Self.AttemptAsync(state.Request, state.Type, state.Caller, ctx.CancellationToken),
                context,
                (Self: this, Request: request, Type: type, Caller: cancellationToken)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutRejectedException)
        {
            throw new CoordinationException("unreachable", 0, $"{request.Method} /{request.Path}: no silo answered ({e.Message}).", e);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>
    /// Asks the known endpoints in turn for <c>GET /v1/cluster</c> (one attempt each) and learns the members
    /// and the leader from the first that answers. Returns null when none answered.
    /// </summary>
    public async Task<ClusterStatus?> DiscoverAsync(CancellationToken cancellationToken)
    {
        var endpoints = Endpoints.InTurn().ToList();
        // Every silo answers this from memory: a silent one (a host down without refusing, a partition)
        // gets a share of the attempt, so one round of asking fits in an attempt and a later one starts
        // elsewhere. With the whole attempt for each, a silent first silo took every attempt.
        var perSilo = _options.AttemptTimeout / (endpoints.Count + 1);
        foreach (var endpoint in endpoints)
        {
            using var timeout = new CancellationTokenSource(perSilo, _options.TimeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            try
            {
                using var request = NewRequest(HttpMethod.Get, new Uri(endpoint, "v1/cluster"));
                using var response = await _http.SendAsync(request, linked.Token).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    var status = await response.Content.ReadFromJsonAsync(CoordinationJsonContext.Default.ClusterStatus, linked.Token).ConfigureAwait(false);
                    if (status is not null)
                    {
                        Endpoints.Learn(status);
                        return status;
                    }
                }
            }
            catch (Exception e) when (e is HttpRequestException or JsonException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                // This silo cannot say; ask the next one.
            }
            catch (OperationCanceledException)
            {
                // The attempt ended while this silo kept silent: the next discovery starts elsewhere.
                Endpoints.Failed(endpoint);
                throw;
            }

            Endpoints.Failed(endpoint);
        }

        Endpoints.DiscoveryFailed();
        return null;
    }

    /// <summary>A request in the HTTP version the options ask for (exactly: an HTTP/2 port refuses HTTP/1.1).</summary>
    private HttpRequestMessage NewRequest(HttpMethod method, Uri uri) => _options.UseHttp2
        ? new(method, uri) { Version = System.Net.HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact }
        : new(method, uri);

    private async ValueTask<(T, ReadMetadata)> AttemptAsync<T>(CoordinationRequest request, JsonTypeInfo<T> type, CancellationToken caller, CancellationToken attempt)
    {
        if (request.IsWrite && Endpoints.ShouldDiscover())
        {
            await DiscoverAsync(attempt).ConfigureAwait(false);
        }

        var endpoint = Endpoints.Pick(request.IsWrite);
        using var message = NewRequest(request.Method, new Uri(endpoint, request.Path));
        if (request.Body is not null)
        {
            message.Content = new ByteArrayContent(request.Body) { Headers = { ContentType = JsonMediaType } };
        }

        if (request.IdempotencyKey is not null)
        {
            message.Headers.TryAddWithoutValidation(IdempotencyKeyHeader, request.IdempotencyKey);
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(message, HttpCompletionOption.ResponseContentRead, attempt).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !caller.IsCancellationRequested))
        {
            Endpoints.Failed(endpoint);
            throw;
        }

        using (response)
        {
            var read = ReadHeaders(response);
            if (response.IsSuccessStatusCode)
            {
                if (typeof(T) == typeof(Empty))
                {
                    return (default!, read);
                }

                if (typeof(T) == typeof(byte[]))
                {
                    // A binary answer (the saved state), not JSON.
                    return ((T)(object)await response.Content.ReadAsByteArrayAsync(attempt).ConfigureAwait(false), read);
                }

                var value = await response.Content.ReadFromJsonAsync(type, attempt).ConfigureAwait(false)
                    ?? throw new CoordinationException("malformed-answer", (int)response.StatusCode, $"{request.Method} /{request.Path}: the answer had no body.");
                return (value, read);
            }

            var error = await ReadProblemAsync(request, response, read.Revision, _options.TimeProvider, attempt).ConfigureAwait(false);
            if (error.Error == CoordinationError.NoLeader || (error.Error == CoordinationError.Unknown && error.IsTransient))
            {
                Endpoints.Failed(endpoint);
            }

            throw error;
        }
    }

    private static async Task<CoordinationException> ReadProblemAsync(CoordinationRequest request, HttpResponseMessage response, long? revision, TimeProvider time, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        Problem? problem = null;
        try
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (text.Length > 0)
            {
                problem = JsonSerializer.Deserialize(text, CoordinationJsonContext.Default.Problem);
            }
        }
        catch (JsonException)
        {
            // Not a ProblemDetails body (a proxy's page, say): the status alone describes the error.
        }

        var code = problem?.Code ?? $"http-{status}";
        var detail = problem?.Detail ?? problem?.Title ?? response.ReasonPhrase ?? "";
        var retryAfter = response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - time.GetUtcNow(),
            _ => (TimeSpan?)null,
        };
        return new CoordinationException(code, status, $"{request.Method} /{request.Path}: {status} {code}: {detail}", retryAfter: retryAfter) { Revision = revision };
    }

    private static ReadMetadata ReadHeaders(HttpResponseMessage response)
    {
        return new ReadMetadata(
            Header("X-Coordination-Revision"),
            response.Headers.TryGetValues("X-Coordination-Stale", out var stale) && stale.Any(s => s.Equals("true", StringComparison.OrdinalIgnoreCase)),
            Header("X-Coordination-Applied-Index"),
            Header("X-Coordination-Leader-Contact-Ms"));

        long? Header(string name) =>
            response.Headers.TryGetValues(name, out var values) && long.TryParse(values.FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var number)
                ? number
                : null;
    }

    /// <summary>
    /// The delay before retry <paramref name="attempt"/> (0 for the first), or null for Polly's jittered
    /// exponential backoff. A silo's <c>Retry-After</c> is honoured (clamped to the retry delays) except
    /// on <c>no-leader</c>: while the leader changes (no-leader, a refused connection) the delay doubles
    /// only up to <see cref="CoordinationClientOptions.LeaderChangeRetryDelayMax"/>, since an election
    /// takes a fraction of a second and the header's unit, a whole second, would hold every write that
    /// long after a leader failed.
    /// </summary>
    internal static TimeSpan? RetryDelay(Exception? refusal, int attempt, CoordinationClientOptions options)
    {
        if (refusal is CoordinationException { Error: CoordinationError.NoLeader } or HttpRequestException)
        {
            var doubled = options.RetryBaseDelay.Ticks << Math.Min(attempt, 20);
            var capped = Math.Min(doubled, options.LeaderChangeRetryDelayMax.Ticks);
            return TimeSpan.FromTicks((long)(capped * (0.75 + (Random.Shared.NextDouble() / 2))));
        }

        return refusal is CoordinationException { RetryAfter: { } after }
            ? TimeSpan.FromTicks(Math.Clamp(after.Ticks, options.RetryBaseDelay.Ticks, options.RetryDelayMax.Ticks))
            : null;
    }

    private static ResiliencePipeline Build(CoordinationClientOptions options, bool retry, bool unsentOnly = false)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = options.TimeProvider };
        if (retry)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                // Only what did not apply or is safe to repeat: connection errors, attempt timeouts, no-leader,
                // overloaded, and timeout (outcome unknown, repeated with the same idempotency key). With
                // unsentOnly, only what never reached the grains (CoordinationRequest.RetryUnsentOnly).
                ShouldHandle = unsentOnly
                    ? static args => ValueTask.FromResult(args.Outcome.Exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } or CoordinationException { Error: CoordinationError.NoLeader or CoordinationError.Overloaded })
                    : static args => ValueTask.FromResult(args.Outcome.Exception is HttpRequestException or TimeoutRejectedException or CoordinationException { IsTransient: true }),
                MaxRetryAttempts = options.RetryAttemptsMax,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = options.RetryDelayMax,
                DelayGenerator = args => ValueTask.FromResult(RetryDelay(args.Outcome.Exception, args.AttemptNumber, options)),
            });
        }

        builder.AddTimeout(new TimeoutStrategyOptions
        {
            TimeoutGenerator = static args => ValueTask.FromResult(args.Context.Properties.GetValue(AttemptTimeoutKey, Timeout.InfiniteTimeSpan)),
        });
        return builder.Build();
    }
}
