using Coordination.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Coordination.Api.Endpoints;

internal static class SessionEndpoints
{
    public static RouteGroupBuilder MapSessions(this RouteGroupBuilder group)
    {
        group.MapPost("/", Create).Produces<SessionResponse>(StatusCodes.Status201Created);
        group.MapPost("/{id}/keepalive", KeepAlive).Produces<SessionKeepAliveResponse>();
        group.MapDelete("/{id}", Revoke).Produces<SessionIdResponse>();
        group.MapGet("/{id}", Get).Produces<SessionInfoResponse>();
        group.MapGet("/", List).Produces<SessionListResponse>();
        return group;
    }

    private static Task<IResult> Create(HttpContext http, ICoordinationGateway gateway, CreateSessionRequest body)
    {
        if (body.TtlMs is < Limits.SessionTtlMsMin or > Limits.SessionTtlMsMax)
        {
            return Task.FromResult<IResult>(Problems.Validation("ttlMs", $"ttlMs must be {Limits.SessionTtlMsMin}..{Limits.SessionTtlMsMax}."));
        }

        return GatewayCalls.Execute(http, gateway, new CreateSession(body.TtlMs), r =>
        {
            var created = (SessionCreated)r;
            return TypedResults.Created($"/v1/sessions/{created.SessionId}", new SessionResponse(created.SessionId, created.TtlMs, created.DeadlineMs));
        });
    }

    /// <summary>
    /// Renews a session. The silo may answer from the committed deadline without a log write when the
    /// session was renewed recently (see the gateway's keep-alive coalescing).
    /// </summary>
    private static Task<IResult> KeepAlive(HttpContext http, ICoordinationGateway gateway, ulong id) =>
        GatewayCalls.Execute(http, gateway, new RenewSession(id), r => TypedResults.Ok(new SessionKeepAliveResponse(id, ((SessionRenewed)r).DeadlineMs)));

    private static Task<IResult> Revoke(HttpContext http, ICoordinationGateway gateway, ulong id) =>
        GatewayCalls.Execute(http, gateway, new RevokeSession(id), _ => TypedResults.Ok(new SessionIdResponse(id)));

    private static Task<IResult> Get(HttpContext http, ICoordinationGateway gateway, ulong id, string? consistency) =>
        GatewayCalls.Read(http, gateway, consistency, sm => sm.GetSession(id), info => info is null
            ? Problems.Create(404, "session-not-found", $"Session {id} does not exist.")
            : TypedResults.Ok(ToDto(info)));

    private static Task<IResult> List(HttpContext http, ICoordinationGateway gateway, ulong? after, int? limit, string? consistency)
    {
        var max = limit ?? 100;
        if (max is < 1 or > Limits.SessionsPerPageMax)
        {
            return Task.FromResult<IResult>(Problems.Validation("limit", $"limit must be 1..{Limits.SessionsPerPageMax}."));
        }

        return GatewayCalls.Read(http, gateway, consistency, sm => sm.ListSessions(after ?? 0, max), sessions => TypedResults.Ok(new SessionListResponse([.. sessions.Select(ToDto)])));
    }

    private static SessionInfoResponse ToDto(SessionInfo info) =>
        new(info.SessionId, info.TtlMs, info.CreatedMs, info.DeadlineMs, [.. info.Attachments.Select(a => new AttachmentDto(WireNames.Of(a.Kind), a.Name))]);
}
