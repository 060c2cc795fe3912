using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Coordination.Api;

/// <summary>
/// Any silo accepts any request: a write that reaches a follower is forwarded, whole, to the leader
/// and the leader's answer relayed. A forwarded request is marked so it is never forwarded twice
/// (a silo that lost leadership meanwhile answers 503 no-leader and the client retries). A request
/// that came over HTTP/2 goes on over HTTP/2 when the leader has an HTTP/2 port, so a follower's
/// multiplexed clients share its few connections to the leader instead of opening one per request
/// in flight. The relayed answer carries <c>Via</c> (RFC 9110 §7.6.3) with the protocol the leader
/// answered over.
/// </summary>
public sealed class LeaderForwardingMiddleware(RequestDelegate next, IHttpClientFactory clients, ILogger<LeaderForwardingMiddleware> logger)
{
    public const string ClientName = "coordination-forward";
    public const string ForwardedHeader = "X-Coordination-Forwarded";

    private static readonly string[] RelayedResponseHeaders = ["Location", "Retry-After"];

    public async Task InvokeAsync(HttpContext http, ICoordinationGateway gateway)
    {
        var request = http.Request;
        var mutating = HttpMethods.IsPost(request.Method) || HttpMethods.IsPut(request.Method) || HttpMethods.IsPatch(request.Method) || HttpMethods.IsDelete(request.Method);
        if (!mutating || !request.Path.StartsWithSegments("/v1") || request.Headers.ContainsKey(ForwardedHeader)
            || gateway.Leader(preferHttp2: HttpProtocol.IsHttp2(request.Protocol)) is not { } found)
        {
            await next(http);
            return;
        }

        var (leader, http2) = found;
        using var body = new MemoryStream();
        await request.Body.CopyToAsync(body, http.RequestAborted);
        using var forward = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(leader, request.Path + request.QueryString))
        {
            Content = new ByteArrayContent(body.ToArray()),
        };
        if (http2)
        {
            forward.Version = HttpVersion.Version20;
            forward.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        if (request.ContentType is { } contentType)
        {
            forward.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        foreach (var header in request.Headers.Where(h => h.Key.StartsWith("Idempotency", StringComparison.OrdinalIgnoreCase) || h.Key == "Accept"))
        {
            forward.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string?>)header.Value);
        }

        forward.Headers.TryAddWithoutValidation(ForwardedHeader, "1");
        HttpResponseMessage response;
        try
        {
            response = await clients.CreateClient(ClientName).SendAsync(forward, HttpCompletionOption.ResponseHeadersRead, http.RequestAborted);
        }
        catch (HttpRequestException e)
        {
            logger.LogWarning("Forwarding to the leader at {Leader} failed: {Reason}", leader, e.Message);
            http.Response.Headers.RetryAfter = "1";
            await Problems.Create(503, "no-leader", $"The leader at {leader} could not be reached.").ExecuteAsync(http);
            return;
        }

        using (response)
        {
            http.Response.StatusCode = (int)response.StatusCode;
            http.Response.Headers.Append("Via", $"{(response.Version.Minor == 0 ? response.Version.Major.ToString(CultureInfo.InvariantCulture) : response.Version.ToString(2))} coordination");
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
}
