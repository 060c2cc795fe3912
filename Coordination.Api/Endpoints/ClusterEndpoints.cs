using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Coordination.Api.Endpoints;

internal static class ClusterEndpoints
{
    public static IEndpointRouteBuilder MapClusterEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => TypedResults.Ok(new { status = "alive" })).WithTags("Operations");
        app.MapGet("/readyz", (ICoordinationGateway gateway) =>
        {
            var cluster = gateway.Cluster();
            return cluster.Ready
                ? Results.Ok(new { status = "ready", leader = cluster.Leader, appliedIndex = cluster.AppliedIndex })
                : Problems.Create(503, "no-leader", "No leader is known, or this silo has not applied what it knows is committed.");
        }).WithTags("Operations");
        app.MapGet("/v1/cluster", (ICoordinationGateway gateway) => TypedResults.Ok(gateway.Cluster())).WithTags("Operations");
        return app;
    }
}
