using Coordination.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Coordination.Api.Endpoints;

internal static class SequenceEndpoints
{
    public static RouteGroupBuilder MapSequences(this RouteGroupBuilder group)
    {
        group.MapPost("/{name}/next", Next).Produces<SequenceReservedResponse>();
        group.MapGet("/{name}", Get).Produces<SequenceResponse>();
        return group;
    }

    private static Task<IResult> Next(HttpContext http, ICoordinationGateway gateway, string name, NextSequenceRequest? body)
    {
        if (!GatewayCalls.ValidName(name))
        {
            return Task.FromResult<IResult>(Problems.InvalidName(name));
        }

        var count = body?.Count is null or 0 ? 1 : body.Count;
        if (count is < 1 or > Limits.SequenceReserveCountMax)
        {
            return Task.FromResult<IResult>(Problems.Validation("count", $"count must be 1..{Limits.SequenceReserveCountMax}."));
        }

        return GatewayCalls.Execute(http, gateway, new ReserveSequence(name, count), r =>
        {
            var reserved = (SequenceReserved)r;
            return TypedResults.Ok(new SequenceReservedResponse(name, reserved.First, reserved.Count));
        });
    }

    private static Task<IResult> Get(HttpContext http, ICoordinationGateway gateway, string name, string? consistency) =>
        !GatewayCalls.ValidName(name) ? Task.FromResult<IResult>(Problems.InvalidName(name))
        : GatewayCalls.Read(http, gateway, consistency, sm => sm.GetSequence(name), last => TypedResults.Ok(new SequenceResponse(name, last)));
}
