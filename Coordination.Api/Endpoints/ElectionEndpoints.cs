using Coordination.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Coordination.Api.Endpoints;

internal static class ElectionEndpoints
{
    public static RouteGroupBuilder MapElections(this RouteGroupBuilder group)
    {
        group.MapPost("/{name}/campaign", Campaign).Produces<CampaignResponse>();
        group.MapPost("/{name}/proclaim", Proclaim).Produces<ProclaimResponse>();
        group.MapPost("/{name}/resign", Resign).Produces<ResignResponse>();
        group.MapGet("/{name}", Get).Produces<ElectionResponse>();
        return group;
    }

    private static Task<IResult> Campaign(HttpContext http, ICoordinationGateway gateway, string name, CampaignRequest body) =>
        !GatewayCalls.ValidName(name) ? Task.FromResult<IResult>(Problems.InvalidName(name))
        : GatewayCalls.Execute(http, gateway, new Campaign(name, body.SessionId, GatewayCalls.JsonBytes(body.Value) ?? []), r => r switch
        {
            LeaderElected elected => TypedResults.Ok(new CampaignResponse(name, true, elected.Token, null)),
            CandidateQueued queued => TypedResults.Ok(new CampaignResponse(name, false, null, queued.Position)),
            _ => throw new InvalidOperationException($"unexpected campaign result {r}"),
        });

    private static Task<IResult> Proclaim(HttpContext http, ICoordinationGateway gateway, string name, ProclaimRequest body) =>
        !GatewayCalls.ValidName(name) ? Task.FromResult<IResult>(Problems.InvalidName(name))
        : GatewayCalls.Execute(http, gateway, new Proclaim(name, body.Token, GatewayCalls.JsonBytes(body.Value) ?? []), r => TypedResults.Ok(new ProclaimResponse(name, ((LeaderProclaimed)r).Token)));

    private static Task<IResult> Resign(HttpContext http, ICoordinationGateway gateway, string name, ResignRequest body) =>
        !GatewayCalls.ValidName(name) ? Task.FromResult<IResult>(Problems.InvalidName(name))
        : GatewayCalls.Execute(http, gateway, new Resign(name, body.SessionId), r => TypedResults.Ok(new ResignResponse(name, ((CandidacyWithdrawn)r).WasLeader)));

    private static Task<IResult> Get(HttpContext http, ICoordinationGateway gateway, string name, string? consistency) =>
        !GatewayCalls.ValidName(name) ? Task.FromResult<IResult>(Problems.InvalidName(name))
        : GatewayCalls.Read(http, gateway, consistency, sm => sm.GetElection(name), info => TypedResults.Ok(new ElectionResponse(
            info.Name,
            info.Leader is { } leader ? ToDto(leader) : null,
            info.LeaderToken,
            info.LeaderSinceMs,
            [.. info.Candidates.Select(ToDto)])));

    private static CandidateDto ToDto(Candidate c) => new(c.SessionId, GatewayCalls.JsonValue(c.Value), c.JoinedMs);
}
