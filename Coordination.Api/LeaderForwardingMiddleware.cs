using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Coordination.Api;

/// <summary>
/// Any silo accepts any request: a write that reaches a follower is forwarded, whole, to the leader
/// and the leader's answer relayed. A forwarded request is marked so it is never forwarded twice
/// (a silo that lost leadership meanwhile answers 503 no-leader and the client retries). A request
/// that came over HTTP/2 goes on over HTTP/2 (negotiated on a TLS client URL, else to the leader's
/// cleartext HTTP/2 port, falling back to its client URL when nothing listens there), so a
/// follower's multiplexed clients share its few connections to the leader instead of opening one
/// per request in flight. Both the forwarded request and the relayed answer carry <c>Via</c>
/// (RFC 9110 §7.6.3): the protocol the client used, and the one the leader answered over.
/// A forward that fails before anything was sent (no connection) answers 503 no-leader, which clients
/// retry; one that fails once the request may have gone out answers 504 timeout (outcome unknown),
/// like a commit that was not confirmed, so a write without an idempotency key is not sent twice blindly.
/// </summary>
public sealed class LeaderForwardingMiddleware(RequestDelegate next, IHttpClientFactory clients, ILogger<LeaderForwardingMiddleware> logger)
{
    public const string ClientName = "coordination-forward";
    public const string ForwardedHeader = "X-Coordination-Forwarded";

    /// <summary>A connect to the leader that takes longer (packets dropped, not refused) ends in 503 no-leader.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The longest a forwarded request may take: the longest wait a write may ask for (a blocking lock
    /// acquire, <c>LockWaitMsMax</c>) and a minute of grace. Shorter, a long acquire sent to a follower
    /// was cut off (504) and its wait abandoned by the leader; a caller that gives up sooner cancels the
    /// forward itself.
    /// </summary>
    public static readonly TimeSpan ForwardTimeout = TimeSpan.FromMilliseconds(Coordination.Grains.Limits.LockWaitMsMax) + TimeSpan.FromSeconds(65);

    /// <summary>
    /// The forwarding client's <see cref="SocketsHttpHandler.ConnectCallback"/>: <paramref name="connect"/> (a TCP
    /// connect, like the handler's own, by default) that fails with <see cref="TimeoutException"/> after
    /// <paramref name="timeout"/>. The handler reports a failed callback as <see cref="HttpRequestError.ConnectionError"/>,
    /// so a connect that hangs reads as "nothing sent"; its own ConnectTimeout would surface as a cancellation,
    /// which looks the same as a request that timed out after it went out.
    /// </summary>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> Connector(
        TimeSpan timeout, TimeProvider time, Func<DnsEndPoint, CancellationToken, ValueTask<Stream>>? connect = null)
    {
        connect ??= ConnectTcpAsync;
        return async (context, cancellation) =>
        {
            using var timer = new CancellationTokenSource(timeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellation, timer.Token);
            try
            {
                return await connect(context.DnsEndPoint, linked.Token);
            }
            catch (OperationCanceledException) when (timer.IsCancellationRequested && !cancellation.IsCancellationRequested)
            {
                throw new TimeoutException($"No connection to {context.DnsEndPoint.Host}:{context.DnsEndPoint.Port} within {timeout.TotalSeconds} s.");
            }
        };
    }

    private static readonly string[] RelayedResponseHeaders = ["Location", "Retry-After"];

    public async Task InvokeAsync(HttpContext http, ICoordinationGateway gateway)
    {
        var request = http.Request;
        var mutating = HttpMethods.IsPost(request.Method) || HttpMethods.IsPut(request.Method) || HttpMethods.IsPatch(request.Method) || HttpMethods.IsDelete(request.Method);
        if (!mutating || !request.Path.StartsWithSegments("/v1") || request.Headers.ContainsKey(ForwardedHeader)
            || gateway.Leader is not { } leader)
        {
            await next(http);
            return;
        }

        // A client that multiplexes keeps doing so up to the leader: over TLS HTTP/2 is negotiated on
        // the client URL itself; without TLS it needs the leader's HTTP/2 port.
        var http2 = HttpProtocol.IsHttp2(request.Protocol);
        var overTls = leader.ClientUrl.Scheme == Uri.UriSchemeHttps;
        var (target, version, policy) = http2 && overTls ? (leader.ClientUrl, HttpVersion.Version20, HttpVersionPolicy.RequestVersionOrLower)
            : http2 && leader.Http2Url is { } http2Url ? (http2Url, HttpVersion.Version20, HttpVersionPolicy.RequestVersionExact)
            : (leader.ClientUrl, HttpVersion.Version11, HttpVersionPolicy.RequestVersionOrLower);
        using var body = new MemoryStream();
        await request.Body.CopyToAsync(body, http.RequestAborted);
        var client = clients.CreateClient(ClientName);
        var content = body.ToArray();
        using var forward = Forward(http, content, target, version, policy);
        using var fallback = target != leader.ClientUrl ? Forward(http, content, leader.ClientUrl, HttpVersion.Version11, HttpVersionPolicy.RequestVersionOrLower) : null;
        HttpResponseMessage response;
        try
        {
            try
            {
                response = await client.SendAsync(forward, HttpCompletionOption.ResponseHeadersRead, http.RequestAborted);
            }
            catch (HttpRequestException e) when (fallback is not null && NothingSent(e))
            {
                // No connection, so nothing was sent: the leader may not listen on its HTTP/2 port yet
                // (a rolling upgrade that adds it). Its client URL always serves.
                target = leader.ClientUrl;
                response = await client.SendAsync(fallback, HttpCompletionOption.ResponseHeadersRead, http.RequestAborted);
            }
        }
        catch (HttpRequestException e) when (NothingSent(e))
        {
            // Unreachable (refused, no route, a connect that hangs): as good as no leader, and safe to retry.
            logger.LogWarning("Forwarding to the leader at {Leader} failed: {Reason}", target, e.Message);
            http.Response.Headers.RetryAfter = "1";
            await Problems.Create(503, "no-leader", $"The leader at {target} could not be reached.").ExecuteAsync(http);
            return;
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !http.RequestAborted.IsCancellationRequested))
        {
            // Connected, then reset or timed out: the leader may have applied the write, so "no leader,
            // retry" would invite a second copy of a write without an idempotency key.
            logger.LogWarning("Forwarding to the leader at {Leader} failed after connecting: {Reason}", target, e.Message);
            await Problems.Create(504, "timeout", $"The leader at {target} did not answer; the write may have been applied (retry with the same Idempotency-Key).").ExecuteAsync(http);
            return;
        }

        using (response)
        {
            http.Response.StatusCode = (int)response.StatusCode;
            http.Response.Headers.Append("Via", $"{ViaVersion(response.Version)} coordination");
            foreach (var header in response.Headers.Concat(response.Content.Headers))
            {
                if (header.Key.StartsWith("X-Coordination-", StringComparison.OrdinalIgnoreCase) || RelayedResponseHeaders.Contains(header.Key) || header.Key == "Content-Type")
                {
                    http.Response.Headers[header.Key] = header.Value.ToArray();
                }
            }

            await response.Content.CopyToAsync(http.Response.Body, http.RequestAborted);
        }
    }

    /// <summary>No connection was made (name resolution, refused, a connect that timed out, a failed TLS handshake), so the leader saw nothing.</summary>
    private static bool NothingSent(HttpRequestException e) =>
        e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError;

    private static async ValueTask<Stream> ConnectTcpAsync(DnsEndPoint endPoint, CancellationToken cancellation)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellation);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The request to the leader: the client's method, path, query, body, content type, idempotency
    /// and accept headers, marked as forwarded, with Via naming the protocol the client used.
    /// </summary>
    private static HttpRequestMessage Forward(HttpContext http, byte[] body, Uri leader, Version version, HttpVersionPolicy policy)
    {
        var request = http.Request;
        var forward = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(leader, request.Path + request.QueryString))
        {
            Content = new ByteArrayContent(body),
            Version = version,
            VersionPolicy = policy,
        };
        if (request.ContentType is { } contentType)
        {
            forward.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        foreach (var header in request.Headers.Where(h => h.Key.StartsWith("Idempotency", StringComparison.OrdinalIgnoreCase) || h.Key == "Accept"))
        {
            forward.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string?>)header.Value);
        }

        forward.Headers.TryAddWithoutValidation(ForwardedHeader, "1");
        // Via lists every hop: what came in, then this one.
        forward.Headers.TryAddWithoutValidation("Via", [.. request.Headers.Via.Where(v => !string.IsNullOrEmpty(v)).Select(v => v!), $"{(request.Protocol.StartsWith("HTTP/", StringComparison.Ordinal) ? request.Protocol[5..] : request.Protocol)} coordination"]);
        return forward;
    }

    /// <summary>A Via protocol version (RFC 9110 §7.6.3): "1.1", but "2" and "3" alone.</summary>
    private static string ViaVersion(Version version) =>
        version.Major >= 2 ? version.Major.ToString(CultureInfo.InvariantCulture) : version.ToString(2);
}
