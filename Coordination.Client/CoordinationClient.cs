using System.Globalization;
using System.Text.Json.Serialization.Metadata;
using Coordination.Client.Http;
using Coordination.Client.Wire;

namespace Coordination.Client;

/// <summary>
/// The client of a Coordination cluster over its REST API (docs/api.md). One instance per process is
/// enough: it is thread-safe, remembers the leader, and every session, lock and watch goes through it.
/// </summary>
/// <remarks>
/// Writes go to the known leader (learned from <c>GET /v1/cluster</c>); reads and writes fail over to the
/// next endpoint on connection errors and <c>503 no-leader</c>. A request is retried only when that is
/// safe: GETs, and writes that carry an <c>Idempotency-Key</c> (one per logical operation, the default).
/// Every refusal surfaces as a <see cref="CoordinationException"/>.
/// </remarks>
public sealed partial class CoordinationClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;

    /// <summary>A client with its own <see cref="HttpClient"/>, disposed with the client.</summary>
    public CoordinationClient(CoordinationClientOptions options)
        : this(new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = true }) { Timeout = Timeout.InfiniteTimeSpan }, options, ownsHttp: true)
    {
    }

    /// <summary>
    /// A client over <paramref name="http"/> (from IHttpClientFactory, or over a test handler). Its
    /// <c>BaseAddress</c> is ignored: the endpoints come from <paramref name="options"/>. Set its
    /// <c>Timeout</c> to infinite; the client times each attempt itself.
    /// </summary>
    public CoordinationClient(HttpClient http, CoordinationClientOptions options)
        : this(http, options, ownsHttp: false)
    {
    }

    private CoordinationClient(HttpClient http, CoordinationClientOptions options, bool ownsHttp)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _http = http;
        _ownsHttp = ownsHttp;
        Options = options;
        Transport = new CoordinationTransport(http, options);
    }

    /// <summary>The settings the client was built with.</summary>
    public CoordinationClientOptions Options { get; }

    /// <summary>The base URL of the leader as last learned, or null while unknown.</summary>
    public Uri? KnownLeader => Transport.Endpoints.Leader;

    internal CoordinationTransport Transport { get; }

    /// <summary>The cluster as one silo sees it (<c>GET /v1/cluster</c>); also refreshes the known leader and endpoints.</summary>
    public async Task<ClusterStatus> GetClusterAsync(CancellationToken cancellationToken = default)
    {
        var status = await GetAsync("v1/cluster", CoordinationJsonContext.Default.ClusterStatus, cancellationToken).ConfigureAwait(false);
        Transport.Endpoints.Learn(status);
        return status;
    }

    /// <summary>Takes <paramref name="count"/> values of a sequence: unique and increasing across the cluster.</summary>
    public async Task<SequenceRange> NextAsync(string name, int count = 1, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        return await WriteAsync(
            HttpMethod.Post, $"v1/sequences/{CoordinationRequest.Segment(name)}/next", new NextRequest(count),
            CoordinationJsonContext.Default.NextRequest, CoordinationJsonContext.Default.SequenceRange, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The last value a sequence handed out (0 when none).</summary>
    public async Task<long> GetSequenceAsync(string name, CancellationToken cancellationToken = default)
    {
        var last = await GetAsync($"v1/sequences/{CoordinationRequest.Segment(name)}", CoordinationJsonContext.Default.SequenceLast, cancellationToken).ConfigureAwait(false);
        return last.Last;
    }

    /// <summary>
    /// Whether a best-effort call (a session's end on disposal, an abandon or resign after a failure) may
    /// be given up quietly: refused, out of time, or the client already disposed (an application shutting
    /// down in any order); the session then expires after its TTL.
    /// </summary>
    internal static bool BestEffortFailed(Exception e, CancellationTokenSource bound) =>
        e is CoordinationException or ObjectDisposedException || (e is OperationCanceledException && bound.IsCancellationRequested);

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    internal async Task<T> GetAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken cancellationToken, TimeSpan? attemptTimeout = null) =>
        (await Transport.SendAsync(CoordinationRequest.Get(path, attemptTimeout), type, cancellationToken).ConfigureAwait(false)).Value;

    internal Task<(T Value, ReadMetadata Read)> GetWithMetadataAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken cancellationToken, TimeSpan? attemptTimeout = null) =>
        Transport.SendAsync(CoordinationRequest.Get(path, attemptTimeout), type, cancellationToken);

    /// <summary>One logical write with a body: one idempotency key for all of its attempts.</summary>
    internal async Task<TAnswer> WriteAsync<TBody, TAnswer>(
        HttpMethod method, string path, TBody body, JsonTypeInfo<TBody> bodyType, JsonTypeInfo<TAnswer> answerType, CancellationToken cancellationToken, TimeSpan? attemptTimeout = null)
    {
        var request = CoordinationRequest.Write(method, path, body, bodyType, Transport.NewIdempotencyKey(), attemptTimeout);
        return (await Transport.SendAsync(request, answerType, cancellationToken).ConfigureAwait(false)).Value;
    }

    /// <summary>One logical write without a body.</summary>
    internal async Task<TAnswer> WriteAsync<TAnswer>(HttpMethod method, string path, JsonTypeInfo<TAnswer> answerType, CancellationToken cancellationToken, TimeSpan? attemptTimeout = null) =>
        (await Transport.SendAsync(CoordinationRequest.Write(method, path, Transport.NewIdempotencyKey(), attemptTimeout), answerType, cancellationToken).ConfigureAwait(false)).Value;

    internal static string Query(string path, params (string Name, object? Value)[] parameters)
    {
        var parts = parameters
            .Where(p => p.Value is not null)
            .Select(p => $"{p.Name}={Uri.EscapeDataString(Convert.ToString(p.Value, CultureInfo.InvariantCulture)!)}");
        var query = string.Join('&', parts);
        return query.Length == 0 ? path : $"{path}?{query}";
    }
}
