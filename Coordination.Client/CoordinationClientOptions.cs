namespace Coordination.Client;

/// <summary>
/// Settings of a <see cref="CoordinationClient"/>. Read once when the client is built; later changes
/// have no effect. <see cref="Validate"/> runs then and names the first bad setting.
/// </summary>
public sealed class CoordinationClientOptions
{
    /// <summary>The default endpoint: one silo on loopback (docs/api.md).</summary>
    public static readonly Uri DefaultEndpoint = new("http://127.0.0.1:5080/");

    /// <summary>Base URLs of silos. Any silo answers any request; the client learns the rest and the leader from <c>GET /v1/cluster</c>.</summary>
    public IList<Uri> Endpoints { get; set; } = [DefaultEndpoint];

    /// <summary>How long one HTTP attempt may take (long-polls get their wait on top of this).</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Retries after the first attempt of a request that is safe to retry (a GET, or a write with an
    /// idempotency key). With the default delays, while the leader changes ten retries span about 1 s
    /// (several elections); against an overloaded cluster, about 10 s.
    /// </summary>
    public int RetryAttemptsMax { get; set; } = 10;

    /// <summary>
    /// The first retry delay; later ones grow exponentially with jitter up to <see cref="RetryDelayMax"/>.
    /// Short, because the common cause is a leader failing over, which takes a few hundred milliseconds.
    /// </summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest delay between two attempts, also the cap on a silo's <c>Retry-After</c>.</summary>
    public TimeSpan RetryDelayMax { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The longest delay between attempts while the leader is changing (<c>no-leader</c>, or a silo
    /// refused the connection): an election takes a few hundred milliseconds, and a longer step would
    /// leave the client waiting well after the new leader took over.
    /// </summary>
    public TimeSpan LeaderChangeRetryDelayMax { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Whether the client sends a generated <c>Idempotency-Key</c> with every write, reused across that
    /// write's retries. Without keys, writes are never retried (a retried write could apply twice).
    /// </summary>
    public bool UseIdempotencyKeys { get; set; } = true;

    /// <summary>
    /// Send every request over HTTP/2, many at once on one connection per silo (more past the silo's
    /// 100 streams per connection): the silo and the client spend several times fewer system calls and
    /// wake-ups per request than with a connection per request in flight (docs/benchmarks.md). With
    /// <c>http://</c> endpoints, give the silos' HTTP/2 URLs (the fourth port of <c>--members</c>, e.g.
    /// <c>http://127.0.0.1:7081/</c>); the client then learns the other silos' HTTP/2 URLs from
    /// <c>GET /v1/cluster</c>. With <c>https://</c> endpoints HTTP/2 is agreed on in the TLS handshake.
    /// </summary>
    public bool UseHttp2 { get; set; }

    /// <summary>The wait of one events long-poll (<c>waitMs</c>) used by the watches.</summary>
    public TimeSpan WatchPollWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest <see cref="WatchPollWait"/>: a silo answers a longer <c>waitMs</c> with 400 validation, so every watch would fail.</summary>
    public static readonly TimeSpan WatchPollWaitMax = TimeSpan.FromSeconds(60);

    /// <summary>How long a watch waits before it polls again after every retry of a poll failed.</summary>
    public TimeSpan WatchRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The session TTL used when a caller does not give one.</summary>
    public TimeSpan DefaultSessionTtl { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The clock for keep-alives, retry delays and attempt timeouts; tests pass a manual one.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Rejects settings the client cannot work with.</summary>
    /// <exception cref="ArgumentException">The first bad setting.</exception>
    public void Validate()
    {
        if (Endpoints.Count == 0)
        {
            throw new ArgumentException("At least one endpoint is required.", nameof(Endpoints));
        }

        foreach (var endpoint in Endpoints)
        {
            if (!endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
            {
                throw new ArgumentException($"Endpoint '{endpoint}' is not an absolute http(s) URL.", nameof(Endpoints));
            }
        }

        if (AttemptTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("AttemptTimeout must be positive.", nameof(AttemptTimeout));
        }

        if (RetryAttemptsMax is < 0 or > 100)
        {
            throw new ArgumentException("RetryAttemptsMax must be within 0..100.", nameof(RetryAttemptsMax));
        }

        if (RetryBaseDelay < TimeSpan.Zero || RetryDelayMax < RetryBaseDelay || LeaderChangeRetryDelayMax < RetryBaseDelay || LeaderChangeRetryDelayMax > RetryDelayMax)
        {
            throw new ArgumentException("Retry delays must satisfy 0 <= RetryBaseDelay <= LeaderChangeRetryDelayMax <= RetryDelayMax.", nameof(RetryBaseDelay));
        }

        if (WatchPollWait <= TimeSpan.Zero || WatchPollWait > WatchPollWaitMax || WatchRetryDelay < TimeSpan.Zero)
        {
            throw new ArgumentException($"WatchPollWait must be within 0..{WatchPollWaitMax.TotalSeconds:0} s (a silo refuses longer waits) and WatchRetryDelay not negative.", nameof(WatchPollWait));
        }

        if (DefaultSessionTtl < TimeSpan.FromSeconds(1) || DefaultSessionTtl > TimeSpan.FromHours(1))
        {
            throw new ArgumentException("DefaultSessionTtl must be within 1 s..1 h (docs/api.md).", nameof(DefaultSessionTtl));
        }
    }

    /// <summary>Parses a comma-separated list of base URLs (the CLI's <c>--endpoints</c>, <c>COORD_ENDPOINTS</c>).</summary>
    /// <exception cref="FormatException">An entry is not an absolute http(s) URL.</exception>
    public static IList<Uri> ParseEndpoints(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var endpoints = new List<Uri>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            // On Unix "/v1" is an absolute file URI: only http(s) URLs name a silo.
            if (!Uri.TryCreate(part, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new FormatException($"'{part}' is not an absolute http(s) URL.");
            }

            endpoints.Add(uri);
        }

        return endpoints;
    }
}
