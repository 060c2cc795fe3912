using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Coordination.Bench;

/// <summary>
/// Plain HTTP to the cluster: finds the leader, sends writes there, spreads stale reads. HTTP/1.1 uses
/// one connection per request in flight; HTTP/2 (without TLS, to the silos' HTTP/2 ports) multiplexes
/// them, up to the server's stream limit per connection and then on more connections.
/// </summary>
public sealed class RestCluster : IDisposable
{
    private static readonly System.Net.Http.Headers.MediaTypeHeaderValue JsonMediaType = new("application/json");
    private readonly HttpClient _http;
    private readonly Uri[] _endpoints;
    private readonly Version _version;
    private int _next;

    public RestCluster(IReadOnlyList<Uri> endpoints, Version? httpVersion = null)
    {
        _endpoints = [.. endpoints];
        _version = httpVersion ?? HttpVersion.Version11;
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024, EnableMultipleHttp2Connections = true, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = TimeSpan.FromSeconds(30),
            DefaultRequestVersion = _version,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        Leader = _endpoints[0];
    }

    /// <summary>True when requests go over HTTP/2 (to the silos' HTTP/2 URLs).</summary>
    public bool Http2 => _version == HttpVersion.Version20;

    public Uri Leader { get; private set; }

    public IReadOnlyList<Uri> Endpoints => _endpoints;

    /// <summary>Asks each endpoint for the leader's URL until one answers.</summary>
    public async Task<Uri> DiscoverLeaderAsync(CancellationToken cancellation = default)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            foreach (var endpoint in _endpoints)
            {
                try
                {
                    var cluster = await _http.GetFromJsonAsync<JsonElement>(new Uri(endpoint, "/v1/cluster"), cancellation);
                    var leader = cluster.GetProperty("leader").GetUInt64();
                    var member = cluster.GetProperty("members").EnumerateArray().FirstOrDefault(m => m.GetProperty("id").GetUInt64() == leader);
                    if (leader != 0 && member.ValueKind == JsonValueKind.Object)
                    {
                        return Leader = member.TryGetProperty(Http2 ? "http2Url" : "clientUrl", out var property) && property.GetString() is { } url
                            ? new Uri(url)
                            : throw new InvalidOperationException($"the leader, silo {leader}, lists no {(Http2 ? "HTTP/2 URL (start the silos with a fourth --members port)" : "client URL")}");
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                }
            }

            await Task.Delay(50, cancellation);
        }

        throw new InvalidOperationException("no leader found");
    }

    /// <summary>etcd: asks each endpoint's status for the leader and sends writes there.</summary>
    public async Task<Uri> DiscoverEtcdLeaderAsync(CancellationToken cancellation = default)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            foreach (var endpoint in _endpoints)
            {
                try
                {
                    var status = await SendAsync(HttpMethod.Post, "/v3/maintenance/status", new { }, endpoint, cancellation);
                    if (status.GetProperty("leader").GetString() == status.GetProperty("header").GetProperty("member_id").GetString())
                    {
                        return Leader = endpoint;
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                }
            }

            await Task.Delay(50, cancellation);
        }

        throw new InvalidOperationException("no etcd leader found");
    }

    /// <summary>
    /// The silo load-tool client <paramref name="client"/> keeps to, as a ZooKeeper session or an
    /// application instance with one connection does: the read workloads use it (the same clients
    /// spread over every silo by turns measured 16,600-24,400 linearizable gets/s against 24,600-26,800).
    /// </summary>
    public Uri Endpoint(int client) => _endpoints[client % _endpoints.Length];

    public Uri AnyEndpoint() => _endpoints[(int)((uint)Interlocked.Increment(ref _next) % _endpoints.Length)];

    public async Task<JsonElement> SendAsync(HttpMethod method, string path, object? body = null, Uri? at = null, CancellationToken cancellation = default)
    {
        using var request = Request(method, new Uri(at ?? Leader, path));
        if (body is not null)
        {
            request.Content = Json(body);
        }

        using var response = await _http.SendAsync(request, cancellation);
        if (response.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout)
        {
            throw new HttpRequestException($"{(int)response.StatusCode} from {request.RequestUri}");
        }

        var text = await response.Content.ReadAsStringAsync(cancellation);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"{(int)response.StatusCode} {request.Method} {request.RequestUri}: {text}");
        }

        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Opens a streamed response (Server-Sent Events, etcd's watch) and returns it once its headers arrive; the caller disposes it.</summary>
    public async Task<HttpResponseMessage> OpenStreamAsync(HttpMethod method, string path, object? body, Uri at, CancellationToken cancellation)
    {
        // Not disposed here: the headers can arrive while the body is still being sent.
        var request = Request(method, new Uri(at, path));
        if (body is not null)
        {
            request.Content = Json(body);
        }

        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
        response.EnsureSuccessStatusCode();
        return response;
    }

    private HttpRequestMessage Request(HttpMethod method, Uri uri) =>
        new(method, uri) { Version = _version, VersionPolicy = HttpVersionPolicy.RequestVersionExact };

    /// <summary>
    /// Bytes the silos have allocated since they started, summed over every endpoint (their /metrics),
    /// or null when one does not say (another target, or a silo down).
    /// </summary>
    public async Task<long?> AllocatedBytesAsync()
    {
        long total = 0;
        foreach (var endpoint in _endpoints)
        {
            try
            {
                var metrics = await _http.GetStringAsync(new Uri(endpoint, "/metrics"));
                var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith("coordination_allocated_bytes ", StringComparison.Ordinal));
                if (line is null)
                {
                    return null;
                }

                total += (long)double.Parse(line[(line.IndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (HttpRequestException)
            {
                return null;
            }
        }

        return total;
    }

    /// <summary>
    /// A JSON body serialized up front: its length is known, so it goes out with Content-Length in the
    /// request's one write, not chunked as a streamed JsonContent would be (as the .NET client sends too).
    /// </summary>
    private static ByteArrayContent Json(object body) =>
        new(JsonSerializer.SerializeToUtf8Bytes(body, body.GetType())) { Headers = { ContentType = JsonMediaType } };

    public void Dispose() => _http.Dispose();
}
