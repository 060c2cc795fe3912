using Coordination.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Coordination.Api.Endpoints;

internal static class GroupEndpoints
{
    public static RouteGroupBuilder MapGroups(this RouteGroupBuilder group)
    {
        group.MapPut("/{group}/members/{memberId}", Join).Produces<MemberResponse>();
        group.MapPost("/{group}/members", JoinGenerated).Produces<MemberResponse>(StatusCodes.Status201Created);
        group.MapPatch("/{group}/members/{memberId}", Update).Produces<MemberResponse>();
        group.MapDelete("/{group}/members/{memberId}", Leave).Produces<MemberResponse>();
        group.MapGet("/{group}/members", List).Produces<GroupResponse>();
        return group;
    }

    private static Task<IResult> Join(HttpContext http, ICoordinationGateway gateway, string group, string memberId, JoinRequest body) =>
        Invalid(group, memberId) ?? GatewayCalls.Execute(http, gateway, new JoinGroup(group, body.SessionId, memberId, GatewayCalls.JsonBytes(body.Metadata) ?? []),
            r => TypedResults.Ok(new MemberResponse(group, ((MemberJoined)r).MemberId)));

    private static Task<IResult> JoinGenerated(HttpContext http, ICoordinationGateway gateway, string group, JoinRequest body) =>
        Invalid(group, null) ?? GatewayCalls.Execute(http, gateway, new JoinGroup(group, body.SessionId, "", GatewayCalls.JsonBytes(body.Metadata) ?? []), r =>
        {
            var joined = (MemberJoined)r;
            return TypedResults.Created($"/v1/groups/{group}/members/{joined.MemberId}", new MemberResponse(group, joined.MemberId));
        });

    private static Task<IResult> Update(HttpContext http, ICoordinationGateway gateway, string group, string memberId, UpdateMemberRequest body) =>
        Invalid(group, memberId) ?? GatewayCalls.Execute(http, gateway, new UpdateMember(group, memberId, GatewayCalls.JsonBytes(body.Metadata) ?? []),
            _ => TypedResults.Ok(new MemberResponse(group, memberId)));

    private static Task<IResult> Leave(HttpContext http, ICoordinationGateway gateway, string group, string memberId) =>
        Invalid(group, memberId) ?? GatewayCalls.Execute(http, gateway, new LeaveGroup(group, memberId), _ => TypedResults.Ok(new MemberResponse(group, memberId)));

    private static Task<IResult> List(HttpContext http, ICoordinationGateway gateway, string group, string? consistency) =>
        Invalid(group, null) ?? GatewayCalls.Read(http, gateway, consistency, sm => sm.ListMembers(group), members => TypedResults.Ok(new GroupResponse(
            group,
            [.. members.Select(m => new MemberDto(m.MemberId, m.SessionId, GatewayCalls.JsonValue(m.Metadata), m.JoinedRevision, m.UpdatedRevision))])));

    private static Task<IResult>? Invalid(string group, string? memberId) =>
        !GatewayCalls.ValidName(group) ? Task.FromResult<IResult>(Problems.InvalidName(group))
        : memberId is not null && !GatewayCalls.ValidName(memberId) ? Task.FromResult<IResult>(Problems.InvalidName(memberId))
        : null;
}
