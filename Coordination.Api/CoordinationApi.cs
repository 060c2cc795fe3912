using System.Text.Json.Serialization;
using Coordination.Api.Endpoints;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Api;

/// <summary>
/// The REST gateway (docs/api.md): route groups per grain kind under /v1. Each group is one place to
/// add an authorization policy later (<c>RequireAuthorization</c> on the group), and TLS is Kestrel
/// configuration, so neither needs the endpoints to change.
/// </summary>
public static class CoordinationApi
{
    /// <summary>Largest request body accepted.</summary>
    public const long RequestBodyBytesMax = 262_144;

    /// <summary>
    /// Config documents whose names start with this belong to the service (the silos' replicated
    /// address book): clients read them but never write them, or a stray write could send every
    /// silo's peer traffic elsewhere.
    /// </summary>
    public const string ReservedConfigPrefix = "coordination:";

    /// <summary>An oversized body up to this size is read and dropped to answer 413; a larger one closes the connection.</summary>
    public const long OversizedBodyDrainBytesMax = 4 * RequestBodyBytesMax;

    /// <summary>Registers what the gateway needs. The host must also register an <see cref="ICoordinationGateway"/>.</summary>
    public static IServiceCollection AddCoordinationApi(this IServiceCollection services)
    {
        services.AddProblemDetails();
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.NumberHandling = JsonNumberHandling.Strict;
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default);
        });
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddOpenApi();
        services.AddHttpClient(LeaderForwardingMiddleware.ClientName, c => c.Timeout = LeaderForwardingMiddleware.ForwardTimeout)
            .ConfigurePrimaryHttpMessageHandler(sp => new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                ConnectCallback = LeaderForwardingMiddleware.Connector(LeaderForwardingMiddleware.ConnectTimeout, sp.GetService<TimeProvider>() ?? TimeProvider.System),
            });
        return services;
    }

    /// <summary>Maps every endpoint and the error handling around them.</summary>
    public static WebApplication UseCoordinationApi(this WebApplication app)
    {
        app.UseExceptionHandler(error => error.Run(WriteProblemForException));
        app.Use(LimitBody);
        app.UseMiddleware<LeaderForwardingMiddleware>();
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapClusterEndpoints();
        var v1 = app.MapGroup("/v1");
        v1.AddEndpointFilter(DecodeEscapedRouteValues);
        v1.MapGroup("/sessions").MapSessions().WithTags("Sessions");
        v1.MapGroup("/locks").MapLocks().WithTags("Locks");
        v1.MapGroup("/elections").MapElections().WithTags("Elections");
        v1.MapGroup("/groups").MapGroups().WithTags("Membership");
        v1.MapGroup("/config").MapConfig().WithTags("Config");
        v1.MapGroup("/sequences").MapSequences().WithTags("Sequences");
        v1.MapGroup("/events").MapEvents().WithTags("Events");
        v1.MapGroup("/transactions").MapTransactions().WithTags("Transactions");
        v1.MapGroup("/distributed-transactions").MapDistributedTransactions().WithTags("Distributed transactions");
        return app;
    }

    /// <summary>Watch requests (long-polls and streams) being served now.</summary>
    public static int Watchers => EventEndpoints.Watchers;

    /// <summary>
    /// Names may contain '/', which a client escapes as %2F inside one path segment; ASP.NET leaves
    /// %2F undecoded in route values. Valid names never contain '%', so unescaping every string
    /// argument that contains one is safe (query values arrive decoded already).
    /// </summary>
    private static ValueTask<object?> DecodeEscapedRouteValues(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        for (var i = 0; i < context.Arguments.Count; i++)
        {
            if (context.Arguments[i] is string value && value.Contains('%', StringComparison.Ordinal))
            {
                context.Arguments[i] = Uri.UnescapeDataString(value);
            }
        }

        return next(context);
    }

    private static async Task LimitBody(HttpContext http, Func<Task> next)
    {
        if (http.Request.ContentLength > RequestBodyBytesMax)
        {
            if (http.Request.ContentLength > OversizedBodyDrainBytesMax)
            {
                // Too large even to read and drop: cut the connection.
                http.Abort();
                return;
            }

            // Read and drop the body so the client, still sending, can read the answer.
            await http.Request.Body.CopyToAsync(Stream.Null, http.RequestAborted);
            await Problems.Create(413, "body-too-large", $"The body has {http.Request.ContentLength} bytes; at most {RequestBodyBytesMax} are accepted.").ExecuteAsync(http);
            return;
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = RequestBodyBytesMax;
        }

        await next();
    }

    /// <summary>The parameter named by ASP.NET's binding failure ("Failed to bind parameter \"ulong after\" from ..."): "after".</summary>
    private static string BoundParameter(string message)
    {
        var open = message.IndexOf('"', StringComparison.Ordinal);
        var close = open < 0 ? -1 : message.IndexOf('"', open + 1);
        return close < 0 ? "query" : message[(open + 1)..close].Split(' ')[^1];
    }

    private static async Task WriteProblemForException(HttpContext http)
    {
        var error = http.Features.Get<IExceptionHandlerFeature>()?.Error;
        IResult problem = error switch
        {
            BadHttpRequestException { StatusCode: 413 } => Problems.Create(413, "body-too-large", $"At most {RequestBodyBytesMax} bytes are accepted."),
            // A query or route value that does not parse (after=-1) is not a JSON problem.
            BadHttpRequestException bad when bad.InnerException is not System.Text.Json.JsonException && bad.Message.StartsWith("Failed to bind parameter", StringComparison.Ordinal)
                => Problems.Validation(BoundParameter(bad.Message), bad.Message),
            BadHttpRequestException bad => Problems.Create(400, "malformed-json", bad.InnerException?.Message ?? bad.Message),
            NoLeaderException noLeader => Problems.Create(503, "no-leader", noLeader.Message),
            OverloadedException overloaded => Problems.Create(503, "overloaded", overloaded.Message),
            CommitTimeoutException timeout => Problems.Create(504, "timeout", timeout.Message),
            _ => Problems.Create(500, "internal", "An unexpected error; the silo logged it."),
        };
        if (error is NoLeaderException or OverloadedException)
        {
            http.Response.Headers.RetryAfter = "1";
        }

        await problem.ExecuteAsync(http);
    }
}
